"""Delivery semantics of an SQS lane: partial batches, dead letters, retries, halts, duplicates."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from ses_email_pipeline.handlers import log, templated
from ses_email_pipeline.queries import PACING_FIELDS
from ses_email_pipeline.handlers.sqs_batch import retry_delay
from ses_email_pipeline.handlers.scheduling.schedule import START_LEAD_SECONDS, slot_interval
from ses_email_pipeline.handlers.shared.settings import DEFAULT_MAX_RECEIVE_COUNT, Settings
from tests.conftest import FakeContext, Lanes, load_event
from tests.handlers.fakes import FakeSes, client_error
from tests.handlers.harness import LaneHarness


def event(name: str = "email_notification", **detail: Any) -> dict[str, Any]:
    sample = load_event(name)
    sample["detail"].update(detail)
    return sample


def numbered(index: int) -> dict[str, Any]:
    sample = event()
    sample["id"] = f"event-{index}"
    return sample


@pytest.fixture
def harness(aws: Lanes, make_settings: Callable[..., Settings]) -> Callable[..., LaneHarness]:
    def build(*outcomes: Any, sqs_fail: set[str] | None = None, late_wakeups: list[float] | None = None,
              parallel_sends: int = 1, **overrides: Any) -> LaneHarness:
        return LaneHarness.build(aws, make_settings(aws, **overrides), templated.compose, FakeSes(outcomes),
                                 sqs_fail=sqs_fail, late_wakeups=late_wakeups, parallel_sends=parallel_sends)
    return build


def test_good_event_is_sent_with_the_default_template(harness: Callable[..., LaneHarness]) -> None:
    lane = harness()
    lane.enqueue(event())
    response = lane.run(lane.receive())
    assert response == {"batchItemFailures": []}
    [sent] = lane.ses.sent
    assert sent["Content"]["Template"]["TemplateName"] == "email-test-notification-v1"
    assert sent["Destination"] == {"ToAddresses": ["test-recipient@example.com"]}


def test_poison_message_is_dead_lettered_with_its_reason_and_does_not_block_the_batch(
    harness: Callable[..., LaneHarness], aws: Lanes
) -> None:
    lane = harness()
    lane.enqueue(numbered(1), load_event("invalid"), numbered(2), "{not json")
    response = lane.run(lane.receive())
    assert response == {"batchItemFailures": []}  # all four leave the lane: two sent, two dead-lettered
    assert len(lane.ses.sent) == 2
    letters = aws.dead_letters()
    reasons = sorted((d["attributes"]["FailureField"], d["attributes"]["FailureCode"]) for d in letters)
    assert reasons == [("body", "InvalidEvent"), ("detail.emailConfig.recipient", "InvalidEvent")]
    invalid = next(d for d in letters if d["attributes"]["FailureField"] != "body")
    assert invalid["body"]["detail"] == {"invalidField": "test"}  # the original event, replayable
    assert "missing" in invalid["attributes"]["FailureReason"]
    assert invalid["attributes"]["Lane"] == "normal"


def test_permanent_ses_rejection_goes_to_the_dlq_at_once(harness: Callable[..., LaneHarness], aws: Lanes) -> None:
    lane = harness(client_error("MessageRejected"))
    lane.enqueue(event())
    response = lane.run(lane.receive())
    assert response == {"batchItemFailures": []}
    [letter] = aws.dead_letters()
    assert letter["attributes"]["FailureCode"] == "MessageRejected"
    assert "victim@example.com" not in json.dumps(letter["attributes"])  # SES's message is not copied


@pytest.mark.parametrize("code,status", [("ServiceUnavailable", 503), ("InternalFailure", 503)])
def test_transient_error_keeps_the_message_with_a_delay(
    harness: Callable[..., LaneHarness], code: str, status: int
) -> None:
    lane = harness(client_error(code, status), client_error(code, status))  # the call's retry fails too
    lane.enqueue(numbered(1), numbered(2))
    batch = lane.receive()
    response = lane.run(batch)
    assert lane.failed_ids(response) == [batch["Records"][0]["messageId"]]
    assert len(lane.ses.sent) == 1  # a 5xx does not stop the batch
    assert lane.visibility_delays() == [30]


def test_retry_delay_grows_with_each_receive() -> None:
    delays = [retry_delay(count, 30, 900) for count in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]


def test_ten_minutes_of_throttling_dead_letters_nothing() -> None:
    """A message throttled on every receive outlives a 10-minute throttle before redrive."""
    survived = sum(retry_delay(count, 30, 900) for count in range(1, DEFAULT_MAX_RECEIVE_COUNT))
    assert survived > 600


def test_a_throttle_that_persists_backs_off_the_rest_of_the_batch(harness: Callable[..., LaneHarness]) -> None:
    lane = harness(client_error("TooManyRequestsException", 429), client_error("TooManyRequestsException", 429))
    lane.enqueue(numbered(1), numbered(2), numbered(3))
    batch = lane.receive()
    response = lane.run(batch)
    assert len(lane.failed_ids(response)) == 3
    assert lane.ses.attempts == 2  # the first email and its retry; the others were not attempted
    assert lane.visibility_delays() == [30, 30, 30]


def test_a_single_throttle_is_sent_again_at_a_new_slot(harness: Callable[..., LaneHarness]) -> None:
    """SES refused it, so nothing went out; it books a slot after the batch's and goes on."""
    lane = harness(client_error("TooManyRequestsException", 429))
    lane.enqueue(numbered(1), numbered(2), numbered(3))
    response = lane.run(lane.receive())
    assert lane.failed_ids(response) == []
    assert len(lane.ses.sent) == 3 and lane.ses.attempts == 4
    # Each wait is a fresh slot's lead: the retry's, then, since this harness sends in order, the
    # other two, whose slots passed during the retry (a send never goes out late: it books again).
    assert lane.sleeps == pytest.approx([START_LEAD_SECONDS] * 4)


def test_a_send_that_would_leave_late_books_a_new_slot_and_its_line_says_so(
        harness: Callable[..., LaneHarness]) -> None:
    """A thread that woke 50 ms after its slot would land beside the next slot's send: it goes at a new one."""
    lane = harness(late_wakeups=[0.050])
    lane.enqueue(numbered(1))
    with log.capture() as logs:
        response = lane.run(lane.receive())
    assert lane.failed_ids(response) == [] and lane.ses.attempts == 1  # never sent late, sent once
    [sent] = [line for line in logs if line["event"] == "email_sent"]
    assert sent["rebookings"] == 1 and sent["slot_late_ms"] == 0.0
    assert lane.sleeps == pytest.approx([START_LEAD_SECONDS] * 2)  # the first slot's lead, then the new one's


def test_a_batch_larger_than_its_parallel_sends_is_booked_in_pieces_and_all_sent(
        harness: Callable[..., LaneHarness]) -> None:
    """A block is booked once all its emails are ready; with 5 emails and 2 threads it must not wait for all 5."""
    lane = harness(parallel_sends=2)
    lane.enqueue(*(numbered(index) for index in range(5)))
    responses: list[Any] = []
    runner = threading.Thread(target=lambda: responses.append(lane.run(lane.receive())), daemon=True)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "the batch never finished: a booking waited for emails with no thread to run on"
    assert lane.failed_ids(responses[0]) == [] and len(lane.ses.sent) == 5


def test_a_send_a_little_late_goes_and_its_lateness_is_logged(harness: Callable[..., LaneHarness]) -> None:
    lane = harness(late_wakeups=[0.012])  # within the schedule's allowance (2% of a second)
    lane.enqueue(numbered(1))
    with log.capture() as logs:
        lane.run(lane.receive())
    [sent] = [line for line in logs if line["event"] == "email_sent"]
    assert (sent["slot_late_ms"], sent["rebookings"]) == (12.0, 0)
    # what the stack's saved pacing query reads (Monitoring's `pacing-by-lane`): numbers, on this line
    assert all(isinstance(sent[field], (int, float)) for field in PACING_FIELDS if field != "lane")
    assert sent["lane"] == "normal"


def test_halt_keeps_every_message_and_attempts_nothing_more(
    harness: Callable[..., LaneHarness], aws: Lanes
) -> None:
    lane = harness(client_error("SendingPausedException"))
    lane.enqueue(numbered(1), numbered(2), numbered(3))
    batch = lane.receive()
    with log.capture() as logs:
        response = lane.run(batch)
    assert len(lane.failed_ids(response)) == 3
    assert lane.ses.attempts == 1
    assert aws.dead_letters() == []
    assert lane.visibility_delays() == [900, 900, 900]
    assert [line["event"] for line in logs].count("ses_sending_paused") == 1


def on_receive(batch: dict[str, Any], count: int) -> dict[str, Any]:
    """The batch as Lambda delivers it on the messages' `count`th receive."""
    for record in batch["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = str(count)
    return batch


def test_halted_mail_on_its_last_receive_is_dead_lettered_with_the_halts_code(
    harness: Callable[..., LaneHarness], aws: Lanes
) -> None:
    """Kept once more, SQS would dead-letter it on the next receive without a reason `dlq redrive --code` finds."""
    lane = harness(client_error("SendingPausedException"))
    lane.enqueue(numbered(1), numbered(2))
    with log.capture() as logs:
        response = lane.run(on_receive(lane.receive(), DEFAULT_MAX_RECEIVE_COUNT))
    assert lane.failed_ids(response) == []
    letters = aws.dead_letters()
    assert [letter["attributes"]["FailureCode"] for letter in letters] == ["SendingPausedException"] * 2
    assert all("kept through its 8 receives" in letter["attributes"]["FailureReason"] for letter in letters)
    assert [line["error_code"] for line in logs if line["event"] == "receives_exhausted"] == \
        ["SendingPausedException"] * 2


def test_halted_mail_before_its_last_receive_is_kept(harness: Callable[..., LaneHarness], aws: Lanes) -> None:
    lane = harness(client_error("SendingPausedException"))
    lane.enqueue(numbered(1))
    response = lane.run(on_receive(lane.receive(), DEFAULT_MAX_RECEIVE_COUNT - 1))
    assert len(lane.failed_ids(response)) == 1 and aws.dead_letters() == []


def test_suspended_account_is_a_halt(harness: Callable[..., LaneHarness]) -> None:
    lane = harness(client_error("AccountSuspendedException"))
    lane.enqueue(numbered(1), numbered(2))
    assert len(lane.failed_ids(lane.run(lane.receive()))) == 2
    assert lane.ses.attempts == 1


def test_daily_quota_defers_the_batch_to_a_later_redelivery(harness: Callable[..., LaneHarness]) -> None:
    lane = harness(client_error("LimitExceededException"))
    lane.enqueue(numbered(1), numbered(2))
    response = lane.run(lane.receive())
    assert len(lane.failed_ids(response)) == 2
    assert lane.ses.attempts == 1
    assert lane.visibility_delays() == [900, 900]


def test_near_timeout_no_new_send_starts(harness: Callable[..., LaneHarness]) -> None:
    lane = harness()
    lane.enqueue(numbered(1), numbered(2), numbered(3))
    batch = lane.receive()

    class ShrinkingContext(FakeContext):
        def get_remaining_time_in_millis(self) -> int:
            # 30 s left before the first send, then 20 s: below the worst case of one send.
            return 30_000 if not lane.ses.sent else 20_000

    response = lane.run(batch, ShrinkingContext())
    assert len(lane.ses.sent) == 1
    assert lane.failed_ids(response) == [r["messageId"] for r in batch["Records"][1:]]
    assert lane.visibility_delays() == [0, 0]  # nothing wrong with them: next invocation takes them


def test_same_event_delivered_twice_is_sent_once(harness: Callable[..., LaneHarness]) -> None:
    lane = harness()
    lane.enqueue(event())
    lane.run(lane.receive())
    lane.enqueue(event())  # an EventBridge retry or archive replay: same event id
    with log.capture() as logs:
        response = lane.run(lane.receive())
    assert response == {"batchItemFailures": []}
    assert len(lane.ses.sent) == 1
    assert "email_duplicate_skipped" in [line["event"] for line in logs]


def test_idempotency_key_in_the_event_wins_over_the_event_id(harness: Callable[..., LaneHarness]) -> None:
    lane = harness()
    first, second = numbered(1), numbered(2)
    for sample in (first, second):
        sample["detail"]["idempotencyKey"] = "password-reset-42"
    lane.enqueue(first, second)
    lane.run(lane.receive())
    assert len(lane.ses.sent) == 1


def test_failed_send_can_be_retried_later(harness: Callable[..., LaneHarness]) -> None:
    """A send that failed leaves no idempotency record behind, so the redelivery sends."""
    lane = harness(client_error("ServiceUnavailable", 503))
    lane.enqueue(event())
    first = lane.receive()
    lane.run(first)
    redelivery = first  # same body and event id, as SQS would redeliver it
    response = lane.run(redelivery)
    assert response == {"batchItemFailures": []}
    assert len(lane.ses.sent) == 1


def test_dead_letter_forward_failure_keeps_the_message(harness: Callable[..., LaneHarness]) -> None:
    lane = harness(sqs_fail={"send_message"})
    lane.enqueue(load_event("invalid"))
    batch = lane.receive()
    response = lane.run(batch)
    assert lane.failed_ids(response) == [batch["Records"][0]["messageId"]]


def test_a_batch_is_sent_at_its_booked_slots_spaced_by_recipients_at_the_account_rate(
    harness: Callable[..., LaneHarness]
) -> None:
    """1000/s account: two-recipient emails go one free slot in, then every two slots."""
    lane = harness()
    lane.enqueue(*[event(emailConfig={"recipient": ["a@example.com", "b@example.com"]}, idempotencyKey=f"k{i}")
                   for i in range(3)])
    lane.run(lane.receive())
    assert len(lane.ses.sent) == 3
    interval = slot_interval(1000.0)
    assert lane.sleeps == pytest.approx([START_LEAD_SECONDS + interval, 2 * interval, 2 * interval])


def test_the_account_rate_is_shared_by_instances_of_different_lanes(
    harness: Callable[..., LaneHarness]
) -> None:
    """An alert instance books right after the slots an ordinary instance already holds."""
    normal = harness()
    alerts = harness(lane="priority", lane_urgent=True)
    normal.enqueue(*[numbered(index) for index in range(3)])
    normal.run(normal.receive())
    assert len(normal.ses.sent) == 3
    alerts.enqueue(numbered(99))
    alerts.run(alerts.receive())  # at the same moment as the ordinary batch began
    assert alerts.sleeps == pytest.approx([START_LEAD_SECONDS + 3 * slot_interval(1000.0)])


def test_recipient_outside_the_allowlist_is_dead_lettered(harness: Callable[..., LaneHarness], aws: Lanes) -> None:
    lane = harness(recipient_allowlist=("@mail.example.com",))
    lane.enqueue(event())
    lane.run(lane.receive())
    assert lane.ses.sent == []
    assert "allowlist" in aws.dead_letters()[0]["attributes"]["FailureReason"]
