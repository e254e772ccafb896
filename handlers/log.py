"""Structured logging for every handler: one JSON line per outcome, with no personal data.

Each line is one JSON object with sorted keys: the event's name (`event`), `level`, an ISO UTC
`timestamp`, whatever the record's work bound to its context (`bind`: lane, SQS message id,
request id, event id, ...) and the call's own fields. It is written with the standard library's
`logging` (a logger of our own, a handler that prints to `sys.stdout` at call time, where Lambda
ships it to CloudWatch, and a JSON formatter); botocore imports `logging` anyway, so it costs a
function's cold start nothing. structlog, which rendered exactly these lines before, cost 60-100 ms
of every cold start to import (its package imports its console renderer, its stdlib integration
and asyncio), more than the whole 10% the budget allows over `import boto3; boto3.client("sesv2")`
(bench/README.md), for the four functions a little wrapper does the same job.

Recipients appear in logs only as a keyed hash and a domain. The hash is HMAC-SHA256 under a
per-stack key, so it is stable across processes and deploys (an operator can find every send to
one address with `python -m handlers.log ADDRESS`) but cannot be reversed by hashing a list of
guessed addresses without the key. Python's built-in `hash()` would be salted per process and
useless for that search.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

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



#: The stdlib logger every handler line goes through (not propagated: Lambda's runtime puts a handler
#: of its own on the root logger).
_LOGGER = logging.getLogger("ses_email_pipeline.handlers")
_LOGGER.propagate = False
#: The fields bound to the current context (a record's work runs in a `contextvars.Context` of its own).
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("email_log_context", default={})
#: The attribute of a `logging.LogRecord` that carries the line's fields.
_FIELDS = "email_fields"


class JsonLines(logging.Formatter):
    """A record as one JSON object: its fields, `level` and an ISO UTC `timestamp`, keys sorted."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(line_fields(record), sort_keys=True, default=repr)


def line_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What a record's line holds: its fields, then its level and timestamp."""
    timestamp = dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return {**getattr(record, _FIELDS, {"event": record.getMessage()}), "level": record.levelname.lower(),
            "timestamp": timestamp}


class _Stdout(logging.Handler):
    """Writes each line to `sys.stdout` as it is when the line is logged (the local system redirects it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging must never fail the handler: the stdlib's own rule
            self.handleError(record)


def configure(level: int = logging.INFO, handler: logging.Handler | None = None) -> None:
    """Render every log call at `level` or above as one JSON line on stdout (or through `handler`)."""
    handler = handler or _Stdout()
    if handler.formatter is None:
        handler.setFormatter(JsonLines())
    for old in list(_LOGGER.handlers):
        _LOGGER.removeHandler(old)
    _LOGGER.addHandler(handler)
    _LOGGER.setLevel(level)


def is_configured() -> bool:
    """Whether `configure` ran in this process (an entry module leaves a process's own setup alone)."""
    return bool(_LOGGER.handlers)


class Logger:
    """`info`, `warning`, `error`: one line with the event's name, the fields given and the context bound."""

    def _log(self, level: int, event: str, fields: Mapping[str, Any]) -> None:
        if _LOGGER.isEnabledFor(level):
            _LOGGER.log(level, event, extra={_FIELDS: {**_CONTEXT.get(), **fields, "event": event}})

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)


_SHARED = Logger()


def get_logger() -> Logger:
    """Return the shared logger."""
    return _SHARED


def bind(**fields: Any) -> None:
    """Add fields to every later line of the current context (a record's work runs in a context of its own)."""
    _CONTEXT.set({**_CONTEXT.get(), **fields})


def clear() -> None:
    """Forget every field bound in the current context."""
    _CONTEXT.set({})


def bound() -> dict[str, Any]:
    """The fields bound in the current context."""
    return dict(_CONTEXT.get())


class _Captured(logging.Handler):
    def __init__(self, lines: list[dict[str, Any]]) -> None:
        super().__init__(logging.DEBUG)
        self._lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        fields = line_fields(record)
        self._lines.append({**fields, "log_level": fields["level"]})


@contextlib.contextmanager
def capture() -> Iterator[list[dict[str, Any]]]:
    """Every line logged inside the block, as dicts (`log_level` as well as `level`), at every level: for tests."""
    lines: list[dict[str, Any]] = []
    handler, level = _Captured(lines), _LOGGER.level
    _LOGGER.addHandler(handler)
    _LOGGER.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        _LOGGER.removeHandler(handler)
        _LOGGER.setLevel(level)


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
