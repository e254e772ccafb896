"""SES's mailbox simulator in the emulated SES: what lands on the default bus, and who passes the sandbox.

Each test sends through `EmulatedSes` on moto and reads the default bus the way a consumer would:
a rule with the pattern {"source": ["aws.ses"]} targets a queue, and the queue is drained.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from local import ses_event_records
from local.iam_requests import REQUESTS, Access, Scope
from local.blueprint import TemplateSpec
from local.emulated_ses import EmulatedSes

REGION = "eu-west-1"
ACCOUNT = "123456789012"
SENDER = "Notifications <no-reply@mail.example.com>"
CONFIGURATION_SET = "email-test"
TAGS = {"lane": "normal", "event_id": "evt-1", "stack": "test"}
SIM = "simulator.amazonses.com"


@dataclass
class Bus:
    """The emulated SES, and a queue that receives everything `aws.ses` puts on the default bus."""

    ses: EmulatedSes
    sqs: Any
    queue_url: str
    v1: Any

    def send(self, *to: str, cc: Sequence[str] = (), bcc: Sequence[str] = (), subject: str = "Your receipt",
             **overrides: Any) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": SENDER,
            "Destination": {"ToAddresses": list(to), "CcAddresses": list(cc), "BccAddresses": list(bcc)},
            "Content": {"Simple": {"Subject": {"Data": subject}, "Body": {"Text": {"Data": "Thanks"}}}},
            "ConfigurationSetName": CONFIGURATION_SET,
            "EmailTags": [{"Name": name, "Value": value} for name, value in TAGS.items()],
            **overrides,
        }
        return self.ses.send_email(**{k: v for k, v in request.items() if v is not None})["MessageId"]

    def published(self) -> list[dict[str, Any]]:
        """Every event the rule delivered so far, as EventBridge delivers them (the queue is drained)."""
        events: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def bus_for(*, sandbox: bool) -> Bus:
    sesv2, v1 = boto3.client("sesv2", region_name=REGION), boto3.client("ses", region_name=REGION)
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    v1.verify_domain_identity(Domain="mail.example.com")  # moto refuses unverified senders
    queue_url = sqs.create_queue(QueueName="ses-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="ses-events", EventPattern=json.dumps({"source": ["aws.ses"]}))
    events.put_targets(Rule="ses-events", Targets=[{"Id": "queue", "Arn": queue_arn}])
    ses = EmulatedSes(sesv2, {}, sandbox=sandbox, region=REGION, events=events)
    return Bus(ses, sqs, queue_url, v1)


@pytest.fixture
def bus() -> Iterator[Bus]:
    with mock_aws():
        yield bus_for(sandbox=False)


@pytest.fixture
def sandbox_bus() -> Iterator[Bus]:
    with mock_aws():
        yield bus_for(sandbox=True)


def by_type(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        grouped.setdefault(event["detail-type"], []).append(event)
    return grouped


def only(events: list[dict[str, Any]], detail_type: str) -> dict[str, Any]:
    [event] = [e for e in events if e["detail-type"] == detail_type]
    return event["detail"]


# --- each simulator address ------------------------------------------------------------------------


@pytest.mark.parametrize("mailbox", ["success", "success+abc"])
def test_success_is_sent_then_delivered(bus: Bus, mailbox: str) -> None:
    address = f"{mailbox}@{SIM}"
    bus.send(address)
    events = bus.published()
    assert sorted(e["detail-type"] for e in events) == ["Email Delivered", "Email Sent"]
    assert only(events, "Email Sent")["eventType"] == "Send" and only(events, "Email Sent")["send"] == {}
    delivered = only(events, "Email Delivered")
    assert delivered["eventType"] == "Delivery" and delivered["delivery"]["recipients"] == [address]


@pytest.mark.parametrize("mailbox", ["bounce", "bounce+label1"])
def test_bounce_is_a_permanent_general_bounce_with_smtp_550_5_1_1(bus: Bus, mailbox: str) -> None:
    address = f"{mailbox}@{SIM}"
    bus.send(address)
    events = bus.published()
    assert sorted(e["detail-type"] for e in events) == ["Email Bounced", "Email Sent"]
    bounced = only(events, "Email Bounced")
    assert bounced["eventType"] == "Bounce"
    assert (bounced["bounce"]["bounceType"], bounced["bounce"]["bounceSubType"]) == ("Permanent", "General")
    [recipient] = bounced["bounce"]["bouncedRecipients"]
    assert recipient == {"emailAddress": address, "action": "failed", "status": "5.1.1",
                         "diagnosticCode": f"smtp; 550 5.1.1 As requested: user unknown <{address}>"}


def test_suppressionlist_is_the_hard_bounce_ses_publishes_for_it(bus: Bus) -> None:
    """Permanent/General as SES publishes it for this mailbox (see `ses_event_records.SIMULATOR`)."""
    address = f"suppressionlist@{SIM}"
    bus.send(address)
    events = bus.published()
    assert sorted(e["detail-type"] for e in events) == ["Email Bounced", "Email Sent"]
    bounce = only(events, "Email Bounced")["bounce"]
    assert (bounce["bounceType"], bounce["bounceSubType"]) == ("Permanent", "General")
    [recipient] = bounce["bouncedRecipients"]
    assert recipient["status"] == "5.1.1"
    assert recipient["diagnosticCode"] == f"smtp; 550 5.1.1 As requested: user unknown (suppressed address: {address})"


def test_ooto_is_delivered_and_its_auto_reply_comes_back_as_a_transient_bounce(bus: Bus) -> None:
    address = f"ooto@{SIM}"
    bus.send(address)
    events = bus.published()
    assert sorted(e["detail-type"] for e in events) == ["Email Bounced", "Email Delivered", "Email Sent"]
    assert only(events, "Email Delivered")["delivery"]["recipients"] == [address]
    bounce = only(events, "Email Bounced")["bounce"]
    assert (bounce["bounceType"], bounce["bounceSubType"]) == ("Transient", "General")
    assert bounce["bouncedRecipients"] == [{"emailAddress": address}]  # an auto-reply carries no DSN
    assert "reportingMTA" not in bounce


def test_complaint_is_delivered_then_complained_about_as_abuse(bus: Bus) -> None:
    address = f"complaint@{SIM}"
    bus.send(address)
    events = bus.published()
    assert sorted(e["detail-type"] for e in events) == ["Email Complaint Received", "Email Delivered", "Email Sent"]
    assert only(events, "Email Delivered")["delivery"]["recipients"] == [address]
    complained = only(events, "Email Complaint Received")
    assert complained["eventType"] == "Complaint"
    assert complained["complaint"]["complainedRecipients"] == [{"emailAddress": address}]
    assert complained["complaint"]["complaintFeedbackType"] == "abuse"
    assert complained["complaint"]["complaintSubType"] is None


def test_any_other_recipient_is_delivered(bus: Bus) -> None:
    bus.send("jane@example.org")
    events = bus.published()
    assert sorted(e["detail-type"] for e in events) == ["Email Delivered", "Email Sent"]
    assert only(events, "Email Delivered")["delivery"]["recipients"] == ["jane@example.org"]


# --- what every event carries ------------------------------------------------------------------------


def test_every_event_is_from_aws_ses_on_the_default_bus_and_names_the_message(bus: Bus) -> None:
    message_id = bus.send(f"complaint@{SIM}", f"bounce@{SIM}", f"ooto@{SIM}")
    events = bus.published()
    assert len(events) == 5
    for event in events:
        assert event["source"] == "aws.ses" and event["region"] == REGION
        mail = event["detail"]["mail"]
        assert mail["messageId"] == message_id
        assert mail["destination"] == [f"complaint@{SIM}", f"bounce@{SIM}", f"ooto@{SIM}"]
        assert mail["source"] == SENDER and mail["sendingAccountId"] == ACCOUNT
        assert mail["sourceArn"] == f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/mail.example.com"


def test_every_event_carries_the_sends_tags_and_its_configuration_set(bus: Bus) -> None:
    bus.send(f"complaint@{SIM}")
    for event in bus.published():
        tags = event["detail"]["mail"]["tags"]
        assert tags["ses:configuration-set"] == [CONFIGURATION_SET]
        assert {name: tags[name] for name in TAGS} == {name: [value] for name, value in TAGS.items()}
        assert tags["ses:from-domain"] == ["mail.example.com"]


def test_the_mail_object_carries_the_subject_and_the_to_header(bus: Bus) -> None:
    bus.send(f"success@{SIM}", cc=["ops@example.org"], subject="Order 1042")
    mail = only(bus.published(), "Email Sent")["mail"]
    assert mail["commonHeaders"]["subject"] == "Order 1042"
    assert mail["commonHeaders"]["to"] == [f"success@{SIM}"]
    assert mail["destination"] == [f"success@{SIM}", "ops@example.org"]


# --- grouping -------------------------------------------------------------------------------------------


def test_a_message_groups_its_recipients_into_one_event_per_outcome(bus: Bus) -> None:
    bus.send(f"success@{SIM}", f"success+b@{SIM}", f"bounce@{SIM}", f"ooto@{SIM}",
             cc=[f"complaint@{SIM}", "jane@example.org"], bcc=[f"suppressionlist@{SIM}"])
    events = by_type(bus.published())
    assert {detail_type: len(found) for detail_type, found in events.items()} == {
        "Email Sent": 1, "Email Delivered": 1, "Email Bounced": 2, "Email Complaint Received": 1}
    [delivered] = events["Email Delivered"]
    assert delivered["detail"]["delivery"]["recipients"] == [
        f"success@{SIM}", f"success+b@{SIM}", f"ooto@{SIM}", f"complaint@{SIM}", "jane@example.org"]
    bounces = {e["detail"]["bounce"]["bounceType"]: e["detail"]["bounce"] for e in events["Email Bounced"]}
    # SES combines the simulator's bounces of one request into one response.
    assert [r["emailAddress"] for r in bounces["Permanent"]["bouncedRecipients"]] == [
        f"bounce@{SIM}", f"suppressionlist@{SIM}"]
    assert [r["emailAddress"] for r in bounces["Transient"]["bouncedRecipients"]] == [f"ooto@{SIM}"]
    [complained] = events["Email Complaint Received"]
    assert complained["detail"]["complaint"]["complainedRecipients"] == [{"emailAddress": f"complaint@{SIM}"}]


# --- sends that publish nothing --------------------------------------------------------------------------


def test_a_send_the_sandbox_refuses_publishes_nothing(sandbox_bus: Bus) -> None:
    with pytest.raises(ClientError, match="Email address is not verified"):
        sandbox_bus.send(f"success@{SIM}", "stranger@example.net")
    assert sandbox_bus.published() == [] and sandbox_bus.ses.outbox == []


def test_a_send_moto_refuses_publishes_nothing(bus: Bus) -> None:
    with pytest.raises(ClientError):
        bus.send(f"success@{SIM}", FromEmailAddress="someone@unverified.example")
    assert bus.published() == []


def test_a_throttled_send_publishes_nothing(bus: Bus) -> None:
    bus.ses.faults.throttle_next = 1
    with pytest.raises(ClientError, match="Maximum sending rate exceeded"):
        bus.send(f"success@{SIM}")
    assert bus.published() == []


def test_a_send_without_a_configuration_set_publishes_nothing(bus: Bus) -> None:
    """Events go through the configuration set's event destination; without one there is none."""
    bus.send(f"bounce@{SIM}", ConfigurationSetName=None)
    assert bus.published() == [] and len(bus.ses.outbox) == 1


def test_a_failure_to_publish_never_fails_the_send(bus: Bus) -> None:
    """moto cannot be made to refuse PutEvents, so botocore's Stubber answers it with an error."""
    with Stubber(bus.ses.events) as events:
        events.add_client_error("put_events", "InternalException", "Internal error", 500)
        message_id = bus.send(f"success@{SIM}")
    assert [sent.message_id for sent in bus.ses.outbox] == [message_id]
    [failure] = bus.ses.publishing_failures
    assert failure.startswith(f"{message_id}: PutEvents failed") and "InternalException" in failure


def test_without_an_events_client_nothing_is_published(bus: Bus) -> None:
    bus.ses.events = None
    bus.send(f"complaint@{SIM}")
    assert bus.published() == [] and len(bus.ses.outbox) == 1


# --- the sandbox -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", [f"success@{SIM}", f"Bounce+X@{SIM.upper()}", f"ooto@{SIM}",
                                     f"complaint@{SIM}", f"suppressionlist@{SIM}"])
def test_the_sandbox_lets_simulator_addresses_through_unverified(sandbox_bus: Bus, address: str) -> None:
    sandbox_bus.send(address)
    assert [sent.to for sent in sandbox_bus.ses.outbox] == [[address]]
    assert sandbox_bus.published()


def test_the_sandbox_still_refuses_an_undocumented_mailbox_of_the_simulators_domain(sandbox_bus: Bus) -> None:
    with pytest.raises(ClientError, match=f"nobody@{SIM}"):
        sandbox_bus.send(f"nobody@{SIM}")


def test_a_sandbox_send_to_the_simulator_is_authorized_on_the_simulators_domain() -> None:
    """As the stack's role grants it: the simulator's domain identity, beside the other recipients'."""
    within = Scope(region=REGION, account=ACCOUNT, identities=("mail.example.com",), sandbox=True)
    params = {"FromEmailAddress": SENDER, "Content": {"Simple": {}},
              "Destination": {"ToAddresses": [f"success@{SIM}", "jane@example.org"], "BccAddresses": [f"bounce+x@{SIM}"]}}
    needed = REQUESTS[("sesv2", "SendEmail")](params, within)
    ses = f"arn:aws:ses:{REGION}:{ACCOUNT}"
    assert list(needed) == [
        Access("ses:SendEmail", f"{ses}:identity/mail.example.com"),
        Access("ses:SendEmail", f"{ses}:identity/success@{SIM}", (f"{ses}:identity/{SIM}",)),
        Access("ses:SendEmail", f"{ses}:identity/jane@example.org", (f"{ses}:identity/example.org",)),
        Access("ses:SendEmail", f"{ses}:identity/bounce+x@{SIM}", (f"{ses}:identity/{SIM}",)),
    ]



# --- the builders, as tests use them to craft events ---------------------------------------------------------

SENT_AT = datetime(2026, 3, 26, 2, 13, 8, 926_000, tzinfo=UTC)


def mail(*destination: str) -> dict[str, Any]:
    return ses_event_records.mail_object("m-1", SENDER, destination or (f"success@{SIM}",),
                                  ses_event_records.message_tags([{"Name": "lane", "Value": "normal"}], CONFIGURATION_SET),
                                  SENT_AT)


BUILDERS: Mapping[str, tuple[Any, str, str]] = {
    "send": (lambda m: ses_event_records.send(m), "Email Sent", "Send"),
    "delivery": (lambda m: ses_event_records.delivery(m, ["a@example.org"]), "Email Delivered", "Delivery"),
    "bounce": (lambda m: ses_event_records.bounce(m, ["a@example.org"], "Transient", "MailboxFull"), "Email Bounced", "Bounce"),
    "complaint": (lambda m: ses_event_records.complaint(m, ["a@example.org"], "fraud"), "Email Complaint Received",
                  "Complaint"),
    "delivery_delay": (lambda m: ses_event_records.delivery_delay(m, ["a@example.org"], "MailboxFull"),
                       "Email Delivery Delayed", "DeliveryDelay"),
    "reject": (lambda m: ses_event_records.reject(m), "Email Rejected", "Reject"),
    "rendering_failure": (lambda m: ses_event_records.rendering_failure(m, "receipt", "Attribute 'x' is not present"),
                          "Email Rendering Failed", "Rendering Failure"),
}


@pytest.mark.parametrize(("build", "detail_type", "event_type"), BUILDERS.values(), ids=BUILDERS.keys())
def test_each_record_becomes_a_default_bus_entry_with_its_detail_type(build: Any, detail_type: str,
                                                                       event_type: str) -> None:
    record = build(mail())
    assert record["eventType"] == event_type
    entry = ses_event_records.entry(record)
    assert entry == {"Source": "aws.ses", "DetailType": detail_type, "Detail": json.dumps(record),
                     "EventBusName": "default"}


def test_the_same_arguments_build_the_same_record_so_a_duplicate_is_exact() -> None:
    later = SENT_AT + timedelta(seconds=2)
    assert ses_event_records.bounce(mail(), [f"bounce@{SIM}"], at=later) == ses_event_records.bounce(mail(), [f"bounce@{SIM}"], at=later)
    assert (ses_event_records.complaint(mail(), ["a@example.org"], at=later)["complaint"]["feedbackId"]
            != ses_event_records.complaint(mail(), ["a@example.org"], at=later + timedelta(seconds=1))["complaint"]["feedbackId"])


def test_records_carry_their_own_times_so_tests_can_order_them() -> None:
    delivered = ses_event_records.delivery(mail(), ["a@example.org"], at=SENT_AT + timedelta(milliseconds=534))
    assert delivered["mail"]["timestamp"] == "2026-03-26T02:13:08.926Z"
    assert delivered["delivery"]["timestamp"] == "2026-03-26T02:13:09.460Z"
    assert delivered["delivery"]["processingTimeMillis"] == 534
    delayed = ses_event_records.delivery_delay(mail(), ["a@example.org"], at=SENT_AT + timedelta(minutes=10),
                                        expires_at=SENT_AT + timedelta(hours=1))
    assert delayed["deliveryDelay"]["expirationTime"] == "2026-03-26T03:13:08.926Z"
    assert delayed["deliveryDelay"]["delayedRecipients"][0]["emailAddress"] == "a@example.org"


def test_the_mail_object_publishes_each_tag_as_a_list_of_values() -> None:
    tags = mail()["tags"]
    assert tags["lane"] == ["normal"] and tags["ses:configuration-set"] == [CONFIGURATION_SET]
    assert set(tags) >= {"ses:source-ip", "ses:from-domain", "ses:caller-identity"}


# --- a template SES cannot render --------------------------------------------------------------------


def test_a_template_ses_cannot_render_is_accepted_then_reported_as_a_rendering_failure(bus: Bus) -> None:
    """SES renders a templated send after accepting it: the failure is an event (and so a status), never an
    error of SendEmail, which the lanes would read as an outcome they cannot know."""
    bus.ses.templates = {"email-test-receipt-v1": TemplateSpec("email-test-receipt-v1", "Receipt {{orderId}}",
                                                              "<p>{{orderId}}</p>", "{{orderId}}")}
    message_id = bus.send(f"success@{SIM}", Content={"Template": {"TemplateName": "email-test-receipt-v1",
                                                                  "TemplateData": "{}"}})
    assert message_id
    [email] = bus.ses.outbox
    assert "'orderId' is not present" in email.rendering_failure
    events = bus.published()
    assert [e["detail-type"] for e in events] == ["Email Rendering Failed"]
    failure = only(events, "Email Rendering Failed")
    assert (failure["eventType"], failure["failure"]["templateName"]) == ("Rendering Failure", "email-test-receipt-v1")
    assert failure["mail"]["messageId"] == message_id
