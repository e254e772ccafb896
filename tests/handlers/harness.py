"""The one lane harness: a lane's handler run as Lambda runs it, on moto's queues and table.

It is built from the production wiring, never a copy of it: `LaneHarness.build` calls
`LaneHandler.build` (what `handlers.templated` and `handlers.priority` run) with test clients and,
for tests of timing, a scripted clock; `LaneHarness.as_deployed` calls the lane's `entry_point`,
which reads its settings from the environment as a deployed function does.

Which to pick:
- `build(..., FakeSes(...))`: the lane's own logic (fates, delays, pacing, repeated keys). Sends
  go in order on the calling thread and every sleep advances a scripted clock, so assertions on
  slots and waits are exact and nothing really sleeps.
- `as_deployed(...)` with a `ScriptedSes` behind a real botocore client: what depends on botocore
  or on parallel sends (unknown outcomes, retries in the call, the send gate). Real threads,
  real short sleeps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.sqs_events import lambda_event
from ses_email_pipeline.handlers.clients import Clients
from ses_email_pipeline.handlers.sending import lane
from ses_email_pipeline.handlers.sending.lane import Composer, LaneHandler
from ses_email_pipeline.handlers.shared.settings import Settings
from ses_email_pipeline.handlers.sqs_batch import PartialBatchResponse
from tests.conftest import FakeContext, Lanes
from tests.handlers.fakes import Recording

QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:lane"


class Clock:
    """Epoch seconds that move only when told to (or when the harness's scripted sleep runs)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class LaneHarness:
    lanes: Lanes
    ses: Any  # FakeSes, or the ScriptedSes behind `client`
    handler: Callable[[dict[str, Any], Any], PartialBatchResponse]
    sqs: Any
    clock: Clock
    client: Any = None  # the handler's botocore SES client (`as_deployed`), to hook its events
    sleeps: list[float] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, lanes: Lanes, settings: Settings, compose: Composer, ses: Any,
              sqs_fail: set[str] | None = None, late_wakeups: list[float] | None = None,
              parallel_sends: int = 1) -> LaneHarness:
        """The lane on a scripted clock: sends go in order on the calling thread, and sleeps advance the clock.

        `late_wakeups`: seconds the first sleeps overshoot by, one each (a thread that woke late).
        `parallel_sends` above 1 sends on threads (still on the scripted clock).
        """
        sqs = Recording(lanes.sqs, fail=sqs_fail)
        clock = Clock()
        sleeps: list[float] = []
        late = list(late_wakeups or [])

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            clock.now += seconds + (late.pop(0) if late else 0.0)

        handler = LaneHandler.build(settings, compose, Clients(ses=ses, dynamodb=lanes.dynamodb, sqs=sqs),
                                    clock=clock, sleep=sleep, parallel_sends=parallel_sends)
        return cls(lanes, ses, handler, sqs, clock, sleeps=sleeps)

    @classmethod
    def as_deployed(cls, lanes: Lanes, compose: Composer, scripted: Any, client: Any, clock: Clock,
                    sleep: Callable[[float], None] = time.sleep) -> LaneHarness:
        """The lane as its function runs it: settings from the environment (set by the test), parallel sends."""
        handler = lane.entry_point(compose, Clients(ses=client, sqs=lanes.sqs, dynamodb=lanes.dynamodb), clock=clock,
                                   sleep=sleep)
        return cls(lanes, scripted, handler, lanes.sqs, clock, client=client)

    def enqueue(self, *bodies: dict[str, Any] | str) -> None:
        for body in bodies:
            self.lanes.sqs.send_message(
                QueueUrl=self.lanes.queue_url, MessageBody=body if isinstance(body, str) else json.dumps(body)
            )

    def receive(self) -> dict[str, Any]:
        """Receive up to 10 visible messages as a Lambda SQS event (in enqueue order)."""
        messages = self.lanes.sqs.receive_message(
            QueueUrl=self.lanes.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return lambda_event(messages, QUEUE_ARN)

    def run(self, event: dict[str, Any], context: Any | None = None) -> PartialBatchResponse:
        """Invoke the handler once; the messages stay as they are (see `deliver` for what the mapping does)."""
        return self.handler(event, context or FakeContext())

    def deliver(self, event: dict[str, Any], remaining_ms: int = 60_000) -> list[str]:
        """Invoke once as the event source mapping does: delete what succeeded; return the ids kept."""
        response = self.run(event, FakeContext(remaining_ms=remaining_ms))
        kept = self.failed_ids(response)
        for record in event["Records"]:
            if record["messageId"] in kept:
                self.kept.append(record["receiptHandle"])
            else:
                self.lanes.sqs.delete_message(QueueUrl=self.lanes.queue_url, ReceiptHandle=record["receiptHandle"])
        return kept

    def redeliver(self) -> dict[str, Any]:
        """The kept messages, once their retry delay has passed."""
        for handle in self.kept:
            self.lanes.sqs.change_message_visibility(QueueUrl=self.lanes.queue_url, ReceiptHandle=handle,
                                                     VisibilityTimeout=0)
        self.kept.clear()
        return self.receive()

    def dead_letters(self) -> list[dict[str, str]]:
        return [letter["attributes"] for letter in self.lanes.dead_letters()]

    @staticmethod
    def failed_ids(response: PartialBatchResponse) -> list[str]:
        return [item["itemIdentifier"] for item in response["batchItemFailures"]]

    def visibility_delays(self) -> list[int]:
        return [entry["VisibilityTimeout"]
                for call in self.sqs.named("change_message_visibility_batch") for entry in call["Entries"]]

    def visible_count(self) -> int:
        attributes = self.lanes.sqs.get_queue_attributes(
            QueueUrl=self.lanes.queue_url, AttributeNames=["ApproximateNumberOfMessages",
                                                          "ApproximateNumberOfMessagesNotVisible"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])
