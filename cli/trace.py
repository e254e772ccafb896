"""`email-pipeline trace KEY-OR-EVENT-ID-OR-SES-MESSAGE-ID`: what happened to one event, or one message.

Two places know: the state table (one claim per lane and key, `handlers.shared.table_keys.claim_id`,
as `handlers.idempotency.once_only.OnceOnly` writes it, completed in its batch's record) and the lanes'
DLQs (searched without taking anything, for a body whose `id` or `detail.idempotencyKey` is the
value). An event with an `idempotencyKey` is recorded under that key, one without under its
EventBridge id. The lane queues themselves are not searched: every receive there counts towards the queue's
`maxReceiveCount`, so looking could push a waiting email into the DLQ. An SES message id finds its
status record directly: the only way to a message no lane sent (the daily report, another sender
on the configuration set), whose statuses are recorded but never published.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ..handlers.shared.table_keys import claim_id, claim_prefix, record_key
from ..handlers.shared.status_names import STATUS_LANE, latest_by_recipient, record_id as status_record_id
from . import dead_letters
from .session import Aws
from .stack import Stack

COMPLETED = "COMPLETED"
IN_PROGRESS = "IN_PROGRESS"
UNKNOWN = "UNKNOWN"


def collect(stack: Stack, aws: Aws, value: str, lane: str | None, *, max_receives: int) -> dict[str, Any]:
    """The trace document (`--json` prints it as is)."""
    prefix, table = stack.require_prefix(), stack.require_table()
    lanes = stack.lane_names(lane)
    # The status queue is listed with the lanes (its DLQ is searched below) but claims nothing.
    records = [_record(aws, table, prefix, name, value) for name in lanes if name != STATUS_LANE]
    letters = []
    for name in lanes:
        if not stack.lanes[name].dead_letter_url:
            continue
        sample = dead_letters.peek(aws.client("sqs"), name, stack.dead_letter_url(name), max_receives=max_receives)
        letters += [letter.summary() for letter in sample.letters if value in (letter.event_id, letter.idempotency_key)]
    found = [record for record in records if record["status"]]
    for record in found:
        if record["ses_message_id"]:
            record["delivery"] = delivery(aws, table, prefix, record["ses_message_id"])
    message = None if found or letters else delivery(aws, table, prefix, value)
    if message is not None and not message["recipients"]:
        message = None
    verdict = _verdict(found, letters) if message is None else _message_verdict(message)
    return {"stack": prefix, "lanes": lanes, "records": found, "dead_letters": letters, "message": message,
            "verdict": verdict, "found": bool(found or letters or message)}


def delivery(aws: Aws, table: str, prefix: str, ses_message_id: str) -> dict[str, Any]:
    """What SES said of the message since (the status handler's record): each recipient's latest and the history.

    Recipients are shown as the keyed hash and domain the record keeps; `python -m handlers.log
    ADDRESS` with the stack's key gives an address's hash.
    """
    item = aws.client("dynamodb").get_item(TableName=table, Key={"id": {"S": status_record_id(prefix, ses_message_id)}},
                                           ConsistentRead=True).get("Item", {})
    latest = {recipient: _status(entry) for recipient, entry in latest_by_recipient(item).items()}
    history = [{**_status(entry["M"]), "recipient": entry["M"].get("recipient", {}).get("S", "")}
               for entry in item.get("history", {}).get("L", [])]
    return {"recipients": latest, "history": history}


def _message_verdict(message: Mapping[str, Any]) -> str:
    statuses = [latest["status"] for latest in message["recipients"].values()]
    tally = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    return f"an SES message id: SES says {tally}"


def _status(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": entry.get("status", {}).get("S", ""), "at": entry.get("at", {}).get("S", ""),
            "domain": entry.get("domain", {}).get("S", ""),
            "details": {k: v.get("S", "") for k, v in entry.get("details", {}).get("M", {}).items()}}


def _record(aws: Aws, table: str, prefix: str, lane: str, key: str) -> dict[str, Any]:
    dynamodb = aws.client("dynamodb")
    claim = claim_id(claim_prefix(prefix, lane), key)
    item = dynamodb.get_item(TableName=table, Key={"id": {"S": claim}}, ConsistentRead=True).get("Item", {})
    status, message_id = item.get("status", {}).get("S", ""), item.get("result", {}).get("S", "")
    record_id = item.get("completed_in", {}).get("S")
    if status == IN_PROGRESS and record_id:
        # A lane's batch records what it sent in one item, which the claim names (`OnceOnly.batch`).
        record = dynamodb.get_item(TableName=table, Key={"id": {"S": record_id}}, ConsistentRead=True).get("Item", {})
        sent = record.get("sent", {}).get("M", {}).get(record_key(claim))
        if sent is not None:
            status, message_id = COMPLETED, sent.get("S", "")
    return {
        "lane": lane,
        "status": status,
        "ses_message_id": message_id,
        "remembered_until": _epoch(item.get("expiration", {}).get("N")),
        "lease_until": _epoch(item.get("in_progress_expiry", {}).get("N"), milliseconds=True),
    }


def _delivery_lines(delivery: Mapping[str, Any] | None) -> list[str]:
    if delivery is None:
        return []
    if not delivery["recipients"]:
        return ["    delivery: no SES event recorded yet (or the stack keeps no status records)"]
    lines = []
    for recipient, latest in delivery["recipients"].items():
        details = ", ".join(f"{k} {v}" for k, v in latest["details"].items())
        lines.append(f"    recipient {recipient} @{latest['domain']}: {latest['status']} at {latest['at']}"
                     + (f" ({details})" if details else ""))
    steps = " -> ".join(f"{entry['status']} ({entry['recipient'][:8]})" for entry in delivery["history"])
    lines.append(f"    history: {steps}")
    return lines


def _epoch(value: str | None, *, milliseconds: bool = False) -> str:
    if not value:
        return ""
    seconds = int(value) / (1000 if milliseconds else 1)
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds")


def _verdict(records: list[Mapping[str, Any]], letters: list[Mapping[str, Any]]) -> str:
    sent = [record["lane"] for record in records if record["status"] == COMPLETED]
    parts = []
    if len(sent) == 1:
        parts.append(f"sent once ({sent[0]} lane)")
    elif sent:
        parts.append(f"sent {len(sent)} times, once by each of the lanes {', '.join(sent)}")
    for record in records:
        statuses = [latest["status"] for latest in (record.get("delivery") or {}).get("recipients", {}).values()]
        if statuses:
            tally = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
            parts.append(f"SES says: {tally}")
        if record["status"] == UNKNOWN:
            parts.append(f"outcome unknown on the {record['lane']} lane (SES never answered: it may have been sent)")
        elif record["status"] == IN_PROGRESS:
            parts.append(f"being sent on the {record['lane']} lane, or that delivery died (lease until "
                         f"{record['lease_until'] or '?'}; past it, it reads as an unknown outcome)")
    for letter in letters:
        parts.append(f"dead-lettered on the {letter['lane']} lane ({letter['code']})")
    if not parts:
        return ("no trace: not sent by any lane and not in a DLQ (it may still be queued, its record may have "
                "expired, or it was recorded under its idempotencyKey rather than its event id)")
    return "; ".join(parts)


def text(value: str, document: Mapping[str, Any]) -> str:
    """The trace for a terminal (no address: the value itself is what the operator typed)."""
    lines = [f"trace {value} (stack {document['stack']})"]
    recorded = {record["lane"]: record for record in document["records"]}
    for lane in document["lanes"]:
        if lane == STATUS_LANE:
            continue
        record = recorded.get(lane)
        if record is None:
            lines.append(f"  {lane}: no idempotency record")
            continue
        line = f"  {lane}: {record['status']}"
        if record["ses_message_id"]:
            line += f", SES message id {record['ses_message_id']}"
        if record["remembered_until"]:
            line += f", remembered until {record['remembered_until']}"
        lines.append(line)
        lines += _delivery_lines(record.get("delivery"))
    if document.get("message") is not None:
        lines.append("  SES message:")
        lines += _delivery_lines(document["message"])
    for letter in document["dead_letters"]:
        lines.append(f"  {letter['lane']} DLQ: {letter['code']}, field {letter['field'] or '-'}, reason "
                     f"{letter['reason'] or '-'}, failed at {letter['failed_at'] or '-'} (message {letter['message_id']})")
    if not document["dead_letters"]:
        lines.append("  dead letters: none")
    lines.append(f"verdict: {document['verdict']}")
    return "\n".join(lines)
