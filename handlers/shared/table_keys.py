"""The stack's state table: what it holds, and the key of each kind of item.

One DynamoDB table per stack (logical name `<stack>-idempotency`, after its first role) holds four
kinds of item, each under its own partition key (`id`), so one table, one TTL attribute
(`expiration`) and one set of permissions serve them all, and a role's `dynamodb:LeadingKeys`
condition can grant one kind alone:

| item | key | written by | read by |
|---|---|---|---|
| a send claim, per lane and idempotency key | `<stack>.<lane>#<sha256(key)>` | `OnceOnly` | `OnceOnly`, `trace` |
| a batch's record of what it sent | `<stack>.<lane>#batch#<random>` | `OnceOnly.batch` | `OnceOnly`, `trace` |
| the send schedule | `<stack>#send-schedule` | `SendSchedule` | `SendSchedule` |
| a message's status record | `<stack>#status#<SES message id>` | the status handler | `trace`, the status handler |

The handlers write the keys, the operator tool reads them back and the Pulumi program writes the
status role's condition: all from here.
"""

from __future__ import annotations

import hashlib
import os

#: Hex digits of a key's hash in a batch record: unique among a batch's ten keys with any odds,
#: and short enough that ten of them with SES message ids stay within one 1 KB write unit.
_RECORD_KEY_CHARS = 16


def claim_prefix(stack: str, lane: str) -> str:
    """Where a lane's claims (and batch records) live: `<stack>.<lane>` (the report's lane is `report`)."""
    return f"{stack}.{lane}"


def claim_id(prefix: str, idempotency_key: str) -> str:
    """A send claim's key: the idempotency key hashed, so a key that embeds an address is never stored in clear."""
    return f"{prefix}#{hashlib.sha256(idempotency_key.encode()).hexdigest()}"


def new_batch_record_id(prefix: str) -> str:
    """A fresh key for one batch's record of what it sent."""
    return f"{prefix}#batch#{os.urandom(8).hex()}"


def record_key(claim: str) -> str:
    """A claim's entry in its batch's record: the start of its key's hash."""
    return claim.rpartition("#")[2][:_RECORD_KEY_CHARS]


def schedule_id(stack: str) -> str:
    """The stack's send schedule (`handlers.scheduling.schedule`)."""
    return f"{stack}#send-schedule"


def status_record_id(stack: str, ses_message_id: str) -> str:
    """A message's status record (`handlers.delivery_status.status_record`)."""
    return f"{stack}#status#{ses_message_id}"
