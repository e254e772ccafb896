"""Logs Insights queries an operator would otherwise retype during an incident.

Saved per stack by `Monitoring` over every function's log group; plain strings, tested as such.
"""

from __future__ import annotations

_FIND_SEND_PLACEHOLDER = "RECIPIENT_HASH"


def find_send_query() -> str:
    """Every line that names one recipient hash, newest first.

    A substring match on the raw line finds the hash at any position of `recipient_hashes`;
    indexing the array (`recipient_hashes.0`, `.1`, ...) would miss recipients past the indexes
    written out. The hashes are 32 hex characters, so a false match is not a practical concern.
    """
    return "\n".join((
        f"# Replace {_FIND_SEND_PLACEHOLDER} with the hash from `python -m handlers.log ADDRESS`.",
        "fields @timestamp, event, lane, template, error_code, ses_message_id, sqs_message_id, event_id, "
        "request_id, @log",
        f'| filter @message like "{_FIND_SEND_PLACEHOLDER}"',
        "| sort @timestamp desc",
        "| limit 1000",
    ))


FAILURES_BY_ERROR_CODE_QUERY = "\n".join((
    "# Everything the handlers logged with an error code (rejections, failures, deferrals, pauses).",
    "filter ispresent(error_code)",
    "| stats count(*) as occurrences by error_code, lane, event",
    "| sort occurrences desc",
))


#: The fields of a lane's `email_sent` line the pacing query reads (`handlers.sending.ses` writes them).
PACING_FIELDS = ("lane", "slot_late_ms", "rebookings", "ses_ms")

PACING_QUERY = "\n".join((
    "# How each lane keeps to the send schedule, per 5 minutes (docs/pacing.md): how late its requests",
    "# left against their slots, how many needed a new slot, and how long SES took to answer.",
    'filter event = "email_sent"',
    "| stats count(*) as sent, pct(slot_late_ms, 50) as late_p50_ms, pct(slot_late_ms, 99) as late_p99_ms,"
    " max(slot_late_ms) as late_max_ms, sum(rebookings) as rebooked, pct(ses_ms, 99) as ses_p99_ms"
    " by lane, bin(5m)",
))
