"""Structured logging for every handler: one JSON line per outcome, with no personal data.

Recipients appear in logs only as a keyed hash and a domain. The hash is HMAC-SHA256 under a
per-stack key, so it is stable across processes and deploys (an operator can find every send to
one address with `python -m handlers.log ADDRESS`) but cannot be reversed by hashing a list of
guessed addresses without the key. Python's built-in `hash()` would be salted per process and
useless for that search.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import structlog

from .shared.hashing import recipient_hash

# Event names live in a dependency-free module so the Pulumi program can import them too.
from .shared.log_events import (  # noqa: E402  (re-exported: handlers log with log.EMAIL_SENT etc.)
    ACCOUNT_LIMITS_UNAVAILABLE,
    DEAD_LETTER_FORWARD_FAILED,
    EMAIL_DEFERRED,
    EMAIL_DUPLICATE_SKIPPED,
    EMAIL_OUTCOME_UNKNOWN,
    EMAIL_REJECTED,
    EMAIL_SEND_FAILED,
    EMAIL_SENT,
    EMAIL_STATUS,
    EMAIL_STATUS_SKIPPED,
    EMAIL_STATUS_UNATTRIBUTED,
    IDEMPOTENCY_CLAIM_NOT_RELEASED,
    IDEMPOTENCY_RECORD_NOT_SAVED,
    RECEIVES_EXHAUSTED,
    RECORD_FAILED,
    REPORT_SENT,
    SES_DAILY_QUOTA_EXHAUSTED,
    SES_HEADERS_UNSUPPORTED,
    SES_SENDING_NOT_AUTHORIZED,
    SES_SENDING_PAUSED,
    SEND_SCHEDULE_UNAVAILABLE,
    SES_EVENT_REJECTED,
    STATUS_NOT_PUBLISHED,
    STATUS_RECORD_NOT_SAVED,
    STATUS_RECORD_UNAVAILABLE,
    VISIBILITY_CHANGE_FAILED,
)



def configure(level: int = logging.INFO) -> None:
    """Render every log call as one JSON line on stdout, where Lambda ships it to CloudWatch.

    Loggers are not cached on first use, so `structlog.testing.capture_logs()` sees every line.
    """
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(),  # sys.stdout at call time
        cache_logger_on_first_use=False,
    )


def get_logger() -> Any:
    """Return the shared structlog logger."""
    return structlog.get_logger("email")


def bind(**fields: Any) -> None:
    """Add fields to every later line of the current context (a record's work runs in a context of its own)."""
    structlog.contextvars.bind_contextvars(**fields)


def recipient_fields(addresses: Iterable[str], key: bytes) -> dict[str, Any]:
    """The only form in which recipients may appear in a log line."""
    unique = sorted({address.strip().lower() for address in addresses})
    return {
        "recipient_count": len(unique),
        "recipient_hashes": [recipient_hash(address, key) for address in unique],
        "recipient_domains": sorted({address.rpartition("@")[2] for address in unique}),
    }


def _print_hash_for_operator(argv: list[str]) -> int:
    """`python -m handlers.log ADDRESS...`: print the hashes to search the logs for."""
    import os

    from .shared.settings import Env

    key = os.environ.get(Env.RECIPIENT_HASH_KEY, "")
    if not key or not argv:
        print(f"usage: {Env.RECIPIENT_HASH_KEY}=<stack key> python -m handlers.log ADDRESS...")
        return 2
    for address in argv:
        print(recipient_hash(address, key.encode()))
    return 0


if __name__ == "__main__":
    raise SystemExit(_print_hash_for_operator(sys.argv[1:]))
