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
