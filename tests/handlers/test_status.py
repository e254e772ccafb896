"""The status handler alone, on moto: what it keeps, retries and dead-letters when the table or the bus fails.

Faults are injected below the handler, on the botocore clients it is given (`before-call` hooks
answering with AWS's error responses), never by patching the handler's own functions.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from local import ses_event_records
from local.dynamodb_limits import DYNAMODB_EXPRESSION_BYTES
from ses_email_pipeline.handlers import log
from ses_email_pipeline.handlers.clients import Clients
from ses_email_pipeline.handlers.aws import create_dynamodb_client
from ses_email_pipeline.handlers.log import recipient_hash
from ses_email_pipeline.handlers.shared.settings import Settings
from ses_email_pipeline.handlers.delivery_status.updates import StatusUpdates
from ses_email_pipeline.handlers.shared.status_names import STATUS_DETAIL_TYPE, STATUS_SOURCE, record_id
from tests.conftest import HASH_KEY, REGION, Lanes, sqs_event, sqs_record
from tests.handlers.fakes import RawBody

BUS = "pipeline-bus"
SENT_AT = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)


@dataclass
class Bus:
    events: Any
    sqs: Any
    url: str

    def received(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"])["detail"] for m in messages]

    def received_all(self) -> list[dict[str, Any]]:
        details: list[dict[str, Any]] = []
        while batch := self.received():
            details += batch
        return details


@pytest.fixture
def bus(aws: Lanes) -> Iterator[Bus]:
    """The pipeline's bus, with a producer's subscription (a rule for status events to a queue)."""
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name=BUS)
    url = aws.sqs.create_queue(QueueName="producer")["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="statuses", EventBusName=BUS,
                    EventPattern=json.dumps({"source": [STATUS_SOURCE], "detail-type": [STATUS_DETAIL_TYPE]}))
    events.put_targets(Rule="statuses", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn}])
    yield Bus(events, aws.sqs, url)


def settings(aws: Lanes, **overrides: Any) -> Settings:
    return Settings(**{"stack": "test", "lane": "status", "sender": "no-reply@example.com",
                       "configuration_set": "email-test", "recipient_hash_key": HASH_KEY.encode(),
                       "queue_url": aws.queue_url, "dead_letter_queue_url": aws.dlq_url,
                       "state_table": aws.table, "status_bus": BUS, "status_events": True,
                       "status_records": True, **overrides})


def processor(aws: Lanes, bus: Bus, **overrides: Any) -> StatusUpdates:
    return StatusUpdates(settings(aws, **overrides),
                           Clients(ses=None, dynamodb=aws.dynamodb, sqs=aws.sqs, events=bus.events))


def eventbridge(detail: dict[str, Any], event_id: str = "eb-1") -> dict[str, Any]:
    entry = ses_event_records.entry(detail)
    return {"version": "0", "id": event_id, "source": entry["Source"], "detail-type": entry["DetailType"],
            "account": "123456789012", "time": "2026-12-03T08:00:05Z", "region": REGION, "resources": [],
            "detail": detail}


#: The tags a lane's send carries (`handlers.shared.correlation`).
PIPELINE_TAGS = {"lane": "normal", "template": "notification-v1", "stack": "test", "event_id": "ev-1",
                 "source": "shop_2Eorders", "key_hash": "ab" * 16, "correlation_id": "order_1042"}


def mail(*recipients: str, message_id: str = "ses-1", tags: dict[str, str] | None = None) -> dict[str, Any]:
    return ses_event_records.mail_object(message_id, "no-reply@example.com", list(recipients),
                                  PIPELINE_TAGS if tags is None else tags, SENT_AT)


def fail(client: Any, operation: str, code: str, *, times: int = 1) -> list[int]:
    """Answer the next `times` calls of `operation` with AWS's error `code` (the call never reaches moto)."""
    left = [times]

    def answer(**_kwargs: Any) -> Any:
        if left[0] <= 0:
            return None
        left[0] -= 1
        body = json.dumps({"__type": code, "message": f"{code} injected"}).encode()
        return AWSResponse("https://aws", 400, {"x-amzn-query-error": f"{code};Sender"}, RawBody(body)), {
            "Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 400}}

    client.meta.events.register(f"before-call.*.{operation}", answer)
    return left


def test_a_delivery_is_published_and_recorded(aws: Lanes, bus: Bus) -> None:
    response = processor(aws, bus)(sqs_event(sqs_record(eventbridge(ses_event_records.delivery(mail("a@example.com"),
                                                                                               ["a@example.com"])))))
    assert response == {"batchItemFailures": []}
    [detail] = bus.received()
    assert (detail["status"], detail["source"], detail["correlationId"]) == ("delivered", "shop.orders", "order_1042")
    item = aws.dynamodb.get_item(TableName=aws.table, Key={"id": {"S": record_id("test", "ses-1")}})["Item"]
    assert [entry["M"]["status"]["S"] for entry in item["history"]["L"]] == ["delivered"]


def test_a_bus_that_refuses_keeps_the_ses_event_for_a_retry_and_records_nothing(aws: Lanes, bus: Bus) -> None:
    record = sqs_record(eventbridge(ses_event_records.bounce(mail("a@example.com"), ["a@example.com"])))
    handler = processor(aws, bus)
    fail(bus.events, "PutEvents", "ThrottlingException")
    assert handler(sqs_event(record)) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert bus.received() == []
    assert "Item" not in aws.dynamodb.get_item(TableName=aws.table, Key={"id": {"S": record_id("test", "ses-1")}})
    # The retry publishes it, once.
    assert handler(sqs_event(record)) == {"batchItemFailures": []}
    assert [d["status"] for d in bus.received()] == ["bounced"]


def test_a_table_that_cannot_be_read_keeps_the_ses_event_and_publishes_nothing(aws: Lanes, bus: Bus) -> None:
    record = sqs_record(eventbridge(ses_event_records.delivery(mail("a@example.com"), ["a@example.com"])))
    fail(aws.dynamodb, "GetItem", "ProvisionedThroughputExceededException")
    assert processor(aws, bus)(sqs_event(record)) == {
        "batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert bus.received() == []


def test_a_record_not_saved_after_the_publish_is_kept_and_told_again_with_the_same_status_id(
        aws: Lanes, bus: Bus) -> None:
    """At least once: the retry publishes again, and the producer drops the repeat by statusId."""
    record = sqs_record(eventbridge(ses_event_records.complaint(mail("a@example.com"), ["a@example.com"])))
    handler = processor(aws, bus)
    fail(aws.dynamodb, "UpdateItem", "InternalServerError")
    assert handler(sqs_event(record))["batchItemFailures"] == [{"itemIdentifier": record["messageId"]}]
    assert handler(sqs_event(record)) == {"batchItemFailures": []}
    first, second = bus.received()
    assert first["statusId"] == second["statusId"] and first["status"] == "complained"
    assert handler(sqs_event(record)) == {"batchItemFailures": []}  # recorded now: a third copy is dropped
    assert bus.received() == []


def test_one_bad_ses_event_is_dead_lettered_and_the_batch_goes_on(aws: Lanes, bus: Bus) -> None:
    good = sqs_record(eventbridge(ses_event_records.delivery(mail("a@example.com"), ["a@example.com"])))
    bad_detail = ses_event_records.delivery(mail("a@example.com"), ["a@example.com"])
    bad_detail["mail"]["tags"]["source"] = ["shop_ZZorders"]  # not the pipeline's escape
    bad = sqs_record(eventbridge(bad_detail, "eb-2"))
    assert processor(aws, bus)(sqs_event(bad, good)) == {"batchItemFailures": []}
    [letter] = aws.dead_letters()
    assert letter["attributes"]["FailureCode"] == "InvalidSesEvent"
    assert letter["attributes"]["FailureField"] == "detail.mail.tags.source"
    assert "shop_ZZorders" not in letter["attributes"]["FailureReason"]
    assert [d["status"] for d in bus.received()] == ["delivered"]


def test_a_dead_letter_that_cannot_be_written_stays_on_the_queue(aws: Lanes, bus: Bus) -> None:
    bad = sqs_record("not json")
    fail(aws.sqs, "SendMessage", "AWS.SimpleQueueService.NonExistentQueue")
    assert processor(aws, bus)(sqs_event(bad)) == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}


def test_events_only_publishes_every_copy_as_ses_sent_it(aws: Lanes, bus: Bus) -> None:
    """Without records nothing is read or written: repeats are told, with one statusId."""
    record = sqs_record(eventbridge(ses_event_records.delivery(mail("a@example.com"), ["a@example.com"])))
    handler = processor(aws, bus, status_records=False)
    fail(aws.dynamodb, "GetItem", "AccessDeniedException", times=5)
    fail(aws.dynamodb, "UpdateItem", "AccessDeniedException", times=5)
    assert handler(sqs_event(record, dict(record, messageId="copy"))) == {"batchItemFailures": []}
    first, second = bus.received()
    assert first["statusId"] == second["statusId"]


def test_records_only_publishes_nothing(aws: Lanes, bus: Bus) -> None:
    record = sqs_record(eventbridge(ses_event_records.delivery(mail("a@example.com"), ["a@example.com"])))
    fail(bus.events, "PutEvents", "AccessDeniedException", times=5)
    assert processor(aws, bus, status_events=False)(sqs_event(record)) == {"batchItemFailures": []}
    item = aws.dynamodb.get_item(TableName=aws.table, Key={"id": {"S": record_id("test", "ses-1")}})["Item"]
    assert item["r_" + next(k[2:] for k in item if k.startswith("r_"))]["M"]["status"]["S"] == "delivered"


def test_anything_unforeseen_keeps_that_ses_event_only(aws: Lanes, bus: Bus) -> None:
    first = sqs_record(eventbridge(ses_event_records.delivery(mail("a@example.com"), ["a@example.com"])))
    second_mail = mail("b@example.com", message_id="ses-2", tags={**PIPELINE_TAGS, "event_id": "ev-2"})
    second = sqs_record(eventbridge(ses_event_records.delivery(second_mail, ["b@example.com"]), "eb-2"))
    calls = []

    def explode_once(**_kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug below the handler")

    aws.dynamodb.meta.events.register("before-call.dynamodb.GetItem", explode_once)
    assert processor(aws, bus)(sqs_event(first, second)) == {
        "batchItemFailures": [{"itemIdentifier": first["messageId"]}]}
    assert [d["sesMessageId"] for d in bus.received()] == ["ses-2"]


def test_a_recipient_raised_by_another_instance_meanwhile_costs_the_others_nothing(aws: Lanes, bus: Bus) -> None:
    """The delivery of a@ and b@ is being written when another instance records a@'s hard bounce."""
    two = mail("a@example.com", "b@example.com")
    delivery = sqs_record(eventbridge(ses_event_records.delivery(two, ["a@example.com", "b@example.com"])))
    bounce = sqs_record(eventbridge(ses_event_records.bounce(two, ["a@example.com"], at=SENT_AT + dt.timedelta(seconds=1)),
                                    "eb-2"))
    other_instance = StatusUpdates(settings(aws), Clients(
        ses=None, dynamodb=boto3.client("dynamodb", region_name=REGION), sqs=aws.sqs,
        events=boto3.client("events", region_name=REGION)))
    raced = []

    def bounce_lands_first(**_kwargs: Any) -> None:
        if not raced:
            raced.append(True)
            assert other_instance(sqs_event(bounce)) == {"batchItemFailures": []}

    aws.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", bounce_lands_first)
    assert processor(aws, bus)(sqs_event(delivery)) == {"batchItemFailures": []}
    item = aws.dynamodb.get_item(TableName=aws.table, Key={"id": {"S": record_id("test", "ses-1")}})["Item"]
    latest = sorted(value["M"]["status"]["S"] for name, value in item.items() if name.startswith("r_"))
    assert latest == ["bounced", "delivered"]  # a@ stays bounced, b@'s delivery is not lost
    assert sorted(entry["M"]["status"]["S"] for entry in item["history"]["L"]) == ["bounced", "delivered"]


def test_a_final_status_is_never_replaced(aws: Lanes, bus: Bus) -> None:
    """A complaint, then a late hard bounce: one final status per recipient, the first."""
    handler = processor(aws, bus)
    one = mail("a@example.com")
    for detail in (ses_event_records.complaint(one, ["a@example.com"], at=SENT_AT + dt.timedelta(hours=1)),
                   ses_event_records.bounce(one, ["a@example.com"], at=SENT_AT + dt.timedelta(hours=2))):
        assert handler(sqs_event(sqs_record(eventbridge(detail)))) == {"batchItemFailures": []}
    assert [(d["status"], d["final"]) for d in bus.received()] == [("complained", True)]


def _mutated(kind: str, path: str, value: Any) -> dict[str, Any]:
    """An SES event of `kind` with the field at `path` (dotted, under `detail`) set to `value`."""
    one = mail("a@example.com")
    detail = {"bounce": lambda: ses_event_records.bounce(one, ["a@example.com"]),
              "delay": lambda: ses_event_records.delivery_delay(one, ["a@example.com"]),
              "complaint": lambda: ses_event_records.complaint(one, ["a@example.com"]),
              "delivery": lambda: ses_event_records.delivery(one, ["a@example.com"])}[kind]()
    *parents, leaf = path.split(".")
    holder: Any = detail
    for part in parents:
        holder = holder[int(part)] if isinstance(holder, list) else holder[part]
    holder[leaf] = value
    return detail


@pytest.mark.parametrize(("kind", "path", "value", "rule"), [
    ("bounce", "bounce.bounceType", 42, "must be a string"),
    ("bounce", "bounce.bounceSubType", ["General"], "must be a string"),
    ("bounce", "bounce.timestamp", {"at": "noon"}, "must be an ISO 8601 time as text"),
    ("bounce", "bounce.timestamp", "yesterday", "must be an ISO 8601 time"),
    ("delivery", "mail.timestamp", 1733300000, "must be an ISO 8601 time as text"),
    ("delay", "deliveryDelay.expirationTime", 50400, "must be a string"),
    ("delay", "deliveryDelay.expirationTime", "in a while", "must be an ISO 8601 time"),
    ("complaint", "complaint.complaintFeedbackType", False, "must be a string"),
    ("delivery", "mail.tags.lane", [7], "must map each tag name to a list of strings"),
    # An address that is valid JSON but no UTF-8: it cannot be hashed, so every retry would fail.
    ("delivery", "delivery.recipients", ["a\ud800@example.com"], "must list email addresses in valid UTF-8"),
    ("bounce", "bounce.bouncedRecipients.0.emailAddress", 12, "must list email addresses"),
])
def test_a_field_of_the_wrong_type_is_dead_lettered_at_once_with_field_and_rule(
        aws: Lanes, bus: Bus, kind: str, path: str, value: Any, rule: str) -> None:
    """Never published with a made-up value (`details.type "42"`), never retried into the DLQ without a reason."""
    record = sqs_record(eventbridge(_mutated(kind, path, value)))
    assert processor(aws, bus)(sqs_event(record)) == {"batchItemFailures": []}
    assert bus.received() == []
    [letter] = aws.dead_letters()
    field = "detail." + (path if not path.startswith("bounce.bouncedRecipients") else "bounce.bouncedRecipients")
    field = field.removesuffix(".lane") if ".tags." in field else field
    assert letter["attributes"]["FailureCode"] == "InvalidSesEvent"
    assert (letter["attributes"]["FailureField"], letter["attributes"]["FailureReason"]) == (field, f"{field}: {rule}")
    assert str(value) not in letter["attributes"]["FailureReason"]


def history_of(aws: Lanes, message_id: str = "ses-1") -> list[str]:
    item = aws.dynamodb.get_item(TableName=aws.table, Key={"id": {"S": record_id("test", message_id)}})["Item"]
    return [f"{entry['M']['status']['S']} ({entry['M']['recipient']['S'][:8]})" for entry in item["history"]["L"]]


def test_two_copies_of_one_ses_event_at_the_same_time_are_recorded_once(aws: Lanes, bus: Bus) -> None:
    """At-least-once delivery: the second copy is handled by another instance while the first one writes."""
    delivered = eventbridge(ses_event_records.delivery(mail("a@example.com"), ["a@example.com"]))
    first, copy = sqs_record(delivered), sqs_record(dict(delivered, id="eb-copy"))
    other_instance = StatusUpdates(settings(aws), Clients(
        ses=None, dynamodb=boto3.client("dynamodb", region_name=REGION), sqs=aws.sqs,
        events=boto3.client("events", region_name=REGION)))
    raced: list[bool] = []

    def copy_lands_first(**_kwargs: Any) -> None:
        if not raced:
            raced.append(True)
            assert other_instance(sqs_event(copy)) == {"batchItemFailures": []}

    aws.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", copy_lands_first)
    assert processor(aws, bus)(sqs_event(first)) == {"batchItemFailures": []}
    assert len(history_of(aws)) == 1
    assert len({d["statusId"] for d in bus.received()}) == 1  # told at least once, one statusId


def test_a_record_write_retried_by_botocore_after_its_answer_was_lost_is_recorded_once(
        aws: Lanes, bus: Bus) -> None:
    """DynamoDB applied the write; the answer never came (a read timeout); botocore's standard mode sent it again."""
    dynamodb = create_dynamodb_client(REGION)  # the handler's own client: standard retry mode
    lost: list[bool] = []

    def answer_lost(request: Any, **_kwargs: Any) -> None:
        # Last among the `before-send` handlers, after moto's own answer: moto has applied the write.
        if not lost and request.headers.get("X-Amz-Target", b"").endswith(b"UpdateItem"):
            lost.append(True)
            raise ReadTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")

    dynamodb.meta.events.register_last("before-send", answer_lost)
    handler = StatusUpdates(settings(aws), Clients(ses=None, dynamodb=dynamodb, sqs=aws.sqs, events=bus.events))
    record = sqs_record(eventbridge(ses_event_records.delivery(mail("a@example.com"), ["a@example.com"])))
    assert handler(sqs_event(record)) == {"batchItemFailures": []}
    assert lost == [True]
    assert len(history_of(aws)) == 1


def test_every_expression_of_a_fifty_recipient_rejection_is_far_inside_dynamodbs_4_kb(aws: Lanes, bus: Bus) -> None:
    """SES's most recipients, all named by one Reject: at most half of DynamoDB's 4,096 bytes per expression."""
    recipients = [f"recipient-{index:02d}@a-rather-long-subdomain.example.com" for index in range(50)]
    expressions: list[tuple[str, int]] = []

    def measure(params: dict[str, Any], **_kwargs: Any) -> None:
        expressions.extend((name, len(value.encode())) for name, value in params.items()
                           if name.endswith("Expression"))

    aws.dynamodb.meta.events.register("before-parameter-build.dynamodb", measure)
    record = sqs_record(eventbridge(ses_event_records.reject(mail(*recipients))))
    assert processor(aws, bus)(sqs_event(record)) == {"batchItemFailures": []}
    assert len(bus.received_all()) == 50
    assert {name for name, _size in expressions} >= {"ProjectionExpression", "UpdateExpression", "ConditionExpression"}
    assert max(size for _name, size in expressions) <= DYNAMODB_EXPRESSION_BYTES // 2, expressions
    item = aws.dynamodb.get_item(TableName=aws.table, Key={"id": {"S": record_id("test", "ses-1")}})["Item"]
    assert sum(name.startswith("r_") for name in item) == 50


def test_an_ses_event_the_pipeline_did_not_send_is_recorded_and_counted_but_never_published(
        aws: Lanes, bus: Bus) -> None:
    """Another sender on the configuration set, a console test send, the daily report: no producer to tell."""
    untagged = mail("a@example.com", tags={"ses:configuration-set": "email-test"})
    record = sqs_record(eventbridge(ses_event_records.bounce(untagged, ["a@example.com"])))
    with log.capture() as logs:
        assert processor(aws, bus)(sqs_event(record)) == {"batchItemFailures": []}
    assert bus.received() == []
    assert history_of(aws) == [f"bounced ({recipient_hash('a@example.com', HASH_KEY.encode())[:8]})"]
    [counted] = [line for line in logs if line["event"] == "email_status_unattributed"]
    assert counted["ses_message_id"] == "ses-1" and counted["status"] == "bounced"


def test_a_complaint_naming_several_recipients_says_it_may_not_be_about_each_of_them(aws: Lanes, bus: Bus) -> None:
    """Mailbox providers redact the complainant: SES names every recipient on the domain."""
    handler = processor(aws, bus)
    two = mail("a@example.com", "b@example.com")
    assert handler(sqs_event(sqs_record(eventbridge(
        ses_event_records.complaint(two, ["a@example.com", "b@example.com"]))))) == {"batchItemFailures": []}
    one = mail("c@example.com", message_id="ses-2")
    assert handler(sqs_event(sqs_record(eventbridge(
        ses_event_records.complaint(one, ["c@example.com"]), "eb-2")))) == {"batchItemFailures": []}
    scopes = sorted((d["sesMessageId"], d["status"], d["final"], d["details"]["scope"]) for d in bus.received_all())
    assert scopes == [("ses-1", "complained", True, "message"), ("ses-1", "complained", True, "message"),
                      ("ses-2", "complained", True, "recipient")]


def test_an_ses_event_still_failing_on_its_last_receive_is_dead_lettered_with_why(aws: Lanes, bus: Bus) -> None:
    """Kept once more, the queue would dead-letter it without a reason; here it carries the step and AWS's code."""
    record = sqs_record(eventbridge(ses_event_records.bounce(mail("a@example.com"), ["a@example.com"])), receive_count=5)
    fail(bus.events, "PutEvents", "ThrottlingException")
    assert processor(aws, bus, max_receive_count=5)(sqs_event(record)) == {"batchItemFailures": []}
    [letter] = aws.dead_letters()
    assert (letter["attributes"]["FailureCode"], letter["attributes"]["FailureField"]) == (
        "StatusNotPublished", "ThrottlingException")
    assert "kept through its 5 receives" in letter["attributes"]["FailureReason"]


def test_an_ses_event_failing_before_its_last_receive_is_kept(aws: Lanes, bus: Bus) -> None:
    record = sqs_record(eventbridge(ses_event_records.bounce(mail("a@example.com"), ["a@example.com"])), receive_count=4)
    fail(bus.events, "PutEvents", "ThrottlingException")
    assert processor(aws, bus, max_receive_count=5)(sqs_event(record)) == {
        "batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert aws.dead_letters() == []
