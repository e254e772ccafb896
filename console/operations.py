"""What the console reads from and does to the stack's queues and bus: dead letters, unrouted events, redrive, test sends.

Dead letters are read and moved by the operator tool's code (`cli.dlq.collect`, `cli.dlq.find`,
`cli.dlq.redrive`): the page and `email-pipeline dlq` cannot disagree. Lists carry each message's
ids, FailureCode, field and reason, never the event's values; one message's event is shown whole
only when the operator asks for it. A redrive, and a test send on a deployed stack, go ahead only
with the stack's name typed as confirmation. A test send is an event on the stack's bus, so the
route, the lane and the status path all run.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any

from ..cli import dlq
from ..cli.dead_letters import DEFAULT_MAX_RECEIVES, peek
from ..handlers.errors import InvalidEvent
from ..handlers.sending.contract import check_allowlist
from ..handlers.shared.simulator import MAILBOXES, SIMULATOR_DOMAIN, is_simulator_address
from .http_errors import ConsoleError, bad_request, not_found
from .preview import DEFAULT_LANE, test_event
from .source import ConsoleSource, Mode
from .template_library import TemplateVersionFolder

#: The unrouted queue, where the dead-letter page lists it beside the lanes.
UNROUTED = "unrouted"
UNROUTED_REASON = "no route takes it: it waits in the unrouted queue; replay it from the archive once a route does"
#: The simulator's addresses the test-send form offers (SES Developer Guide, "Using the mailbox simulator").
SIMULATOR_ADDRESSES = tuple(f"{mailbox}@{SIMULATOR_DOMAIN}" for mailbox in MAILBOXES)


def dead_letters(source: ConsoleSource) -> dict[str, Any]:
    """`GET /api/dead-letters`: per lane the DLQ's depth, counts by FailureCode and each message's summary;
    then the unrouted queue's events (ids, source and detail-type)."""
    document = dlq.collect(source.stack, source.aws, None, max_receives=DEFAULT_MAX_RECEIVES, show_addresses=False)
    return {"stack": source.name, "lanes": document["lanes"], "unrouted": _unrouted(source)}


def _unrouted(source: ConsoleSource) -> dict[str, Any] | None:
    url = source.stack.unrouted_url
    if not url:
        return None
    sample = peek(source.aws.client("sqs"), UNROUTED, url, max_receives=DEFAULT_MAX_RECEIVES)
    events = [{key: letter.summary()[key] for key in ("message_id", "event_id", "source", "detail_type")}
              | {"reason": UNROUTED_REASON} for letter in sample.letters]
    return {"depth": sample.depth, "read": len(sample.letters), "complete": sample.complete, "events": events}


def dead_letter(source: ConsoleSource, lane: str, message_id: str, *, values: bool) -> dict[str, Any]:
    """`GET /api/dead-letters/<lane>/<message id>`: one message's summary; its event only with `values`.

    Raises:
        ConsoleError: no such lane (400) or message (404).
    """
    if lane == UNROUTED:
        url = source.stack.unrouted_url
        if not url:
            raise not_found(f"stack {source.name} has no unrouted queue", "pass its outputs (unroutedQueueUrl)")
        sample = peek(source.aws.client("sqs"), UNROUTED, url, max_receives=DEFAULT_MAX_RECEIVES)
        letter = next((found for found in sample.letters if message_id in (found.message_id, found.event_id)), None)
        if letter is None:
            raise not_found(f"no unrouted event with id {message_id!r}", "reload the dead-letter page")
        summary = {**letter.summary(), "code": "", "reason": UNROUTED_REASON}
    else:
        letter = dlq.find(source.stack, source.aws, message_id, lane, max_receives=DEFAULT_MAX_RECEIVES)
        summary = letter.summary()
    return {**summary, **({"event": letter.shown_event(show_addresses=True)} if values else {})}


def redrive(source: ConsoleSource, lane: str, code: str | None, confirm: str) -> dict[str, Any]:
    """`POST /api/dead-letters/<lane>/redrive`: move the lane's dead letters (of one FailureCode, or all) back.

    Raises:
        ConsoleError: no confirmation naming the stack (409), an unknown lane (400), an empty code (400).
    """
    _confirmed(source, confirm, f"moving dead letters back to the {lane} lane")
    [lane] = source.stack.lane_names(lane)
    code = dlq.check_code(code)
    source.stack.queue_url(lane)  # both queues known before anything moves
    moved = dlq.redrive(source.stack, source.aws, lane, code)
    return {"lane": lane, "code": code, "moved": dict(moved.moved), "left": dict(moved.skipped),
            "failed": dict(moved.failed), "text": moved.text(code)}


def send_test(source: ConsoleSource, version: TemplateVersionFolder, request: Mapping[str, Any]) -> dict[str, Any]:
    """`POST /api/send-test`: put the event that sends a sample on the stack's bus.

    The recipient is a mailbox simulator address or one the stack's allowlist takes; on a deployed
    stack `confirm` must be the stack's name.

    Raises:
        ConsoleError: a recipient the console will not send to (400), no confirmation (409), the bus
            refusing the event (502).
    """
    recipient = _recipient(source, str(request.get("recipient", "")))
    if source.mode is Mode.DEPLOYED:
        _confirmed(source, str(request.get("confirm", "")), "a test send on a deployed stack")
    event = test_event(version, str(request.get("sample", "")), recipient, source=str(request.get("source") or ""),
                       detail_type=str(request.get("detail_type") or ""))
    bus = source.stack.require_bus()
    answer = source.aws.client("events").put_events(Entries=[event.entry(bus)])["Entries"][0]
    if answer.get("ErrorCode"):
        raise ConsoleError(502, f"the bus refused the test event ({answer['ErrorCode']})",
                           "check the stack's bus and its policy")
    return {"event_id": answer["EventId"], "bus": bus, "recipient": recipient, "source": event.source,
            "detail_type": event.detail_type, "idempotency_key": event.detail["idempotencyKey"],
            "correlation_id": event.detail["correlationId"]}


def _recipient(source: ConsoleSource, given: str) -> str:
    """The test's recipient: a simulator address, or one the stack's allowlist takes (checked as the lanes do)."""
    address = parseaddr(given)[1].strip()
    if not address or "@" not in address or address != given.strip():
        raise bad_request("the test recipient is not an email address",
                          f"pick a mailbox simulator address ({SIMULATOR_ADDRESSES[0]}) or an allowlisted one")
    if is_simulator_address(address):
        return address
    allowlist = recipient_allowlist(source)
    if not allowlist:
        raise bad_request(f"stack {source.name} has no recipient allowlist, so a test goes to the mailbox simulator "
                          "only", "pick a simulator address: success@, bounce@ or complaint@simulator.amazonses.com")
    try:
        check_allowlist([address], allowlist)
    except InvalidEvent:
        raise bad_request(f"the test recipient is not in stack {source.name}'s recipient allowlist "
                          f"({', '.join(allowlist)})", "pick an allowlisted address or a simulator address") from None
    return address


def recipient_allowlist(source: ConsoleSource) -> tuple[str, ...]:
    """The stack's recipient allowlist (`@domain` or addresses), as its lanes read it; none on production stacks."""
    lanes = sorted(source.lanes)
    lane = DEFAULT_LANE if DEFAULT_LANE in lanes else (lanes[0] if lanes else None)
    return source.lane(lane).settings.recipient_allowlist if lane else ()


def _confirmed(source: ConsoleSource, confirm: str, what: str) -> None:
    if confirm.strip() != source.name:
        raise ConsoleError(409, f"{what} needs a confirmation naming the stack",
                           f"type the stack's name, {source.name}, to confirm")
