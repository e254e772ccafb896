"""The stack's keyed hashes: how an address or an idempotency key appears wherever it may not appear in clear.

Both are HMAC-SHA256 under the stack's own secret key (`EMAIL_RECIPIENT_HASH_KEY`), so they are
stable across processes and deploys (an operator finds every log line about one address by its
hash, `email-pipeline hash ADDRESS`) but cannot be reversed by hashing a list of guessed addresses
without the key. Python's built-in `hash()` is salted per process and useless for that search.
"""

from __future__ import annotations

import hashlib
import hmac

#: 128 bits: collision-free for any realistic recipient population, or a stack's idempotency keys.
_HEX_CHARS = 32


def recipient_hash(address: str, key: bytes) -> str:
    """Keyed, stable, one-way fingerprint of an address (case-insensitive, as mailboxes are)."""
    return hmac.new(key, address.strip().lower().encode(), hashlib.sha256).hexdigest()[:_HEX_CHARS]


def key_hash(idempotency_key: str, key: bytes) -> str:
    """Keyed, stable hash of an idempotency key (case-sensitive: keys are the producer's own strings)."""
    return hmac.new(key, idempotency_key.encode(), hashlib.sha256).hexdigest()[:_HEX_CHARS]
