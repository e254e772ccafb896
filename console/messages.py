"""The message log: the local outbox, or what a deployed stack's status records and `trace` know, searched.

Locally every email the emulated SES accepted is there, newest first, with its parts, tags and
addresses (they are the developer's own). A deployed stack keeps no copy of an email: a search
(idempotency key, event id, SES message id) goes through `cli.trace.collect`, the code behind
`email-pipeline trace`, and an address through `cli.recipient_trace.collect` (`trace --recipient`:
the sending functions' log lines that carry its keyed hash, `handlers.shared.hashing.recipient_hash`);
recipients are then their hash and domain, never an address the stack does not store. Each message's delivery timeline is its status record
(`handlers.delivery_status.status_record`): sent, then every status SES reported, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..cli import recipient_trace, trace
from ..cli.dead_letters import DEFAULT_MAX_RECEIVES
from ..handlers.shared.correlation import CORRELATION_ID, EVENT_ID, KEY_HASH, LANE, SOURCE, TEMPLATE, decode_tag_value
from ..handlers.shared.hashing import key_hash, recipient_hash
from ..handlers.shared.status_names import latest_by_recipient, record_id
from .http_errors import bad_request, not_found
from .source import ConsoleSource, OutboxEmail

#: The most messages one answer lists (newest first).
PAGE = 100
#: How far back a search by address looks in the sending functions' logs (`trace --recipient`'s default).
RECIPIENT_DAYS = 7
#: What a recipient's status is before SES said anything.
NO_STATUS = "sent"
#: The search fields `GET /api/messages` takes, besides `q` (any of them).
FIELDS = ("recipient", "subject", "template", "source", "key")
_SEND_FIELDS = ("ses_message_id", "sent_at", "event_id", "key_hash", "lane", "template", "source")


def status_record(source: ConsoleSource, ses_message_id: str) -> dict[str, Any]:
    """A message's status record (`handlers.shared.table_keys.status_record_id`) as the log shows it.

    Returns `{"send": {...}, "latest": {hash: {...}}, "history": [...]}`; empty parts when there is no record.
    """
    item = source.aws.client("dynamodb").get_item(
        TableName=source.stack.require_table(), Key={"id": {"S": record_id(source.name, ses_message_id)}},
        ConsistentRead=True).get("Item", {})
    return _record(item)


def _record(item: Mapping[str, Any]) -> dict[str, Any]:
    return {"send": {name: item[name]["S"] for name in _SEND_FIELDS if "S" in item.get(name, {})},
            "latest": {recipient: _status(entry) for recipient, entry in latest_by_recipient(item).items()},
            "history": [{**_status(entry["M"]), "recipient": entry["M"].get("recipient", {}).get("S", "")}
                        for entry in item.get("history", {}).get("L", [])]}


def _status(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": entry.get("status", {}).get("S", ""), "at": entry.get("at", {}).get("S", ""),
            "domain": entry.get("domain", {}).get("S", ""),
            "details": {k: v.get("S", "") for k, v in entry.get("details", {}).get("M", {}).items()}}


def timeline(record: Mapping[str, Any], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Sent, then each status SES reported, in the order recorded; `names` shows a recipient hash as its address."""
    steps = [{"status": "sent", "at": record["send"].get("sent_at", ""), "recipient": "", "details": {}}]
    for entry in record["history"]:
        shown = names.get(entry["recipient"]) or f"{entry['recipient'][:12]}… @{entry['domain']}"
        steps.append({"status": entry["status"], "at": entry["at"], "recipient": shown, "details": entry["details"]})
    return steps


# --- the local outbox ------------------------------------------------------------------------

def local_messages(source: ConsoleSource, query: Mapping[str, str]) -> dict[str, Any]:
    """`GET /api/messages` on the local stack: the outbox, newest first, filtered by the query's fields."""
    outbox = _outbox(source)
    key = source.hash_key()
    chosen = [email for email in reversed(outbox) if _matches(email, query, key)]
    return {"mode": "local", "total": len(outbox), "matched": len(chosen),
            "messages": [_local_summary(source, email, key) for email in chosen[:PAGE]]}


def local_message(source: ConsoleSource, ses_message_id: str) -> dict[str, Any]:
    """`GET /api/messages/<id>` on the local stack: the email as sent, its tags, recipients and timeline.

    Raises:
        ConsoleError: no email with that SES message id in the outbox (404).
    """
    email = next((found for found in _outbox(source) if found.message_id == ses_message_id), None)
    if email is None:
        raise not_found(f"no email with SES message id {ses_message_id!r} in the outbox",
                        "pick one from the message log (the outbox starts empty with each run)")
    key = source.hash_key()
    record = status_record(source, ses_message_id)
    names = {recipient_hash(address, key): address for address in _recipients(email)}
    return {**_local_summary(source, email, key, record), "html": email.html, "text": email.text,
            "headers": dict(email.headers), "timeline": timeline(record, names)}


def _outbox(source: ConsoleSource) -> Sequence[OutboxEmail]:
    if source.outbox is None:
        raise bad_request(f"stack {source.name} has no outbox (SES keeps no copy of a sent email)",
                          "search by idempotency key, event id, SES message id or address")
    return list(source.outbox())


def _local_summary(source: ConsoleSource, email: OutboxEmail, key: bytes,
                   record: Mapping[str, Any] | None = None) -> dict[str, Any]:
    record = record if record is not None else status_record(source, email.message_id)
    tags = dict(email.tags)
    recipients = []
    for address in _recipients(email):
        hashed = recipient_hash(address, key)
        latest = record["latest"].get(hashed, {})
        recipients.append({"address": address, "hash": hashed, "domain": address.rpartition("@")[2],
                           "status": latest.get("status") or NO_STATUS, "details": latest.get("details", {})})
    return {"id": email.message_id, "subject": email.subject, "to": list(email.to), "cc": list(email.cc),
            "bcc": list(email.bcc), "template": tags.get(TEMPLATE) or email.template or "", "lane": email.lane,
            "source": _decoded(tags.get(SOURCE, "")), "event_id": tags.get(EVENT_ID, ""),
            "key_hash": tags.get(KEY_HASH, ""), "correlation_id": tags.get(CORRELATION_ID, ""), "tags": tags,
            "sent_at": record["send"].get("sent_at", ""), "rendering_failure": email.rendering_failure,
            "recipients": recipients}


def _recipients(email: OutboxEmail) -> list[str]:
    return [*email.to, *email.cc, *email.bcc]


def _matches(email: OutboxEmail, query: Mapping[str, str], key: bytes) -> bool:
    """Every field given matches (case-insensitive substrings; an idempotency key by its keyed hash)."""
    tags = dict(email.tags)
    texts = {
        "recipient": " ".join(_recipients(email)),
        "subject": email.subject,
        "template": f"{tags.get(TEMPLATE, '')} {email.template or ''}",
        "source": _decoded(tags.get(SOURCE, "")),
    }
    for field, value in query.items():
        wanted = value.strip()
        if not wanted:
            continue
        if field == "key":
            if wanted not in (tags.get(EVENT_ID), email.message_id) and key_hash(wanted, key) != tags.get(KEY_HASH):
                return False
        elif field == "q":
            everything = " ".join([*texts.values(), tags.get(CORRELATION_ID, ""), tags.get(EVENT_ID, ""),
                                   email.message_id, tags.get(LANE, "")])
            if wanted.lower() not in everything.lower() and key_hash(wanted, key) != tags.get(KEY_HASH):
                return False
        elif field in texts and wanted.lower() not in texts[field].lower():
            return False
    return True


def _decoded(tag: str) -> str:
    try:
        return decode_tag_value(tag)
    except ValueError:
        return tag


# --- a deployed stack: records and trace -----------------------------------------------------------

def deployed_messages(source: ConsoleSource, query: Mapping[str, str]) -> dict[str, Any]:
    """`GET /api/messages` on a deployed stack: the messages one value leads to.

    An address (`recipient`, or `q` with an `@`) is what `email-pipeline trace --recipient` takes (its
    keyed hash, searched in the sending functions' logs); anything else what `email-pipeline trace`
    takes (an idempotency key, an event id, an SES message id), with the dead letters trace finds.
    """
    value = (query.get("q") or query.get("key") or query.get("recipient") or "").strip()
    if not value:
        return {"mode": "deployed", "messages": [], "matched": 0, "dead_letters": [],
                "hint": "a deployed stack keeps no copy of its emails: search by idempotency key, event id, "
                        "SES message id or recipient address"}
    ids, letters, verdict = _by_address(source, value) if "@" in value else _by_trace(source, value)
    found = [_deployed_summary(ses_message_id, status_record(source, ses_message_id))
             for ses_message_id in dict.fromkeys(ids)]
    messages = sorted(found, key=lambda message: message["sent_at"], reverse=True)
    return {"mode": "deployed", "messages": messages[:PAGE], "matched": len(messages), "dead_letters": letters,
            "hint": "" if messages or letters else verdict}


def _by_trace(source: ConsoleSource, value: str) -> tuple[list[str], list[Mapping[str, Any]], str]:
    """`email-pipeline trace VALUE`: the SES message ids its claims (or the value itself) name, its dead letters."""
    document = trace.collect(source.stack, source.aws, value, None, max_receives=DEFAULT_MAX_RECEIVES)
    ids = [record["ses_message_id"] for record in document["records"] if record["ses_message_id"]]
    if document["message"] is not None:
        ids.append(value)
    return ids, list(document["dead_letters"]), f"trace: {document['verdict']}"


def _by_address(source: ConsoleSource, address: str) -> tuple[list[str], list[Mapping[str, Any]], str]:
    """`email-pipeline trace --recipient ADDRESS`: the SES message ids of the sends to the address's keyed hash."""
    hashed = recipient_hash(address, source.hash_key())
    document = recipient_trace.collect(source.stack, source.aws, hashed, days=RECIPIENT_DAYS)
    ids = [email["ses_message_id"] for email in document["emails"] if email["ses_message_id"]]
    return ids, [], f"trace --recipient: {document['verdict']}"


def deployed_message(source: ConsoleSource, ses_message_id: str) -> dict[str, Any]:
    """`GET /api/messages/<id>` on a deployed stack: what the message's status record knows.

    Raises:
        ConsoleError: the stack has no status record for it (404).
    """
    record = status_record(source, ses_message_id)
    if not record["send"] and not record["history"]:
        raise not_found(f"stack {source.name} has no status record for SES message id {ses_message_id!r}",
                        "SES may not have reported on it yet, its record may have expired, or the stack keeps "
                        "no status records (statusRecords)")
    return {**_deployed_summary(ses_message_id, record), "timeline": timeline(record, {})}


def _deployed_summary(ses_message_id: str, record: Mapping[str, Any]) -> dict[str, Any]:
    send = record["send"]
    recipients = [{"address": "", "hash": hashed, "domain": latest["domain"], "status": latest["status"],
                   "details": latest["details"]} for hashed, latest in record["latest"].items()]
    return {"id": ses_message_id, "subject": "", "template": send.get("template", ""), "lane": send.get("lane", ""),
            "source": send.get("source", ""), "event_id": send.get("event_id", ""),
            "key_hash": send.get("key_hash", ""), "correlation_id": "", "sent_at": send.get("sent_at", ""),
            "recipients": recipients, "tags": {}}
