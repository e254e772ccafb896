"""Where each email of a block goes, and pacing on without the schedule's table."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from structlog.testing import capture_logs

from ses_email_pipeline.handlers.pacing import FALLBACK_SECONDS, Pacing, slot_offsets
from ses_email_pipeline.handlers.schedule import SendSchedule, slot_interval
from tests.conftest import Lanes
from tests.handlers.test_schedule import START, Clock


def test_single_recipient_mail_is_sent_back_to_back() -> None:
    assert slot_offsets([1, 1, 1]) == (3, [0, 1, 2])


def test_a_multi_recipient_email_gets_room_before_it_so_no_second_holds_more_than_the_rate() -> None:
    # Two-recipient alerts: one free slot before the first, then one every two slots.
    assert slot_offsets([2, 2, 2]) == (7, [1, 3, 5])
    assert slot_offsets([1, 3, 1]) == (7, [0, 3, 6])


def _unavailable(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
    return (AWSResponse("https://dynamodb.test", 500, {}, None),
            {"Error": {"Code": "InternalServerError", "Message": "down"}, "ResponseMetadata": {"HTTPStatusCode": 500}})


def test_without_the_table_an_instance_paces_itself_at_its_share_and_tries_again_later(aws: Lanes) -> None:
    clock = Clock()
    pacing = Pacing(SendSchedule(aws.table, "test", aws.dynamodb, clock=clock, sleep=clock.sleep),
                    lambda: 10.0, fallback_share=0.25, urgent=False, clock=clock)
    aws.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", _unavailable)
    with capture_logs() as logs:
        first = pacing.book(2, START + 60)
        second = pacing.book(2, START + 60)
    aws.dynamodb.meta.events.unregister("before-call.dynamodb.UpdateItem", _unavailable)
    assert first is not None and second is not None
    assert second.start - first.start == pytest.approx(2 * slot_interval(2.5))  # 10/s x 0.25
    assert [line["event"] for line in logs] == ["send_schedule_unavailable"]  # once, not per booking
    clock.now += FALLBACK_SECONDS
    back = pacing.book(1, clock.now + 60)
    assert back is not None and back.interval == pytest.approx(slot_interval(10.0))  # the whole rate again
