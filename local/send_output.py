"""What `python -m local demo` and `send` print: a block per event, then what no event accounts for.

The summary (`LocalSystem.summary`) is the machine's account; this is the person's: each entry's
outcome with what to do about it, then the emails, dead letters and unrouted events no entry of
the file explains (the daily report, a redriven message), the denied calls, and the counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from local.emulated_lambda import ROLE_POLICY_SOURCE
from local.event_outcomes import EventOutcome


def describe(summary: Mapping[str, Any]) -> str:
    """The summary as a person reads it: a block per event, then what no event accounts for (the report)."""
    events = summary.get("events", [])
    notes = _bus_notes(events)
    lines = [*notes, ""] if notes else []
    emails = {email.get("ses_message_id"): email for email in summary["sent"]}
    for event in events:
        lines += [*_EVENT_BLOCKS[EventOutcome(event["outcome"])](event, emails), ""]
    ids = {event["event_id"] for event in events}
    told = {event.get("ses_message_id") for event in events if event["outcome"] == EventOutcome.SENT}
    for email in summary["sent"]:
        if email.get("ses_message_id") not in told:
            lines += [_email_head(f"SENT [{email['lane']}]", email), *_email_body(email), ""]
    for letter in summary["dead_letters"]:
        if not isinstance(letter["event"], dict) or letter["event"].get("id") not in ids:
            lines += [f"DEAD LETTER [{letter['lane']}] {letter['reason']}",
                      f"  event: {json.dumps(letter['event'])[:200]}", ""]
    for event in summary["unrouted"]:
        if not isinstance(event, dict) or event.get("id") not in ids:
            lines += [f"UNROUTED {event.get('source')} / {event.get('detail-type')}: no route takes it",
                      f"  event: {json.dumps(event)[:200]}", ""]
    for denial in summary.get("access_denied", []):
        verdict = ("its role policy denies it explicitly; narrow the Deny statement" if denial["explicit"]
                   else "its role policy allows no such call; add a statement for it")
        lines += [f"ACCESS DENIED: {denial['function']} called {denial['action']} on {denial['resource']}: "
                  f"{verdict} in {ROLE_POLICY_SOURCE}", ""]
    counts = ", ".join(f"{lane}: {c['sent']} sent, {c['dead_letters']} dead-lettered"
                       for lane, c in sorted(summary["counts"].items()))
    unrouted = f"{len(summary['unrouted'])} unrouted" if summary["unrouted"] else ""
    lines.append(f"counts: {', '.join(filter(None, [counts, unrouted])) or 'nothing happened'}")
    if events:
        outcomes = [EventOutcome(event["outcome"]) for event in events]
        tally = ", ".join(f"{outcomes.count(outcome)} {outcome}" for outcome in EventOutcome if outcome in outcomes)
        lines.append(f"events: {len(events)} ({tally})")
    return "\n".join(lines)


def _bus_notes(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per bus name the entries were written with that is not the stack's bus."""
    notes: dict[str, None] = {}
    for event in events:
        written, bus = event.get("bus_in_entry"), event["bus"]
        if written is None:
            notes[f"entries that name no bus went to this stack's '{bus}' (aws events put-events would put them "
                  "on the default bus, which accepts them and routes them nowhere)"] = None
        elif written != bus:
            notes[f"bus '{written}' is this stack's '{bus}'"] = None
    return list(notes)


def _email_head(head: str, email: Mapping[str, Any]) -> str:
    return f"{head} to {', '.join(email['to'])}" + (f" cc {', '.join(email['cc'])}" if email["cc"] else "")


def _email_body(email: Mapping[str, Any]) -> list[str]:
    return [f"  subject: {email['subject']}",
            *(f"  | {line}" for line in email["text"].strip().splitlines() if line.strip()),
            *_delivery_line(email)]


def _delivery_line(email: Mapping[str, Any]) -> list[str]:
    """What SES said of each recipient since (the status handler's final status), when the stack tracks it."""
    delivery = email.get("delivery") or {}
    return [f"  delivery: {', '.join(f'{address} {status}' for address, status in delivery.items())}"] \
        if delivery else []


def _event_id(event: Mapping[str, Any], *more: str) -> str:
    return ", ".join([f"  event id {event['event_id']}", *more])


def _sent_block(event: Mapping[str, Any], emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    head = f"Entries[{event['index']}]: SENT [{event['lane']}]"
    email = emails.get(event["ses_message_id"])
    body = [_email_head(head, email), *_email_body(email)] if email else [head]
    return [*body, _event_id(event, f"SES message id {event['ses_message_id']}")]


def _skipped_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [f"Entries[{event['index']}]: DUPLICATE SKIPPED [{event['lane']}]: an event with its idempotency key "
            "was sent before", _event_id(event, f"SES message id of that send {event['ses_message_id']}")]


def _dead_letter_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    where = f" {event['field']}" if event["field"] != "-" else ""
    return [f"Entries[{event['index']}]: DEAD LETTER [{event['lane']}] {event['code']}{where}: {event['reason']}",
            _event_id(event)]


def _unrouted_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [f"Entries[{event['index']}]: UNROUTED {event['source']} / {event['detail_type']}: {event['reason']}",
            _event_id(event)]


#: What to do about an entry PutEvents refuses, by its ErrorCode (the entry never reached the bus).
_REFUSAL_FIXES = {
    "MalformedDetail": "Detail must be a JSON object written as text, such as \"{\\\"title\\\": \\\"T\\\"}\"",
    "InvalidArgument": "give the entry a Source, a DetailType and a Detail",
}


def _refused_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    fix = _REFUSAL_FIXES.get(event["code"], "fix the entry as the message says")
    return [f"Entries[{event['index']}]: REFUSED BY THE BUS: {event['code']}: {event['message']}",
            f"  it never reached the bus; {fix}"]


def _queued_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [f"Entries[{event['index']}]: STILL QUEUED [{event['lane']}]: {event['reason']}", _event_id(event)]


_EVENT_BLOCKS: Mapping[EventOutcome, Callable[[Mapping[str, Any], Mapping[str, Mapping[str, Any]]], list[str]]] = {
    EventOutcome.SENT: _sent_block,
    EventOutcome.DUPLICATE_SKIPPED: _skipped_block,
    EventOutcome.DEAD_LETTERED: _dead_letter_block,
    EventOutcome.UNROUTED: _unrouted_block,
    EventOutcome.REFUSED: _refused_block,
    EventOutcome.STILL_QUEUED: _queued_block,
}
