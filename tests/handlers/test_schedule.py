"""The stack's send schedule: instances of every lane share one rate, alerts book first.

Every test books on a real (moto) DynamoDB table through the real client; time is a scripted
clock shared by the "instances", and faults are injected below the client with botocore hooks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from ses_email_pipeline.handlers.scheduling.schedule import (
    HORIZON_SECONDS,
    START_LEAD_SECONDS,
    Block,
    ScheduleUnavailable,
    SendSchedule,
    horizon_slots,
    slot_interval,
)
from tests.conftest import Lanes

RATE = 10.0
START = 1_800_000_000.0


@dataclass
class Clock:
    """One wall clock for every instance in a test; sleeping moves it on."""

    now: float = START
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Writes:
    """Counts the UpdateItem requests that reach DynamoDB: the coordination's cost."""

    count: int = 0

    def __call__(self, **_: Any) -> None:
        self.count += 1


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def writes(aws: Lanes) -> Iterator[Writes]:
    counter = Writes()
    aws.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", counter)
    yield counter
    aws.dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", counter)


def instance(aws: Lanes, clock: Clock) -> SendSchedule:
    """One lane instance's view of the stack's schedule (a container of its own)."""
    return SendSchedule(aws.table, "test", aws.dynamodb, clock=clock, sleep=clock.sleep)


def book(schedule: SendSchedule, size: int, *, urgent: bool, within: float = 60.0, clock: Clock) -> Block | None:
    return schedule.book(size, RATE, urgent=urgent, latest_start=clock.now + within)


def test_instances_book_back_to_back_blocks_that_never_overlap(aws: Lanes, clock: Clock, writes: Writes) -> None:
    first, second = instance(aws, clock), instance(aws, clock)
    blocks = [book(first, 3, urgent=True, clock=clock), book(second, 4, urgent=True, clock=clock),
              book(first, 2, urgent=True, clock=clock)]
    assert [block.start for block in blocks if block] == pytest.approx(
        [START, START + 3 * slot_interval(RATE), START + 7 * slot_interval(RATE)])
    # One write per booking, plus one conflict: the second instance first tried to start the
    # schedule (it did not know the first had), and the failed write told it where the schedule was.
    assert writes.count == 4


def test_an_idle_schedule_starts_a_block_now(aws: Lanes, clock: Clock) -> None:
    schedule = instance(aws, clock)
    book(schedule, 5, urgent=True, clock=clock)
    clock.now += 30  # the schedule ran dry long ago
    block = book(schedule, 5, urgent=True, clock=clock)
    assert block is not None and block.start == pytest.approx(clock.now)


def test_ordinary_mail_waits_without_writing_while_alerts_hold_the_schedule(
    aws: Lanes, clock: Clock, writes: Writes
) -> None:
    alerts, ordinary = instance(aws, clock), instance(aws, clock)
    alert_block = book(alerts, 20, urgent=True, clock=clock)  # two seconds of the account's rate
    assert alert_block is not None
    writes.count = 0
    block = book(ordinary, 1, urgent=False, clock=clock)
    assert block is not None and block.start == pytest.approx(alert_block.end)
    # Its first write (it assumed an idle schedule) failed and returned where the schedule was; it
    # slept until that came within the horizon, then booked with a second write.
    assert clock.sleeps == pytest.approx([alert_block.end - HORIZON_SECONDS - START - START_LEAD_SECONDS])
    assert writes.count == 2


def test_an_alert_books_past_any_horizon_at_once(aws: Lanes, clock: Clock) -> None:
    ordinary, alerts = instance(aws, clock), instance(aws, clock)
    book(ordinary, horizon_slots(RATE), urgent=False, clock=clock)
    block = book(alerts, 40, urgent=True, clock=clock)
    # behind the ordinary block: its lead and at most one horizon of slots
    assert block is not None and block.start <= START + START_LEAD_SECONDS + HORIZON_SECONDS + 1e-9
    assert clock.sleeps == []


def test_an_alert_waits_behind_at_most_two_horizons_of_ordinary_mail(aws: Lanes, clock: Clock) -> None:
    """However many ordinary instances keep booking, none books past the horizon."""
    ordinary = [instance(aws, clock) for _ in range(4)]
    for _ in range(5):
        for schedule in ordinary:
            book(schedule, horizon_slots(RATE), urgent=False, clock=clock)
    block = book(instance(aws, clock), 2, urgent=True, clock=clock)
    assert block is not None and block.start - clock.now <= 2 * HORIZON_SECONDS + START_LEAD_SECONDS + 1e-6


def test_no_block_when_it_cannot_end_before_the_deadline(aws: Lanes, clock: Clock) -> None:
    alerts = instance(aws, clock)
    book(alerts, 100, urgent=True, clock=clock)  # ten seconds booked
    assert book(alerts, 10, urgent=True, within=5.0, clock=clock) is None
    assert book(instance(aws, clock), 10, urgent=False, within=5.0, clock=clock) is None
    assert clock.sleeps == []  # it did not wait for a block it could not use


def test_a_schedule_pushed_far_ahead_by_a_skewed_clock_is_reset(aws: Lanes, clock: Clock) -> None:
    skewed = Clock(now=START + 7200)  # an instance whose clock is two hours fast
    book(instance(aws, skewed), 5, urgent=True, clock=skewed)
    schedule = instance(aws, clock)
    book(schedule, 1, urgent=True, clock=clock)  # learns the bad value
    block = book(schedule, 1, urgent=True, clock=clock)
    assert block is not None and block.start == pytest.approx(clock.now)


def test_a_failing_table_raises_schedule_unavailable_and_books_nothing(aws: Lanes, clock: Clock) -> None:
    def throttled(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return (AWSResponse("https://dynamodb.test", 400, {}, None),
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}})

    aws.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", throttled)
    try:
        with pytest.raises(ScheduleUnavailable) as raised:
            book(instance(aws, clock), 1, urgent=True, clock=clock)
    finally:
        aws.dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", throttled)
    assert raised.value.code == "ProvisionedThroughputExceededException"
    assert "Item" not in aws.dynamodb.get_item(TableName=aws.table, Key={"id": {"S": "test#send-schedule"}})


def test_horizon_slots_never_drop_below_one() -> None:
    assert horizon_slots(1.0) == 1
    assert horizon_slots(14.0) == 6
    assert horizon_slots(200.0) == 98


def test_ordinary_mail_keeps_waiting_behind_a_stream_of_alerts_instead_of_pacing_alone(aws: Lanes) -> None:
    """Failed writes while waiting for the horizon are not contention: no fallback off the schedule."""
    clock = Clock()
    alerts = instance(aws, clock)
    bursts = iter(range(30))

    def sleep_while_alerts_arrive(seconds: float) -> None:
        clock.sleep(seconds)
        if next(bursts, None) is not None:  # an alert burst lands while ordinary mail waits
            book(alerts, 3, urgent=True, clock=clock)

    book(alerts, 10, urgent=True, clock=clock)
    ordinary = SendSchedule(aws.table, "test", aws.dynamodb, clock=clock, sleep=sleep_while_alerts_arrive)
    block = ordinary.book(1, RATE, urgent=False, latest_start=clock.now + 60)
    assert block is not None  # 30 failed writes, each after a wait: it waited, it did not give up
    assert block.start >= START + (10 + 30 * 3) * slot_interval(RATE)
