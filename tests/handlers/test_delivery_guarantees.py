"""Nothing lost, nothing sent twice by accident, no value in a log: the lanes' edges, end to end.

Each test drives a lane's handler entry point (`lane.entry_point`, as `handlers.templated` and
`handlers.priority` build theirs) with a real botocore SES v2 client whose HTTP layer is replaced
by a `before-send` hook: SES itself is scripted below the project, so botocore's request handling,
the send module's one retry of what SES cannot have acted on, the batch's send gate and the error
taxonomy all run as they would against AWS. Queues and the state table are moto's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from ses_email_pipeline.email_sender import DEFAULT_LANES
from ses_email_pipeline.handlers import aws, log, priority, templated
from ses_email_pipeline.handlers.clients import Clients
from ses_email_pipeline.handlers.scheduling.schedule import MAX_LATENESS_SECONDS, START_LEAD_SECONDS
from ses_email_pipeline.handlers.shared import timeouts
from ses_email_pipeline.handlers.shared.settings import Env
from local.sqs_events import lambda_event, received_message
from tests.conftest import HASH_KEY, FakeContext, Lanes, load_event
from tests.handlers.fakes import LambdaKilled, ScriptedSes, scripted_client
from tests.handlers.harness import Clock, LaneHarness

FUNCTION_TIMEOUT_MS = 60_000
DEFAULT_DELIVERY = {lane.name: lane.delivery.value for lane in DEFAULT_LANES}
URGENT = {lane.name: lane.urgent for lane in DEFAULT_LANES}


@pytest.fixture
def environment(aws: Lanes, catalog: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        Env.STACK: "test", Env.SENDER: "Notifications <no-reply@mail.example.com>",
        Env.CONFIGURATION_SET: "email-test", Env.RECIPIENT_HASH_KEY: HASH_KEY, Env.TEMPLATES: catalog,
        Env.QUEUE_URL: aws.queue_url, Env.DEAD_LETTER_QUEUE_URL: aws.dlq_url, Env.STATE_TABLE: aws.table,
        Env.ONCALL_RECIPIENTS: "oncall@ops.example.com", Env.METRICS_NAMESPACE: "EmailPipeline/test",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def make_lane(aws: Lanes, environment: None, monkeypatch: pytest.MonkeyPatch) -> Callable[..., LaneHarness]:
    def build(*script: str, lane_name: str = "normal", delivery: str | None = None,
              sleep: Callable[[float], None] = time.sleep) -> LaneHarness:
        module = priority if lane_name == "priority" else templated
        monkeypatch.setenv(Env.LANE, lane_name)
        # As EmailSender declares it: the priority lane is at least once, the normal lane at most.
        monkeypatch.setenv(Env.LANE_DELIVERY, delivery or DEFAULT_DELIVERY[lane_name])
        monkeypatch.setenv(Env.LANE_URGENT, "true" if URGENT[lane_name] else "false")
        scripted, clock = ScriptedSes(list(script)), Clock(1_800_000_000.0)
        return LaneHarness.as_deployed(aws, module.compose, scripted, scripted_client(scripted, monkeypatch), clock,
                                       sleep=sleep)

    return build


def alert(priority_value: str = "high") -> dict[str, Any]:
    sample = load_event("priority_alert")
    sample["detail"]["priority"] = priority_value
    return sample


# --- ambiguous outcomes ---------------------------------------------------------------------------


def test_an_unanswered_send_is_not_retried_and_an_at_most_once_lane_dead_letters_it(
    make_lane: Callable[..., LaneHarness],
) -> None:
    normal = make_lane("accept-no-answer")
    normal.enqueue(load_event("email_notification"))
    with log.capture() as logs:
        assert normal.deliver(normal.receive()) == []
    assert normal.ses.attempts == 1 and len(normal.ses.delivered) == 1  # botocore did not retry it
    [letter] = normal.dead_letters()
    assert (letter["FailureCode"], letter["FailureField"]) == ("OutcomeUnknown", "no_response")
    assert [(line["cause"], line["decision"]) for line in logs if line["event"] == "email_outcome_unknown"] == [
        ("no_response", "dead_letter")]


def test_an_unanswered_send_returning_later_is_dead_lettered_again_never_resent(
    make_lane: Callable[..., LaneHarness],
) -> None:
    normal = make_lane("accept-no-answer")
    normal.enqueue(load_event("email_notification"))
    normal.deliver(normal.receive())
    normal.enqueue(load_event("email_notification"))  # an EventBridge retry or a replay: same event id
    assert normal.deliver(normal.receive()) == []
    assert len(normal.ses.delivered) == 1
    assert [letter["FailureCode"] for letter in normal.dead_letters()] == ["OutcomeUnknown", "OutcomeUnknown"]


def test_an_unanswered_alert_is_sent_again_on_an_at_least_once_lane(make_lane: Callable[..., LaneHarness]) -> None:
    alerts = make_lane("accept-no-answer", lane_name="priority")
    alerts.enqueue(alert())
    first = alerts.receive()
    with log.capture() as logs:
        assert alerts.deliver(first) == [first["Records"][0]["messageId"]]  # kept, with a retry delay
        assert alerts.deliver(alerts.redeliver()) == []
    assert len(alerts.ses.delivered) == 2  # at least once: a second copy beats none
    assert alerts.dead_letters() == []
    assert [line["decision"] for line in logs if line["event"] == "email_outcome_unknown"] == ["retry"]


def test_a_function_killed_after_ses_accepted_never_silently_sends_again(make_lane: Callable[..., LaneHarness]) -> None:
    normal = make_lane("accept-then-die")
    normal.enqueue(load_event("email_notification"))
    batch = normal.receive()
    with pytest.raises(LambdaKilled):
        normal.deliver(batch)
    normal.clock.now += 6 * FUNCTION_TIMEOUT_MS / 1000  # SQS redelivers after the visibility timeout
    normal.kept.append(batch["Records"][0]["receiptHandle"])
    assert normal.deliver(normal.redeliver()) == []
    assert len(normal.ses.delivered) == 1
    [letter] = normal.dead_letters()
    assert (letter["FailureCode"], letter["FailureField"]) == ("OutcomeUnknown", "claim_never_completed")


def test_a_killed_alert_is_sent_again_and_counted(make_lane: Callable[..., LaneHarness]) -> None:
    alerts = make_lane("accept-then-die", lane_name="priority")
    alerts.enqueue(alert())
    batch = alerts.receive()
    with pytest.raises(LambdaKilled):
        alerts.deliver(batch)
    alerts.clock.now += 6 * FUNCTION_TIMEOUT_MS / 1000
    alerts.kept.append(batch["Records"][0]["receiptHandle"])
    with log.capture() as logs:
        assert alerts.deliver(alerts.redeliver()) == []
    assert len(alerts.ses.delivered) == 2
    assert [(line["cause"], line["decision"]) for line in logs if line["event"] == "email_outcome_unknown"] == [
        ("claim_never_completed", "resend")]


def test_a_send_whose_completion_was_not_recorded_is_not_sent_again_when_the_event_returns(
    make_lane: Callable[..., LaneHarness], aws: Lanes
) -> None:
    def refuse_record(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        # The batch's record of what it sent. A `before-call` answer short-circuits the request,
        # as botocore's Stubber does; None lets every other write through.
        if "#batch#" not in json.loads(params["body"])["Item"]["id"]["S"]:
            return None
        return (AWSResponse("https://dynamodb.test", 500, {}, None),
                {"Error": {"Code": "InternalServerError", "Message": "refused"},
                 "ResponseMetadata": {"HTTPStatusCode": 500}})

    normal = make_lane()
    aws.dynamodb.meta.events.register("before-call.dynamodb.PutItem", refuse_record)
    normal.enqueue(load_event("email_notification"))
    with log.capture() as logs:
        assert normal.deliver(normal.receive()) == []  # it was sent: the message is done
    aws.dynamodb.meta.events.unregister("before-call.dynamodb.PutItem", refuse_record)
    assert [line["event"] for line in logs if line["log_level"] == "warning"] == ["idempotency_record_not_saved"]
    normal.clock.now += 3600  # the same event, replayed from the archive an hour later
    normal.enqueue(load_event("email_notification"))
    assert normal.deliver(normal.receive()) == []
    assert len(normal.ses.delivered) == 1
    [letter] = normal.dead_letters()
    assert letter["FailureCode"] == "OutcomeUnknown"


def test_redriving_an_unknown_outcome_dead_letter_is_the_decision_to_send_it(
    make_lane: Callable[..., LaneHarness], aws: Lanes
) -> None:
    normal = make_lane("accept-no-answer")
    normal.enqueue(load_event("email_notification"))
    normal.deliver(normal.receive())
    [letter] = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MessageAttributeNames=["All"])["Messages"]
    # What `email-pipeline dlq redrive` does: the body and every attribute back on the lane.
    aws.sqs.send_message(QueueUrl=aws.queue_url, MessageBody=letter["Body"],
                         MessageAttributes=letter["MessageAttributes"])
    assert normal.deliver(normal.receive()) == []
    assert len(normal.ses.delivered) == 2


def test_a_503_proves_nothing_was_sent_and_is_retried_in_the_call(make_lane: Callable[..., LaneHarness]) -> None:
    normal = make_lane("unavailable")
    normal.enqueue(load_event("email_notification"))
    assert normal.deliver(normal.receive()) == []
    assert normal.ses.attempts == 2 and len(normal.ses.delivered) == 1


def test_ses_answering_without_a_message_id_is_an_unknown_outcome(make_lane: Callable[..., LaneHarness]) -> None:
    normal = make_lane("accept-no-id")
    normal.enqueue(load_event("email_notification"))
    assert normal.deliver(normal.receive()) == []
    [letter] = normal.dead_letters()
    assert (letter["FailureCode"], letter["FailureField"]) == ("OutcomeUnknown", "unexpected_error")


# --- the time guard -------------------------------------------------------------------------------


def test_the_reserve_is_the_worst_case_of_the_real_clients() -> None:
    """Every attempt at the configured timeouts, plus the backoff, for the send and its record."""
    from ses_email_pipeline.handlers.idempotency import once_only

    # The SES client makes one attempt; SesSender.send makes the SES_SEND.attempts (see handlers.ses).
    for client, limits, attempts in (
            (aws.create_ses_client("eu-west-1"), timeouts.SES_SEND, 1),
            (aws.create_dynamodb_client("eu-west-1"), timeouts.STATE_TABLE,
             timeouts.STATE_TABLE.attempts)):
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]) == (
            limits.connect_timeout, limits.read_timeout, attempts)
    assert timeouts.SES_SEND.worst_case_seconds() == 2 * (2 + 5) + 1
    assert timeouts.SEND_RESERVE_SECONDS == 15 + 3 * (1 + 1) + (1 + 2)


@pytest.mark.parametrize(("spare_ms", "sent"), [(-1, 0), (0, 1)])
def test_a_send_starts_only_with_its_worst_case_in_hand(
    make_lane: Callable[..., LaneHarness], spare_ms: int, sent: int
) -> None:
    normal = make_lane()
    normal.enqueue(load_event("email_notification"))
    batch = normal.receive()
    # Its slot starts START_LEAD_SECONDS after the booking (the claim runs in between), and may
    # leave up to MAX_LATENESS_SECONDS late.
    needed_ms = round((timeouts.SEND_RESERVE_SECONDS + START_LEAD_SECONDS + MAX_LATENESS_SECONDS) * 1000)
    kept = normal.deliver(batch, remaining_ms=needed_ms + spare_ms)
    assert len(normal.ses.delivered) == sent
    assert len(kept) == 1 - sent


# --- one record never fails a batch ---------------------------------------------------------------


def test_a_body_nested_too_deeply_is_dead_lettered_and_its_neighbours_are_sent(
    make_lane: Callable[..., LaneHarness],
) -> None:
    normal = make_lane()
    first, last = load_event("email_notification"), load_event("email_notification")
    first["id"], last["id"] = "event-1", "event-2"
    normal.enqueue(first, '{"detail": ' + "[" * 20_000 + "]" * 20_000 + "}", last)
    assert normal.deliver(normal.receive()) == []
    assert len(normal.ses.delivered) == 2
    [letter] = normal.dead_letters()
    assert (letter["FailureCode"], letter["FailureField"]) == ("InvalidEvent", "body")


def test_a_record_that_raises_anything_is_dead_lettered_alone(aws: Lanes, environment: None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def compose(request: Any, settings: Any) -> Any:
        if request.event_id == "poison":
            raise ZeroDivisionError("a bug in a compose function")
        return templated.compose(request, settings)

    monkeypatch.setenv(Env.LANE, "normal")
    scripted = ScriptedSes()
    good, poison = load_event("email_notification"), load_event("email_notification")
    poison["id"] = "poison"
    runner = LaneHarness.as_deployed(aws, compose, scripted, scripted_client(scripted, monkeypatch), Clock())
    runner.enqueue(good, poison)
    with log.capture() as logs:
        assert runner.deliver(runner.receive()) == []
    assert len(scripted.delivered) == 1
    [letter] = runner.dead_letters()
    assert letter["FailureCode"] == "InternalError" and "ZeroDivisionError" in letter["FailureReason"]
    assert not any("a bug in a compose function" in json.dumps(line) for line in logs)


# --- no value in a log ----------------------------------------------------------------------------


@pytest.mark.parametrize("detail", [
    {"priority": "jane@example.com"},
    {"template": "jane@example.com"},
    {"template": "notification", "templateVersion": "jane@example.com"},
    {"tags": {"jane@example.com": "x"}},
])
def test_a_rejection_logs_and_dead_letters_the_field_never_the_value(
    make_lane: Callable[..., LaneHarness], detail: dict[str, Any]
) -> None:
    normal = make_lane()
    event = load_event("email_notification")
    event["detail"].update(detail)
    normal.enqueue(event)
    with log.capture() as logs:
        normal.deliver(normal.receive())
    [letter] = normal.dead_letters()
    assert "jane" not in json.dumps(logs) and "jane" not in json.dumps(letter)


# --- headers whatever the JSON type, strict JSON --------------------------------------------------


@pytest.mark.parametrize("template_data", [
    '{"subject": ["Order", "\\r\\nBcc: attacker@evil.example"]}',
    '{"subject": {"line": "Hi\\nBcc: attacker@evil.example"}}',
    '{"subject": "Hi\\u0000there"}',
    '{"subject": "Order", "title": NaN}',
    '{"subject": "Order", "title": Infinity}',
])
def test_unsafe_or_non_json_template_data_is_dead_lettered_not_sent(
    make_lane: Callable[..., LaneHarness], template_data: str
) -> None:
    normal = make_lane()
    event = json.dumps(load_event("email_notification"))
    body = event.replace('"title": ', f'"templateData": {template_data}, "title": ')
    assert "templateData" in body
    normal.enqueue(body)
    assert normal.deliver(normal.receive()) == []
    assert normal.ses.delivered == []
    [letter] = normal.dead_letters()
    assert letter["FailureCode"] == "InvalidEvent"
    assert letter["FailureField"] in ("detail.templateData.subject", "body")


# --- the stack's own configuration refused ---------------------------------------------------------


def test_access_denied_halts_the_lane_and_keeps_every_message(make_lane: Callable[..., LaneHarness]) -> None:
    """Retrying cannot fix a policy: nothing more is started, nothing deleted, a distinct event.

    The batch's sends go in parallel, so a send already in flight when the first denial came back
    gets its own answer (denied too); none starts after it.
    """
    normal = make_lane("denied", "denied")
    first, second = load_event("email_notification"), load_event("email_notification")
    second["id"] = "event-2"
    normal.enqueue(first, second)
    batch = normal.receive()
    with log.capture() as logs:
        kept = normal.deliver(batch)
    assert kept == [record["messageId"] for record in batch["Records"]]
    assert normal.ses.attempts in (1, 2) and normal.dead_letters() == []
    assert {line["event"] for line in logs if line["log_level"] == "error"} == {"ses_sending_not_authorized"}


def test_two_events_with_one_key_in_one_batch_send_the_first_and_skip_the_second(
    make_lane: Callable[..., LaneHarness],
) -> None:
    """Sends go in parallel, but a repeated key waits for the first: which one goes out is not chance."""
    normal = make_lane()
    first, second = load_event("email_notification"), load_event("email_notification")
    first["id"], second["id"] = "event-1", "event-2"
    for sample in (first, second):
        sample["detail"]["idempotencyKey"] = "order-1042-receipt"
    normal.enqueue(first, second)
    with log.capture() as logs:
        assert normal.deliver(normal.receive()) == []
    [sent] = normal.ses.delivered
    assert {tag["Name"]: tag["Value"] for tag in sent["EmailTags"]}["event_id"] == "event-1"
    outcomes = [line["event"] for line in logs if line["event"] in ("email_sent", "email_duplicate_skipped")]
    assert outcomes == ["email_sent", "email_duplicate_skipped"]


def test_no_send_starts_after_ses_said_stop_even_one_already_past_its_checks(
    make_lane: Callable[..., LaneHarness],
) -> None:
    """Parallel sends, a latency-free SES: every request is built, signed and booked, and the first to
    reach its slot is answered "sending paused"; none of the others reaches SES after that answer.

    The others are held in their wait for their slot (the lane's injected sleep) until the pause is
    answered and a moment has passed, so the race is played out the same way every run.
    """
    answered = threading.Event()
    sleepers: list[bool] = []
    lock = threading.Lock()

    def hold_all_but_the_first(seconds: float) -> None:
        with lock:
            is_first = not sleepers
            sleepers.append(True)
        if not is_first:
            assert answered.wait(10)
        time.sleep(min(seconds, 0.2))

    def release_after_the_answer(**_: Any) -> None:
        threading.Timer(0.3, answered.set).start()  # the pause's answer reaches the lane meanwhile

    normal = make_lane("paused", sleep=hold_all_but_the_first)
    events = [load_event("email_notification") for _ in range(3)]
    for index, sample in enumerate(events):
        sample["id"] = f"event-{index}"
    normal.enqueue(*events)
    normal.client.meta.events.register("after-call.sesv2.SendEmail", release_after_the_answer)
    batch = normal.receive()
    kept = normal.deliver(batch)
    assert normal.ses.attempts == 1  # the paused one; the others stopped at the gate
    assert sorted(kept) == sorted(record["messageId"] for record in batch["Records"])
    assert normal.dead_letters() == []
