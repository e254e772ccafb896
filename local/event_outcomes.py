"""What became of each event put on the bus: sent, skipped, dead-lettered, unrouted, refused or queued.

`EventOutcomes` classifies every published entry from what the running system shows of it,
correlated by event id: the bus's answer to PutEvents, the handlers' log lines (`event_id`,
`event`), the dead letters' bodies (the original event, its `id`) and the unrouted queue's
messages (the original events). `BusRoutes` says which rules on the stack's bus would take an
event, by the emulator's own EventBridge pattern matcher, for an event still on its lane or one
no rule took.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from moto.events.models import EventPattern

from ses_email_pipeline.handlers.shared.log_events import EMAIL_DUPLICATE_SKIPPED, EMAIL_SENT

from local.blueprint import Blueprint, QueueSpec, RuleSpec
from local.mocks import ACCOUNT
from local.sqs_events import json_or_text

#: A handler's JSON log line, with the lane of the function that wrote it.
LogRecord = tuple[str, Mapping[str, Any]]


class EventOutcome(StrEnum):
    """What became of one published event (`summary()["events"][i]["outcome"]`)."""

    SENT = "sent"
    DUPLICATE_SKIPPED = "duplicate skipped"  # an event with its idempotency key was sent before
    DEAD_LETTERED = "dead-lettered"
    UNROUTED = "unrouted"  # in the unrouted queue (`accepted`), or matched by no rule at all
    REFUSED = "refused by the bus"  # PutEvents answered an error for the entry: it never reached the bus
    STILL_QUEUED = "still queued"  # on its lane, not sent yet (deferred, or the lane is not polled)

    @property
    def delivered(self) -> bool:
        """Whether the event's email went out (now, or by the earlier event it duplicates)."""
        return self in (EventOutcome.SENT, EventOutcome.DUPLICATE_SKIPPED)


@dataclass(frozen=True)
class Published:
    """One entry put on the bus, and the bus's answer for it."""

    index: int
    entry: Mapping[str, Any]  # as PutEvents took it
    bus_in_entry: str | None  # the `EventBusName` it was written with
    event_id: str = ""
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True)
class DeadLetter:
    """A message in a lane's DLQ or a function's on-failure destination, with why it is there."""

    lane: str
    reason: str
    code: str
    event: Any
    field: str = "-"  # the message's FailureField: where in the event, or why, more precisely than the code


class BusRoutes:
    """The rules on the stack's bus: what the pipeline accepts, and which lanes an event goes to.

    Args:
        blueprint: what the program declared (its first bus is the stack's).
        region: the emulated region, as an event delivered to a rule names it.
    """

    def __init__(self, blueprint: Blueprint, region: str) -> None:
        self._blueprint = blueprint
        self._region = region

    def stack_rules(self) -> list[RuleSpec]:
        """The rules on the stack's bus: what the pipeline accepts, and where each kind goes."""
        return [rule for rule in self._blueprint.rules if rule.bus == self._blueprint.buses[0]]

    def accepted_kinds(self) -> list[str]:
        """`source / detail-type` of every event some rule on the stack's bus may take, as its patterns say."""
        kinds: dict[str, None] = {}
        for rule in self.stack_rules():
            pattern = json.loads(rule.pattern)
            sources = [s for s in pattern.get("source", ["any source"]) if isinstance(s, str)]
            types = [t for t in pattern.get("detail-type", ["any detail-type"]) if isinstance(t, str)]
            kinds.update((f"{source} / {kind}", None) for source in sources for kind in types)
        return list(kinds)

    def lanes_taking(self, published: Published) -> list[str]:
        """The lanes whose rules match the event, by the emulator's own pattern matcher."""
        lanes = {queue.arn: function.environment.get("EMAIL_LANE", function.name)
                 for queue, function, _batch in self._blueprint.lane_mappings()}
        event = self._as_delivered(published)
        return [lanes[arn] for rule in self.stack_rules() if EventPattern.load(rule.pattern).matches_event(event)
                for arn in rule.target_arns if arn in lanes]

    def _as_delivered(self, published: Published) -> dict[str, Any]:
        """The event as EventBridge delivers an entry to a rule's pattern (AWS's "event structure")."""
        entry = published.entry
        return {"version": "0", "id": published.event_id, "detail-type": entry.get("DetailType"),
                "source": entry.get("Source"), "account": ACCOUNT,
                "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": self._region,
                "resources": list(entry.get("Resources", [])), "detail": json_or_text(entry.get("Detail", "{}"))}


class EventOutcomes:
    """What became of each published event, from what the system shows of it.

    The first rule that applies decides an event's outcome.

    Args:
        published: every entry put on the bus, in order, with the bus's answer.
        log_records: the handlers' log lines, with the lane of the function that wrote each.
        dead_letters: what the lanes' DLQs and the failure destinations hold.
        unrouted: what the unrouted queues hold, with the queue holding it.
        routes: the rules on the stack's bus.
    """

    def __init__(self, published: Sequence[Published], log_records: Sequence[LogRecord],
                 dead_letters: Sequence[DeadLetter], unrouted: Sequence[tuple[QueueSpec, Any]],
                 routes: BusRoutes) -> None:
        self._published = published
        self._routes = routes
        self._letters = {letter.event.get("id"): letter for letter in dead_letters if isinstance(letter.event, dict)}
        self._unrouted = {event.get("id"): queue for queue, event in unrouted if isinstance(event, dict)}
        self._logs: dict[str, list[LogRecord]] = {}
        for lane, record in log_records:
            if record.get("event_id"):
                self._logs.setdefault(str(record["event_id"]), []).append((lane, record))
        self._rules: tuple[Callable[[Published], dict[str, Any] | None], ...] = (
            self._refused, functools.partial(self._logged_outcome, EMAIL_SENT, EventOutcome.SENT),
            self._dead_lettered,
            functools.partial(self._logged_outcome, EMAIL_DUPLICATE_SKIPPED, EventOutcome.DUPLICATE_SKIPPED),
            self._unrouted_queue, self._still_queued, self._not_accepted)

    def of_all(self) -> list[dict[str, Any]]:
        """One dict per published entry, in order: index, event id, outcome and what explains it."""
        return [self._of(published) for published in self._published]

    def _of(self, published: Published) -> dict[str, Any]:
        entry = published.entry
        base = {"index": published.index, "event_id": published.event_id or None, "source": entry.get("Source"),
                "detail_type": entry.get("DetailType"), "bus": entry["EventBusName"],
                "bus_in_entry": published.bus_in_entry}
        # The last rule (`_not_accepted`) always applies.
        return base | next(found for rule in self._rules if (found := rule(published)) is not None)

    def _logged(self, published: Published, event: str) -> LogRecord | None:
        return next(((lane, record) for lane, record in self._logs.get(published.event_id, [])
                     if record.get("event") == event), None)

    def _refused(self, published: Published) -> dict[str, Any] | None:
        if not published.error_code:
            return None
        return {"outcome": EventOutcome.REFUSED, "code": published.error_code, "message": published.error_message}

    def _logged_outcome(self, event: str, outcome: EventOutcome, published: Published) -> dict[str, Any] | None:
        """Sent or skipped as a duplicate: what a handler logged about the event (with the SES message id)."""
        found = self._logged(published, event)
        if found is None:
            return None
        lane, record = found
        return {"outcome": outcome, "lane": lane, "ses_message_id": record.get("ses_message_id")}

    def _dead_lettered(self, published: Published) -> dict[str, Any] | None:
        letter = self._letters.get(published.event_id)
        if letter is None:
            return None
        reason = letter.reason.removeprefix(f"{letter.field}: ")
        return {"outcome": EventOutcome.DEAD_LETTERED, "lane": letter.lane, "code": letter.code,
                "field": letter.field, "reason": reason}

    def _unrouted_queue(self, published: Published) -> dict[str, Any] | None:
        queue = self._unrouted.get(published.event_id)
        if queue is None:
            return None
        return {"outcome": EventOutcome.UNROUTED, "accepted": True, "queue": queue.name,
                "reason": f"the pipeline accepts its source and detail-type, but no route takes it; "
                          f"it waits in the unrouted queue {queue.name}"}

    def _still_queued(self, published: Published) -> dict[str, Any] | None:
        lanes = self._routes.lanes_taking(published)
        if not lanes:
            return None
        logged = self._logs.get(published.event_id, [])
        code = next((record.get("error_code") for _lane, record in reversed(logged) if record.get("error_code")), None)
        return {"outcome": EventOutcome.STILL_QUEUED, "lane": lanes[0], "code": code,
                "reason": f"on lane {lanes[0]}, not sent yet"
                          + (f" (last: {code})" if code else " (its lane's function has not taken it)")}

    def _not_accepted(self, published: Published) -> dict[str, Any]:
        accepted = ", ".join(self._routes.accepted_kinds()) or "nothing"
        return {"outcome": EventOutcome.UNROUTED, "accepted": False, "queue": None,
                "reason": f"the pipeline does not accept this source and detail-type (it accepts {accepted}); "
                          "no rule matched it, so the bus dropped it"}
