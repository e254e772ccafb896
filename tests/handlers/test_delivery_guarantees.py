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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from structlog.testing import capture_logs

from ses_email_pipeline.handlers.sending import lane, ses
from ses_email_pipeline.handlers import priority, templated
from ses_email_pipeline.handlers.shared import timeouts
from ses_email_pipeline.handlers.clients import Clients
from ses_email_pipeline.email_sender import DEFAULT_LANES
from ses_email_pipeline.handlers.scheduling.schedule import MAX_LATENESS_SECONDS, START_LEAD_SECONDS
from ses_email_pipeline.handlers.shared.settings import Env
from local.sqs_events import lambda_event, received_message
from tests.conftest import HASH_KEY, FakeContext, Lanes, load_event

FUNCTION_TIMEOUT_MS = 60_000
DEFAULT_DELIVERY = {lane.name: lane.delivery.value for lane in DEFAULT_LANES}
URGENT = {lane.name: lane.urgent for lane in DEFAULT_LANES}


class LambdaKilled(BaseException):
    """What Lambda does at a timeout or crash: the invocation stops, no handler code runs after it."""


@dataclass
class ScriptedSes:
    """SES behind a real botocore client: each SendEmail takes the next outcome of `script`.

    Outcomes: "accept" (SES sends and answers), "accept-no-answer" (SES sends; the answer never
    arrives: a read timeout), "accept-then-die" (SES sends; then the function is killed),
    "accept-no-id" (SES sends and answers 200 without a message id), "unavailable" (503).
    """

    script: list[str] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0

    def respond(self, request: Any, **_: Any) -> AWSResponse:
        if request.url.endswith("/v2/email/account"):
            return _json_response(request, 200, {"SendQuota": {"MaxSendRate": 1000.0, "Max24HourSend": 50_000.0,
                                                               "SentLast24Hours": 0.0}, "SendingEnabled": True})
        self.attempts += 1
        outcome = self.script.pop(0) if self.script else "accept"
        if outcome == "unavailable":
            return _json_response(request, 503, {"message": "Service Unavailable"}, "ServiceUnavailable")
        if outcome == "paused":
            return _json_response(request, 400, {"message": "Sending is paused for this account"},
                                  "SendingPausedException")
        if outcome == "denied":
            # What SES answers when IAM denies the send (e.g. a sandbox recipient's identity).
            return _json_response(request, 403, {"message": "User is not authorized to perform ses:SendEmail"},
                                  "AccessDeniedException")
        self.delivered.append(json.loads(request.body))
        if outcome == "accept-no-answer":
            raise ReadTimeoutError(endpoint_url=request.url)
        if outcome == "accept-then-die":
            raise LambdaKilled()
        if outcome == "accept-no-id":
            return _json_response(request, 200, {})
        return _json_response(request, 200, {"MessageId": f"ses-{len(self.delivered):04d}"})


def _json_response(request: Any, status: int, body: dict[str, Any], error: str | None = None) -> AWSResponse:
    headers = {"Content-Type": "application/json"}
    if error:
        headers["x-amzn-ErrorType"] = error
    return AWSResponse(request.url, status, headers, _Raw(json.dumps(body).encode()))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Lane:
    """One lane's handler, wired like Lambda's: module-scope clients, settings from the environment."""

    aws: Lanes
    ses: ScriptedSes
    clock: Clock
    handler: Callable[[dict[str, Any], Any], Any]
    client: Any = None  # the handler's SES client (botocore), to hook its events

    def enqueue(self, *bodies: dict[str, Any] | str) -> None:
        for body in bodies:
            self.aws.sqs.send_message(QueueUrl=self.aws.queue_url,
                                      MessageBody=body if isinstance(body, str) else json.dumps(body))

    kept: list[str] = field(default_factory=list)

    def receive(self) -> dict[str, Any]:
        messages = self.aws.sqs.receive_message(QueueUrl=self.aws.queue_url, MaxNumberOfMessages=10,
                                                AttributeNames=["All"]).get("Messages", [])
        return lambda_event(messages, "arn:aws:sqs:eu-west-1:123456789012:lane")

    def run(self, event: dict[str, Any], remaining_ms: int = FUNCTION_TIMEOUT_MS) -> list[str]:
        """Invoke once as the event source mapping does: delete what succeeded; return the ids kept."""
        response = self.handler(event, FakeContext(remaining_ms=remaining_ms))
        kept = [item["itemIdentifier"] for item in response["batchItemFailures"]]
        for record in event["Records"]:
            if record["messageId"] in kept:
                self.kept.append(record["receiptHandle"])
            elif record["receiptHandle"] != "h":
                self.aws.sqs.delete_message(QueueUrl=self.aws.queue_url, ReceiptHandle=record["receiptHandle"])
        return kept

    def redeliver(self) -> dict[str, Any]:
        """The kept messages, once their retry delay has passed."""
        for handle in self.kept:
            self.aws.sqs.change_message_visibility(QueueUrl=self.aws.queue_url, ReceiptHandle=handle,
                                                   VisibilityTimeout=0)
        self.kept.clear()
        return self.receive()

    def dead_letters(self) -> list[dict[str, str]]:
        return [letter["attributes"] for letter in self.aws.dead_letters()]


def scripted_client(scripted: ScriptedSes, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The handlers' real SES v2 client, answered by `scripted` instead of the network.

    botocore calls every `before-send` handler and takes the first answer, and moto's stub answers
    (or fails) for SES's own host; an endpoint of its own keeps moto out of these requests.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", "https://scripted-ses.test")
    client = ses.create_client("eu-west-1")
    client.meta.events.register_first("before-send.sesv2", scripted.respond)
    return client


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
def make_lane(aws: Lanes, environment: None, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Lane]:
    def build(*script: str, lane_name: str = "normal", delivery: str | None = None) -> Lane:
        module = priority if lane_name == "priority" else templated
        monkeypatch.setenv(Env.LANE, lane_name)
        # As EmailSender declares it: the priority lane is at least once, the normal lane at most.
        monkeypatch.setenv(Env.LANE_DELIVERY, delivery or DEFAULT_DELIVERY[lane_name])
        monkeypatch.setenv(Env.LANE_URGENT, "true" if URGENT[lane_name] else "false")
        scripted, clock = ScriptedSes(list(script)), Clock()
        client = scripted_client(scripted, monkeypatch)
        handler = lane.entry_point(module.compose, Clients(ses=client, sqs=aws.sqs, dynamodb=aws.dynamodb),
                                   clock=clock)
        return Lane(aws, scripted, clock, handler, client)

    return build


def alert(priority_value: str = "high") -> dict[str, Any]:
    sample = load_event("priority_alert")
    sample["detail"]["priority"] = priority_value
    return sample


# --- ambiguous outcomes ---------------------------------------------------------------------------


def test_an_unanswered_send_is_not_retried_and_an_at_most_once_lane_dead_letters_it(
    make_lane: Callable[..., Lane],
) -> None:
    normal = make_lane("accept-no-answer")
    normal.enqueue(load_event("email_notification"))
    with capture_logs() as logs:
        assert normal.run(normal.receive()) == []
    assert normal.ses.attempts == 1 and len(normal.ses.delivered) == 1  # botocore did not retry it
    [letter] = normal.dead_letters()
    assert (letter["FailureCode"], letter["FailureField"]) == ("OutcomeUnknown", "no_response")
    assert [(line["cause"], line["decision"]) for line in logs if line["event"] == "email_outcome_unknown"] == [
        ("no_response", "dead_letter")]


def test_an_unanswered_send_returning_later_is_dead_lettered_again_never_resent(
    make_lane: Callable[..., Lane],
) -> None:
    normal = make_lane("accept-no-answer")
    normal.enqueue(load_event("email_notification"))
    normal.run(normal.receive())
    normal.enqueue(load_event("email_notification"))  # an EventBridge retry or a replay: same event id
    assert normal.run(normal.receive()) == []
    assert len(normal.ses.delivered) == 1
    assert [letter["FailureCode"] for letter in normal.dead_letters()] == ["OutcomeUnknown", "OutcomeUnknown"]


def test_an_unanswered_alert_is_sent_again_on_an_at_least_once_lane(make_lane: Callable[..., Lane]) -> None:
    alerts = make_lane("accept-no-answer", lane_name="priority")
    alerts.enqueue(alert())
    first = alerts.receive()
    with capture_logs() as logs:
        assert alerts.run(first) == [first["Records"][0]["messageId"]]  # kept, with a retry delay
        assert alerts.run(alerts.redeliver()) == []
    assert len(alerts.ses.delivered) == 2  # at least once: a second copy beats none
    assert alerts.dead_letters() == []
    assert [line["decision"] for line in logs if line["event"] == "email_outcome_unknown"] == ["retry"]


def test_a_function_killed_after_ses_accepted_never_silently_sends_again(make_lane: Callable[..., Lane]) -> None:
    normal = make_lane("accept-then-die")
    normal.enqueue(load_event("email_notification"))
    batch = normal.receive()
    with pytest.raises(LambdaKilled):
        normal.run(batch)
    normal.clock.now += 6 * FUNCTION_TIMEOUT_MS / 1000  # SQS redelivers after the visibility timeout
    normal.kept.append(batch["Records"][0]["receiptHandle"])
    assert normal.run(normal.redeliver()) == []
    assert len(normal.ses.delivered) == 1
    [letter] = normal.dead_letters()
    assert (letter["FailureCode"], letter["FailureField"]) == ("OutcomeUnknown", "claim_never_completed")


def test_a_killed_alert_is_sent_again_and_counted(make_lane: Callable[..., Lane]) -> None:
    alerts = make_lane("accept-then-die", lane_name="priority")
    alerts.enqueue(alert())
    batch = alerts.receive()
    with pytest.raises(LambdaKilled):
        alerts.run(batch)
    alerts.clock.now += 6 * FUNCTION_TIMEOUT_MS / 1000
    alerts.kept.append(batch["Records"][0]["receiptHandle"])
    with capture_logs() as logs:
        assert alerts.run(alerts.redeliver()) == []
    assert len(alerts.ses.delivered) == 2
    assert [(line["cause"], line["decision"]) for line in logs if line["event"] == "email_outcome_unknown"] == [
        ("claim_never_completed", "resend")]


def test_a_send_whose_completion_was_not_recorded_is_not_sent_again_when_the_event_returns(
    make_lane: Callable[..., Lane], aws: Lanes
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
    with capture_logs() as logs:
        assert normal.run(normal.receive()) == []  # it was sent: the message is done
    aws.dynamodb.meta.events.unregister("before-call.dynamodb.PutItem", refuse_record)
    assert [line["event"] for line in logs if line["log_level"] == "warning"] == ["idempotency_record_not_saved"]
    normal.clock.now += 3600  # the same event, replayed from the archive an hour later
    normal.enqueue(load_event("email_notification"))
    assert normal.run(normal.receive()) == []
    assert len(normal.ses.delivered) == 1
    [letter] = normal.dead_letters()
    assert letter["FailureCode"] == "OutcomeUnknown"


def test_redriving_an_unknown_outcome_dead_letter_is_the_decision_to_send_it(
    make_lane: Callable[..., Lane], aws: Lanes
) -> None:
    normal = make_lane("accept-no-answer")
    normal.enqueue(load_event("email_notification"))
    normal.run(normal.receive())
    [letter] = aws.sqs.receive_message(QueueUrl=aws.dlq_url, MessageAttributeNames=["All"])["Messages"]
    redriven = lambda_event([received_message(letter["Body"], receipt_handle="h", failure_code="OutcomeUnknown")],
                            "arn:aws:sqs:eu-west-1:123456789012:lane")
    assert normal.run(redriven) == []
    assert len(normal.ses.delivered) == 2


def test_a_503_proves_nothing_was_sent_and_is_retried_in_the_call(make_lane: Callable[..., Lane]) -> None:
    normal = make_lane("unavailable")
    normal.enqueue(load_event("email_notification"))
    assert normal.run(normal.receive()) == []
    assert normal.ses.attempts == 2 and len(normal.ses.delivered) == 1


def test_ses_answering_without_a_message_id_is_an_unknown_outcome(make_lane: Callable[..., Lane]) -> None:
    normal = make_lane("accept-no-id")
    normal.enqueue(load_event("email_notification"))
    assert normal.run(normal.receive()) == []
    [letter] = normal.dead_letters()
    assert (letter["FailureCode"], letter["FailureField"]) == ("OutcomeUnknown", "unexpected_error")


# --- the time guard -------------------------------------------------------------------------------


def test_the_reserve_is_the_worst_case_of_the_real_clients() -> None:
    """Every attempt at the configured timeouts, plus the backoff, for the send and its record."""
    from ses_email_pipeline.handlers.idempotency import once_only

    # The SES client makes one attempt; SesSender.send makes the SES_SEND.attempts (see handlers.ses).
    for client, limits, attempts in (
            (ses.create_client("eu-west-1"), timeouts.SES_SEND, 1),
            (once_only.create_dynamodb_client("eu-west-1"), timeouts.IDEMPOTENCY_STORE,
             timeouts.IDEMPOTENCY_STORE.attempts)):
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout, config.retries["total_max_attempts"]) == (
            limits.connect_timeout, limits.read_timeout, attempts)
    assert timeouts.SES_SEND.worst_case_seconds() == 2 * (2 + 5) + 1
    assert timeouts.SEND_RESERVE_SECONDS == 15 + 3 * (1 + 1) + (1 + 2)


@pytest.mark.parametrize(("spare_ms", "sent"), [(-1, 0), (0, 1)])
def test_a_send_starts_only_with_its_worst_case_in_hand(
    make_lane: Callable[..., Lane], spare_ms: int, sent: int
) -> None:
    normal = make_lane()
    normal.enqueue(load_event("email_notification"))
    batch = normal.receive()
    # Its slot starts START_LEAD_SECONDS after the booking (the claim runs in between), and may
    # leave up to MAX_LATENESS_SECONDS late.
    needed_ms = round((timeouts.SEND_RESERVE_SECONDS + START_LEAD_SECONDS + MAX_LATENESS_SECONDS) * 1000)
    kept = normal.run(batch, remaining_ms=needed_ms + spare_ms)
    assert len(normal.ses.delivered) == sent
    assert len(kept) == 1 - sent


# --- one record never fails a batch ---------------------------------------------------------------


def test_a_body_nested_too_deeply_is_dead_lettered_and_its_neighbours_are_sent(
    make_lane: Callable[..., Lane],
) -> None:
    normal = make_lane()
    first, last = load_event("email_notification"), load_event("email_notification")
    first["id"], last["id"] = "event-1", "event-2"
    normal.enqueue(first, '{"detail": ' + "[" * 20_000 + "]" * 20_000 + "}", last)
    assert normal.run(normal.receive()) == []
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
    client = scripted_client(scripted, monkeypatch)
    handler = lane.entry_point(compose, Clients(ses=client, sqs=aws.sqs, dynamodb=aws.dynamodb))
    good, poison = load_event("email_notification"), load_event("email_notification")
    poison["id"] = "poison"
    runner = Lane(aws, scripted, Clock(), handler)
    runner.enqueue(good, poison)
    with capture_logs() as logs:
        assert runner.run(runner.receive()) == []
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
    make_lane: Callable[..., Lane], detail: dict[str, Any]
) -> None:
    normal = make_lane()
    event = load_event("email_notification")
    event["detail"].update(detail)
    normal.enqueue(event)
    with capture_logs() as logs:
        normal.run(normal.receive())
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
    make_lane: Callable[..., Lane], template_data: str
) -> None:
    normal = make_lane()
    event = json.dumps(load_event("email_notification"))
    body = event.replace('"title": ', f'"templateData": {template_data}, "title": ')
    assert "templateData" in body
    normal.enqueue(body)
    assert normal.run(normal.receive()) == []
    assert normal.ses.delivered == []
    [letter] = normal.dead_letters()
    assert letter["FailureCode"] == "InvalidEvent"
    assert letter["FailureField"] in ("detail.templateData.subject", "body")


# --- the stack's own configuration refused ---------------------------------------------------------


def test_access_denied_halts_the_lane_and_keeps_every_message(make_lane: Callable[..., Lane]) -> None:
    """Retrying cannot fix a policy: nothing more is started, nothing deleted, a distinct event.

    The batch's sends go in parallel, so a send already in flight when the first denial came back
    gets its own answer (denied too); none starts after it.
    """
    normal = make_lane("denied", "denied")
    first, second = load_event("email_notification"), load_event("email_notification")
    second["id"] = "event-2"
    normal.enqueue(first, second)
    batch = normal.receive()
    with capture_logs() as logs:
        kept = normal.run(batch)
    assert kept == [record["messageId"] for record in batch["Records"]]
    assert normal.ses.attempts in (1, 2) and normal.dead_letters() == []
    assert {line["event"] for line in logs if line["log_level"] == "error"} == {"ses_sending_not_authorized"}


def test_two_events_with_one_key_in_one_batch_send_the_first_and_skip_the_second(
    make_lane: Callable[..., Lane],
) -> None:
    """Sends go in parallel, but a repeated key waits for the first: which one goes out is not chance."""
    normal = make_lane()
    first, second = load_event("email_notification"), load_event("email_notification")
    first["id"], second["id"] = "event-1", "event-2"
    for sample in (first, second):
        sample["detail"]["idempotencyKey"] = "order-1042-receipt"
    normal.enqueue(first, second)
    with capture_logs() as logs:
        assert normal.run(normal.receive()) == []
    [sent] = normal.ses.delivered
    assert {tag["Name"]: tag["Value"] for tag in sent["EmailTags"]}["event_id"] == "event-1"
    outcomes = [line["event"] for line in logs if line["event"] in ("email_sent", "email_duplicate_skipped")]
    assert outcomes == ["email_sent", "email_duplicate_skipped"]


def test_no_send_starts_after_ses_said_stop_even_one_already_past_its_checks(
    make_lane: Callable[..., Lane],
) -> None:
    """Parallel sends, a latency-free SES: the other sends build and sign their requests while the
    first is answered "sending paused"; none of them reaches SES after that answer.

    The other sends are held just before botocore signs them (its `before-sign` event, after every
    check the lane makes) until the pause is answered and a moment has passed, so the race is
    played out the same way every run.
    """
    normal = make_lane("paused")
    events = [load_event("email_notification") for _ in range(3)]
    for index, sample in enumerate(events):
        sample["id"] = f"event-{index}"
    normal.enqueue(*events)
    answered = threading.Event()
    first: list[bool] = []
    lock = threading.Lock()

    def hold_all_but_the_first(**_: Any) -> None:
        with lock:
            is_first = not first
            first.append(True)
        if not is_first:
            assert answered.wait(10)

    def release_after_the_answer(**_: Any) -> None:
        threading.Timer(0.3, answered.set).start()  # the pause's answer reaches the lane meanwhile

    normal.client.meta.events.register("before-sign.sesv2.SendEmail", hold_all_but_the_first)
    normal.client.meta.events.register("after-call.sesv2.SendEmail", release_after_the_answer)
    batch = normal.receive()
    kept = normal.run(batch)
    assert normal.ses.attempts == 1  # the paused one; the others stopped at the gate
    assert sorted(kept) == sorted(record["messageId"] for record in batch["Records"])
    assert normal.dead_letters() == []
