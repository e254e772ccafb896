"""Where each email of a block goes, and pacing on without the schedule's table."""

from __future__ import annotations

import random
from fractions import Fraction
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from ses_email_pipeline.handlers import log
from ses_email_pipeline.handlers.scheduling.pacing import FALLBACK_SECONDS, Pacing, slot_offsets
from ses_email_pipeline.handlers.scheduling.schedule import SendSchedule, slot_interval
from tests.conftest import Lanes
from tests.handlers.test_schedule import START, Clock


def test_single_recipient_mail_is_sent_back_to_back() -> None:
    assert slot_offsets([1, 1, 1], 14) == (3, [0, 1, 2])


def test_a_multi_recipient_email_gets_room_before_it_so_no_second_holds_more_than_the_rate() -> None:
    # A send of k recipients after anything else: k - 1 free slots before it.
    assert slot_offsets([1, 3, 1], 14) == (7, [0, 3, 6])
    # A run of equal sends: spaced so that n of them in any second are at most R.
    assert slot_offsets([2, 2, 2], 14) == (7, [1, 3, 5])  # 7 a second x 2 = 14
    assert slot_offsets([3, 3, 3], 14) == (13, [2, 6, 10])  # 4 a second x 3 = 12 (5 x 3 would be 15)
    assert slot_offsets([2, 2], 13) == (6, [1, 4])  # 6 a second x 2 = 12 (7 x 2 would be 14)


def test_no_second_ever_holds_more_than_the_rate_whoever_books_around_a_block() -> None:
    """Blocks of random sizes from several instances, back to back: every sliding second is checked."""
    rng = random.Random(7)
    for _ in range(3000):
        rate = rng.randint(1, 60)
        slot, position, sends = Fraction(102, 100) / rate, 0, []
        for _block in range(rng.randint(1, 5)):
            largest = max(1, min(rate, 6))
            counts = ([rng.randint(1, largest)] * rng.randint(1, 6) if rng.random() < 0.5
                      else [rng.choice([1, rng.randint(1, largest)]) for _ in range(rng.randint(1, 6))])
            size, offsets = slot_offsets(counts, rate)
            sends += [((position + offset) * slot, count) for count, offset in zip(counts, offsets)]
            position += size
        for at, _count in sends:
            assert sum(count for when, count in sends if at - 1 < when <= at) <= rate


def _unavailable(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
    return (AWSResponse("https://dynamodb.test", 500, {}, None),
            {"Error": {"Code": "InternalServerError", "Message": "down"}, "ResponseMetadata": {"HTTPStatusCode": 500}})


def test_without_the_table_an_instance_paces_itself_at_its_share_and_tries_again_later(aws: Lanes) -> None:
    clock = Clock()
    pacing = Pacing(SendSchedule(aws.table, "test", aws.dynamodb, clock=clock, sleep=clock.sleep),
                    lambda: 10.0, fallback_share=0.25, urgent=False, clock=clock)
    aws.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", _unavailable)
    with log.capture() as logs:
        first = pacing.book(2, START + 60)
        second = pacing.book(2, START + 60)
    aws.dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", _unavailable)
    assert first is not None and second is not None
    assert second.start - first.start == pytest.approx(2 * slot_interval(2.5))  # 10/s x 0.25
    assert [line["event"] for line in logs] == ["send_schedule_unavailable"]  # once, not per booking
    clock.now += FALLBACK_SECONDS
    back = pacing.book(1, clock.now + 60)
    assert back is not None and back.interval == pytest.approx(slot_interval(10.0))  # the whole rate again
