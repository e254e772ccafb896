"""`email-pipeline trace --recipient ADDRESS`: what the stack sent to one address, and what became of each email.

Support's question starts from an address ("did the reset to this customer go out?"), and the
logs never hold one: each send's log line names its recipients by a keyed hash
(`recipient_hashes` in `email_sent`, and in `email_rejected`/`email_send_failed` when SES refused
or failed the send; `handlers.log.recipient_fields`). So the tool hashes the address with the
stack's key and asks CloudWatch Logs Insights for the lines that carry it, in the log groups of
the functions that send (the stack's `logGroupNames` output), over the last `--days`; for each
email sent, the message's status record says what SES said of this recipient since.

Why a query over what the stack already stores rather than an index of its own: nothing is added
to the send path (no write per email, no table change), and a query costs only what it scans
(Logs Insights, $0.005 per GB: about 434 bytes of log per email, so $0.0022 per million emails
in the window searched). The price is reach and speed: it sees what the log groups keep
(`logRetentionDays`), and a query takes seconds. README "Operations" weighs both and gives the
operator's policy for it.

moto's Logs Insights ignores `filter` (moto 5.2, `logs_query/query_parser.py` knows `fields`,
`sort` and `limit` only) and returns every line of the window, so each line returned is checked
here for the hash too; on AWS the query's filter has already done it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..handlers.shared import log_events
from . import trace
from .problems import CliError
from .session import Aws
from .stack import Stack

#: At most this many lines per query (Logs Insights returns up to 10,000).
LIMIT = 1000
#: How long to wait for the query before giving up (Logs Insights runs up to 60 minutes).
WAIT_SECONDS = 120.0
_DONE = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")
#: What each log event says of the send, as a person reads it.
_OUTCOMES = {log_events.EMAIL_SENT: "sent", log_events.EMAIL_REJECTED: "refused by SES",
             log_events.EMAIL_SEND_FAILED: "send failed (retried)", log_events.EMAIL_OUTCOME_UNKNOWN: "outcome unknown"}


def query(recipient_hash: str) -> str:
    """The Logs Insights query for the lines naming one recipient hash (hex: nothing to escape)."""
    return (f'fields @timestamp, @message | filter @message like "{recipient_hash}" '
            f"| sort @timestamp desc | limit {LIMIT}")


def collect(stack: Stack, aws: Aws, recipient_hash: str, *, days: int,
            now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
            sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The trace document (`--json` prints it as is): each email to the recipient, newest first."""
    prefix, table, groups = stack.require_prefix(), stack.require_table(), stack.require_log_groups()
    end = now()
    lines = _query(aws, groups, recipient_hash, end - dt.timedelta(days=days), end, sleep)
    emails = [email for email in (_email(line, recipient_hash) for line in lines) if email is not None]
    for email in emails:
        if email["ses_message_id"]:
            latest = trace.delivery(aws, table, prefix, email["ses_message_id"])["recipients"].get(recipient_hash)
            email["delivery"] = latest
    return {"stack": prefix, "recipient_hash": recipient_hash, "days": days, "log_groups": list(groups),
            "emails": emails, "found": bool(emails), "verdict": _verdict(emails, days)}


def _query(aws: Aws, groups: Sequence[str], recipient_hash: str, start: dt.datetime, end: dt.datetime,
           sleep: Callable[[float], None]) -> list[Mapping[str, Any]]:
    """The log lines (JSON objects) carrying the hash, from StartQuery and GetQueryResults."""
    logs = aws.client("logs")
    # Whole seconds, as the API takes them: the end rounded up, so this second's lines are in.
    started = logs.start_query(logGroupNames=list(groups), startTime=int(start.timestamp()),
                               endTime=int(end.timestamp()) + 1, queryString=query(recipient_hash), limit=LIMIT)
    waited = 0.0
    while True:
        answer = logs.get_query_results(queryId=started["queryId"])
        if answer.get("status") in _DONE:
            break
        if waited >= WAIT_SECONDS:
            raise CliError(f"the Logs Insights query has run {waited:.0f} s", "try again with fewer --days")
        sleep(1.0)
        waited += 1.0
    if answer.get("status") != "Complete":
        raise CliError(f"the Logs Insights query ended {answer.get('status')}", "try again, or with fewer --days")
    found = []
    for row in answer.get("results", []):
        line = _line({cell.get("field"): cell.get("value") for cell in row}.get("@message", ""))
        if line is not None and recipient_hash in line.get("recipient_hashes", []):
            found.append(line)
    return found


def _line(message: str) -> Mapping[str, Any] | None:
    """A handler's JSON line, as logged or as Lambda's JSON log format wraps it (`message`)."""
    try:
        value = json.loads(message)
    except ValueError:
        return None
    if isinstance(value, dict) and "event" not in value and isinstance(value.get("message"), (str, dict)):
        inner = value["message"]
        return _line(inner) if isinstance(inner, str) else inner
    return value if isinstance(value, dict) else None


def _email(line: Mapping[str, Any], recipient_hash: str) -> dict[str, Any] | None:
    outcome = _OUTCOMES.get(str(line.get("event")))
    if outcome is None:
        return None
    return {"at": str(line.get("timestamp", "")), "outcome": outcome, "lane": str(line.get("lane", "")),
            "template": str(line.get("template", "")), "event_id": str(line.get("event_id", "")),
            "ses_message_id": str(line.get("ses_message_id", "")), "error_code": str(line.get("error_code", "")),
            "recipients": int(line.get("recipient_count", 1)), "delivery": None}


def _verdict(emails: Sequence[Mapping[str, Any]], days: int) -> str:
    if not emails:
        return (f"no send to this address in the last {days} days (the log groups keep logRetentionDays; an event "
                "dead-lettered before its send names no recipient: `trace <event id>` or `dlq list`)")
    sent = [email for email in emails if email["outcome"] == "sent"]
    statuses = [(email["delivery"] or {}).get("status", "no status yet") for email in sent]
    tally = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    others = len(emails) - len(sent)
    return (f"{len(sent)} sent in the last {days} days" + (f" ({tally})" if sent else "")
            + (f"; {others} more attempts refused or failed" if others else ""))


def text(document: Mapping[str, Any]) -> str:
    """The trace for a terminal: one line per email, newest first (no address: the operator typed it)."""
    lines = [f"trace --recipient (hash {document['recipient_hash']}, stack {document['stack']}, "
             f"last {document['days']} days)"]
    for email in document["emails"]:
        line = f"  {email['at']}  {email['outcome']} [{email['lane']}] {email['template']}, event {email['event_id']}"
        if email["ses_message_id"]:
            line += f", SES message id {email['ses_message_id']}"
        if email["error_code"]:
            line += f", {email['error_code']}"
        if email["recipients"] > 1:
            line += f" (with {email['recipients'] - 1} other recipients)"
        if email["ses_message_id"]:
            delivery = email["delivery"]
            line += (f": {delivery['status']} at {delivery['at']}" if delivery
                     else ": no status yet (or the stack keeps no status records)")
        lines.append(line)
    if not document["emails"]:
        lines.append("  nothing found")
    lines.append(f"verdict: {document['verdict']}")
    return "\n".join(lines)
