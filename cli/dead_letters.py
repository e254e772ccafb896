"""Reading dead letters without consuming them, and showing them without their addresses.

A handler dead-letters an event with the reason as message attributes (`handlers.sqs_batch.send_to_dead_letter_queue`:
FailureCode, FailureReason, FailureField, Lane, SourceMessageId, FailedAt), a message kept until
its last receive included (with the code of what kept it). A message the queue's own redrive moved
carries none (the handler's own copy to the DLQ failed); it is shown as `MaxReceiveCountExceeded`,
as the local system shows it.

Peeking receives with `VisibilityTimeout=0` (the message stays visible to everyone) and never
deletes. SQS samples its servers on each receive, so a bounded number of receives may not see
every message of a large queue: a `Sample` says how many it saw of the queue's approximate depth.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

#: The code of a dead letter that carries none: its receives ran out (the queue's redrive).
NO_CODE = "MaxReceiveCountExceeded"
#: Receives per queue when peeking (10 messages each at most).
DEFAULT_MAX_RECEIVES = 10
HIDDEN = "<hidden>"
#: Parts of an event's detail that hold addresses or personal template data.
_PERSONAL_FIELDS = frozenset({"emailConfig", "templateData"})
_RECEIVE_BATCH = 10


@dataclass(frozen=True)
class DeadLetter:
    """One message of a lane's dead-letter queue.

    Args:
        lane: the lane whose DLQ holds it.
        message_id: its SQS message id in the DLQ.
        receipt_handle: from the receive that read it (to delete or hide it).
        body: the EventBridge event, as the lane received it (holds addresses).
        message_attributes: the SQS message attributes, as received.
    """

    lane: str
    message_id: str
    receipt_handle: str
    body: str
    message_attributes: Mapping[str, Mapping[str, Any]]

    @classmethod
    def from_message(cls, lane: str, message: Mapping[str, Any]) -> DeadLetter:
        """From a `ReceiveMessage` result received with `MessageAttributeNames=["All"]`."""
        return cls(lane, message["MessageId"], message["ReceiptHandle"], message.get("Body", ""),
                   dict(message.get("MessageAttributes", {})))

    def attribute(self, name: str) -> str:
        """A string message attribute, or "" when it is absent."""
        return str(self.message_attributes.get(name, {}).get("StringValue", ""))

    @property
    def code(self) -> str:
        # A lane's dead letter says FailureCode; one EventBridge dead-lettered (a webhook's) ERROR_CODE
        # (EventBridge User Guide, "Using dead-letter queues to process undelivered events").
        return self.attribute("FailureCode") or self.attribute("ERROR_CODE") or NO_CODE

    @functools.cached_property
    def event(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON (an invalid event can be anything)."""
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            return None

    @property
    def event_id(self) -> str:
        event = self.event
        return str(event.get("id", "")) if isinstance(event, dict) else ""

    @property
    def idempotency_key(self) -> str:
        """`detail.idempotencyKey`, when the event has one (it may embed an address: never printed)."""
        event = self.event
        detail = event.get("detail") if isinstance(event, dict) else None
        key = detail.get("idempotencyKey") if isinstance(detail, dict) else None
        return key if isinstance(key, str) else ""

    def summary(self) -> dict[str, str]:
        """Everything about it that holds no address: ids, source, failure code, field, reason, time."""
        event = self.event if isinstance(self.event, dict) else {}
        return {
            "lane": self.lane,
            "message_id": self.message_id,
            "event_id": self.event_id,
            "source": str(event.get("source", "")),
            "detail_type": str(event.get("detail-type", "")),
            "code": self.code,
            "field": self.attribute("FailureField"),
            "reason": self.attribute("FailureReason") or self._eventbridge_reason() or (
                f"its receives ran out (the queue's redrive); search the logs for sqs_message_id {self.message_id}"
                if self.code == NO_CODE else ""),
            "failed_at": self.attribute("FailedAt"),
            "source_message_id": self.attribute("SourceMessageId"),
        }

    def _eventbridge_reason(self) -> str:
        """EventBridge's ERROR_MESSAGE, and which retry limit ran out, if it set them."""
        message, exhausted = self.attribute("ERROR_MESSAGE"), self.attribute("EXHAUSTED_RETRY_CONDITION")
        return f"{message} (retries ran out: {exhausted})" if message and exhausted else message

    def shown_event(self, show_addresses: bool) -> Any:
        """The event to print: whole with `show_addresses`, else with personal fields hidden."""
        event = self.event
        if show_addresses:
            return event if event is not None else self.body
        if event is None:
            return f"{HIDDEN} (not JSON, {len(self.body)} characters; --show-addresses prints it)"
        return redact(event)


@dataclass(frozen=True)
class Sample:
    """What a bounded peek at one dead-letter queue saw."""

    lane: str
    depth: int  # ApproximateNumberOfMessages: visible, waiting
    in_flight: int  # ApproximateNumberOfMessagesNotVisible: being read or moved right now
    letters: tuple[DeadLetter, ...]

    @property
    def complete(self) -> bool:
        return len(self.letters) >= self.depth

    def by_code(self) -> dict[str, int]:
        return dict(sorted(Counter(letter.code for letter in self.letters).items()))


def queue_depths(sqs: Any, url: str) -> dict[str, int]:
    """A queue's approximate counts: `visible`, `in_flight` and `delayed`."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def peek(sqs: Any, lane: str, url: str, *, max_receives: int = DEFAULT_MAX_RECEIVES) -> Sample:
    """Read a dead-letter queue without taking anything from it.

    Receives stop once as many distinct messages as the queue's depth are seen, when a receive
    returns nothing, or after `max_receives`.
    """
    depths = queue_depths(sqs, url)
    seen: dict[str, DeadLetter] = {}
    for message in _receive_visible(sqs, url, depths["visible"], max_receives):
        seen.setdefault(message["MessageId"], DeadLetter.from_message(lane, message))
        if len(seen) >= depths["visible"]:
            break
    return Sample(lane, depths["visible"], depths["in_flight"], tuple(seen.values()))


def _receive_visible(sqs: Any, url: str, depth: int, max_receives: int) -> Iterator[Mapping[str, Any]]:
    if depth <= 0:
        return
    for _receive in range(max_receives):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=_RECEIVE_BATCH, VisibilityTimeout=0, WaitTimeSeconds=0,
            MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return
        yield from messages


def redact(value: Any, *, personal: bool = False) -> Any:
    """An event with every address and template value replaced by `HIDDEN`; its shape is kept.

    Everything under `detail.emailConfig` and `detail.templateData` is personal; elsewhere any
    string with an `@` is taken for an address (an idempotency key may embed one).
    """
    if isinstance(value, dict):
        return {key: redact(item, personal=personal or key in _PERSONAL_FIELDS) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, personal=personal) for item in value]
    if isinstance(value, str) and (personal or "@" in value):
        return HIDDEN
    if personal and value is not None and not isinstance(value, bool):
        return HIDDEN
    return value
