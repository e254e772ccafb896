"""Runs a lane's handler the way Lambda would: real (moto) queues, scripted SES, a fake context."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ses_email_pipeline.handlers.idempotency.once_only import OnceOnly
from ses_email_pipeline.handlers.sending.lane import Composer, LaneProcessor, PartialBatchResponse
from ses_email_pipeline.handlers.scheduling.pacing import Pacing, fallback_share
from ses_email_pipeline.handlers.scheduling.schedule import SendSchedule
from ses_email_pipeline.handlers.sending.ses import SesSender
from ses_email_pipeline.handlers.shared.settings import Settings
from local.sqs_events import lambda_event
from tests.conftest import FakeContext, Lanes
from tests.handlers.fakes import FakeSes, Recording


@dataclass
class LaneHarness:
    lanes: Lanes
    settings: Settings
    ses: FakeSes
    sqs: Recording
    processor: LaneProcessor
    sleeps: list[float] = field(default_factory=list)
    clock: list[float] = field(default_factory=lambda: [1_000_000.0])

    @classmethod
    def build(cls, lanes: Lanes, settings: Settings, compose: Composer, ses: FakeSes,
              sqs_fail: set[str] | None = None, dynamodb: Any = None) -> LaneHarness:
        """A lane on a scripted clock: sends go in order on the calling thread, and sleeps advance the clock.

        `dynamodb` replaces the moto client the send schedule uses (to inject its faults).
        """
        sqs = Recording(lanes.sqs, fail=sqs_fail)
        sleeps: list[float] = []
        clock = [1_000_000.0]

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            clock[0] += seconds

        def now() -> float:
            return clock[0]

        sender = SesSender(settings, ses, clock=now, sleep=lambda seconds: None)  # its retry's backoff
        once = OnceOnly(settings.state_table, settings.record_ttl_seconds,
                        f"{settings.stack}.{settings.lane}", lanes.dynamodb)
        schedule = SendSchedule(settings.state_table, settings.stack, dynamodb or lanes.dynamodb, clock=now,
                                sleep=sleep)
        pacing = Pacing(schedule, sender.send_rate, fallback_share(settings), urgent=settings.lane_urgent, clock=now)
        processor = LaneProcessor(settings, compose, sender, once, sqs, pacing, clock=now, sleep=sleep,
                                  parallel_sends=1)
        return cls(lanes, settings, ses, sqs, processor, sleeps, clock)

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
        return lambda_event(messages, "arn:aws:sqs:eu-west-1:123456789012:lane")

    def run(self, event: dict[str, Any], context: Any | None = None) -> PartialBatchResponse:
        return self.processor.handle(event, context or FakeContext())

    def failed_ids(self, response: PartialBatchResponse) -> list[str]:
        return [item["itemIdentifier"] for item in response["batchItemFailures"]]

    def visibility_delays(self) -> list[int]:
        return [entry["VisibilityTimeout"]
                for call in self.sqs.named("change_message_visibility_batch") for entry in call["Entries"]]

    def visible_count(self) -> int:
        attributes = self.lanes.sqs.get_queue_attributes(
            QueueUrl=self.lanes.queue_url, AttributeNames=["ApproximateNumberOfMessages",
                                                          "ApproximateNumberOfMessagesNotVisible"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])
