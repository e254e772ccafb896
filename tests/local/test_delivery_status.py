"""Delivery status end to end on the emulator: send, SES's events, status events, status records, trace.

SES's events come from the emulated SES as its mailbox simulator plays them (`local.ses_event_records`),
or are put on the default bus by the test, as SES would publish them late, twice or out of order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import ses_event_records
from local.system import LocalSystem
from ses_email_pipeline.handlers.shared import hashing
from ses_email_pipeline.handlers.shared.hashing import recipient_hash
from ses_email_pipeline.handlers.shared.status_names import STATUS_DETAIL_TYPE, STATUS_SOURCE

SIMULATOR = "simulator.amazonses.com"
ROOT = Path(__file__).resolve().parents[2]


def notification(recipient: str, **detail: Any) -> dict[str, Any]:
    return {"Source": "custom.application", "DetailType": "Email Notification Request",
            "Detail": json.dumps({"emailConfig": {"recipient": recipient, "subject": "Hello"}, "title": "T",
                                  "message": "M", **detail})}


@pytest.fixture
def system() -> Iterator[LocalSystem]:
    with LocalSystem.start("dev") as running, contextlib.redirect_stdout(io.StringIO()):
        yield running


def send(system: LocalSystem, *recipients: str, **detail: Any) -> list[str]:
    ids = system.publish([notification(recipient, **detail) for recipient in recipients])
    system.drain()
    return ids


def hash_key(system: LocalSystem) -> bytes:
    function = system.status_function()
    assert function is not None
    return function.environment["EMAIL_RECIPIENT_HASH_KEY"].encode()


def statuses_of(system: LocalSystem, address: str) -> list[dict[str, Any]]:
    hashed = recipient_hash(address, hash_key(system))
    return [d for d in system.status_events() if d["recipient"]["hash"] == hashed]


def delivery_of(system: LocalSystem, address: str) -> str:
    email = next(e for e in system.summary()["sent"] if address in e["to"])
    return email["delivery"][address]


@pytest.mark.parametrize(("mailbox", "final", "seen"), [
    ("success", "delivered", ["delivered"]),
    ("bounce", "bounced", ["bounced"]),
    ("ooto", "delivered", ["delivered", "bounced"]),  # the automatic reply changes nothing
    ("complaint", "complained", ["delivered", "complained"]),
    ("suppressionlist", "bounced", ["bounced"]),
])
def test_each_simulator_mailbox_ends_in_its_status(system: LocalSystem, mailbox: str, final: str,
                                                   seen: list[str]) -> None:
    address = f"{mailbox}@{SIMULATOR}"
    send(system, address)
    told = statuses_of(system, address)
    assert [d["status"] for d in told] == seen
    assert told[-1]["final"] is (final != "delivered")
    if mailbox == "ooto":  # the automatic reply, told as such
        assert (told[-1]["details"]["type"], told[-1]["afterDelivery"]) == ("Transient", True)
    assert delivery_of(system, address) == final
    assert system.summary()["dead_letters"] == [] and system.summary()["access_denied"] == []


def test_a_status_event_ties_back_to_the_producers_event(system: LocalSystem) -> None:
    [event_id] = send(system, f"bounce@{SIMULATOR}", idempotencyKey="reset-42", correlationId="user-7_reset")
    [detail] = statuses_of(system, f"bounce@{SIMULATOR}")
    assert detail["status"] == "bounced" and detail["final"] is True
    assert detail["details"] == {"type": "Permanent", "subType": "General"}
    assert detail["source"] == "custom.application"
    assert detail["correlationId"] == "user-7_reset"
    assert detail["keyHash"] == hashing.key_hash("reset-42", hash_key(system))
    assert detail["eventId"] == event_id
    assert (detail["lane"], detail["template"]) == ("normal", "notification-v1")
    [email] = system.summary()["sent"]
    assert detail["sesMessageId"] == email["ses_message_id"]
    assert detail["recipient"] == {"hash": recipient_hash(f"bounce@{SIMULATOR}", hash_key(system)),
                                   "domain": SIMULATOR}  # no address unless the stack opts in
    assert detail["sentAt"] and detail["occurredAt"]


def readme_rule() -> dict[str, Any]:
    """The producer's rule the README shows (its JSON block with the status events' detail-type)."""
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    [rule] = [json.loads(block) for block in blocks if STATUS_DETAIL_TYPE in block]
    return rule


def test_the_readme_rule_hears_of_bounces_and_complaints_only(system: LocalSystem) -> None:
    """A producer subscribing with the README's rule gets its bounces and complaints, nothing else."""
    pattern = readme_rule()
    assert pattern["source"] == [STATUS_SOURCE] and pattern["detail-type"] == [STATUS_DETAIL_TYPE]
    sqs, events, bus = system.clients["sqs"], system.clients["events"], system.blueprint.buses[0]
    url = sqs.create_queue(QueueName="producer-statuses")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="producer-statuses", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="producer-statuses", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    send(system, f"success@{SIMULATOR}", f"bounce@{SIMULATOR}", f"complaint@{SIMULATOR}")
    heard = [json.loads(m["Body"])["detail"]["status"]
             for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])]
    assert sorted(heard) == ["bounced", "complained"]


def ses_event(system: LocalSystem, kind: str, recipients: list[str], *, at: dt.datetime | None = None,
              **options: Any) -> dict[str, str]:
    """An SES event about the one message sent so far, as SES would publish it on the default bus."""
    [email] = system.ses.outbox
    tags = {**email.tags, "ses:configuration-set": system.blueprint.configuration_sets[0]}
    mail = ses_event_records.mail_object(email.message_id, "no-reply@example.com", email.to, tags,
                                  dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))
    builders = {"delivery": ses_event_records.delivery, "delay": ses_event_records.delivery_delay, "bounce": ses_event_records.bounce,
                "complaint": ses_event_records.complaint}
    return ses_event_records.entry(builders[kind](mail, recipients, at=at, **options))


def put_ses(system: LocalSystem, *entries: dict[str, str]) -> None:
    response = system.clients["events"].put_events(Entries=list(entries))
    assert response["FailedEntryCount"] == 0
    system.drain()


def record_of(system: LocalSystem) -> dict[str, Any]:
    [email] = system.ses.outbox
    return system.status_record(email.message_id)


def test_the_same_ses_event_twice_changes_nothing(system: LocalSystem) -> None:
    address = f"success@{SIMULATOR}"
    send(system, address)
    delivered = ses_event(system, "delivery", [address], at=dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc))
    put_ses(system, delivered, delivered)  # SES publishes it twice (two EventBridge ids)
    put_ses(system, delivered)
    assert [d["status"] for d in statuses_of(system, address)] == ["delivered", "delivered"]  # the sent one, one more
    history = record_of(system)["history"]["L"]
    assert len(history) == 2
    skipped = [r for lane, r in system.log_records if r.get("event") == "email_status_skipped"]
    assert [r["reason"] for r in skipped] == ["repeated", "repeated"]


def send_quietly(system: LocalSystem, address: str) -> None:
    """Send with SES's event publishing held back: the test publishes SES's events itself."""
    events, system.ses.events = system.ses.events, None
    try:
        send(system, address)
    finally:
        system.ses.events = events


AT = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.timezone.utc)


def test_a_delay_then_a_delivery_ends_delivered(system: LocalSystem) -> None:
    address = "someone@example.com"
    send_quietly(system, address)
    put_ses(system, ses_event(system, "delay", [address], at=AT))
    assert delivery_of(system, address) == "delayed"
    put_ses(system, ses_event(system, "delivery", [address], at=AT + dt.timedelta(minutes=20)))
    assert delivery_of(system, address) == "delivered"
    assert [d["status"] for d in statuses_of(system, address)] == ["delayed", "delivered"]


def test_a_delay_arriving_after_the_delivery_does_not_lower_it(system: LocalSystem) -> None:
    address = "someone@example.com"
    send_quietly(system, address)
    put_ses(system, ses_event(system, "delivery", [address], at=AT + dt.timedelta(minutes=20)))
    put_ses(system, ses_event(system, "delay", [address], at=AT))
    assert delivery_of(system, address) == "delivered"
    assert [d["status"] for d in statuses_of(system, address)] == ["delivered"]  # the late delay is not told
    history = [entry["M"]["status"]["S"] for entry in record_of(system)["history"]["L"]]
    assert history == ["delivered"]


def test_a_complaint_after_the_delivery_is_the_final_status(system: LocalSystem) -> None:
    address = "someone@example.com"
    send_quietly(system, address)
    put_ses(system, ses_event(system, "complaint", [address], at=AT + dt.timedelta(hours=2)))
    put_ses(system, ses_event(system, "delivery", [address], at=AT))  # the delivery comes in last
    assert delivery_of(system, address) == "complained"
    [latest] = [d for d in statuses_of(system, address)]
    assert (latest["status"], latest["final"]) == ("complained", True)


def test_each_recipient_of_one_message_keeps_its_own_status(system: LocalSystem) -> None:
    """A delivery of one recipient after a bounce of another, on the same message: both stand."""
    to, cc = "someone@example.com", "other@example.com"
    events, system.ses.events = system.ses.events, None  # SES's events come from the test
    system.publish([{"Source": "custom.application", "DetailType": "Email Notification Request",
                     "Detail": json.dumps({"emailConfig": {"recipient": to, "cc": [cc], "subject": "S"},
                                           "title": "T", "message": "M"})}])
    system.drain()
    system.ses.events = events
    put_ses(system, ses_event(system, "bounce", [to], at=AT))
    put_ses(system, ses_event(system, "delivery", [cc], at=AT + dt.timedelta(minutes=1)))
    [email] = system.summary()["sent"]
    assert email["delivery"] == {to: "bounced", cc: "delivered"}
    assert [d["status"] for d in statuses_of(system, to)] == ["bounced"]
    assert [d["status"] for d in statuses_of(system, cc)] == ["delivered"]


def status_queue_url(system: LocalSystem) -> str:
    queue = next(q for q, f, _ in system.blueprint.lane_mappings() if f.environment["EMAIL_LANE"] == "status")
    return system.queue_url(queue)


def test_an_unreadable_ses_event_is_dead_lettered_with_its_reason_and_blocks_nothing(system: LocalSystem) -> None:
    address = f"success@{SIMULATOR}"
    send(system, address)
    good = json.loads(ses_event(system, "complaint", [address])["Detail"])
    broken = json.loads(ses_event(system, "bounce", [address])["Detail"])
    del broken["bounce"]["bouncedRecipients"]
    sqs, url = system.clients["sqs"], status_queue_url(system)
    bodies = [{"id": "e-1", "source": "aws.ses", "detail-type": "Email Bounced", "detail": broken},
              {"id": "e-2", "source": "aws.ses", "detail-type": "Email Opened", "detail": good},
              "not json", {"id": "e-3", "source": "aws.ses", "detail-type": "Email Complaint Received", "detail": good}]
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": body if isinstance(body, str) else json.dumps(body)}
        for i, body in enumerate(bodies)])
    system.drain()
    letters = [letter for letter in system.dead_letters() if letter.lane == "status"]
    assert sorted((letter.code, letter.field) for letter in letters) == [
        ("InvalidSesEvent", "body"), ("InvalidSesEvent", "detail-type"),
        ("InvalidSesEvent", "detail.bounce.bouncedRecipients")]
    assert delivery_of(system, address) == "complained"  # the good one in the same batch went through


def test_a_status_the_function_may_not_publish_is_retried_then_dead_lettered(system: LocalSystem) -> None:
    """Nothing vanishes: without events:PutEvents the SES event stays, and ends in the status DLQ with why."""

    def without_put_events(_function: str, document: dict[str, Any]) -> dict[str, Any]:
        document["Statement"] = [s for s in document["Statement"] if s["Action"] != ["events:PutEvents"]]
        return document

    with LocalSystem.start("dev", policy_edits=without_put_events) as denied, \
            contextlib.redirect_stdout(io.StringIO()):
        send(denied, f"success@{SIMULATOR}")
        assert [d["action"] for d in denied.summary()["access_denied"]] == ["events:PutEvents"]
        letters = [letter for letter in denied.dead_letters() if letter.lane == "status"]
        assert [(letter.code, letter.field) for letter in letters] == [("StatusNotPublished", "AccessDeniedException")]
        assert letters[0].event["detail-type"] == "Email Delivered"
        assert denied.status_events() == []


def test_status_logs_carry_no_address_and_no_producer_value(system: LocalSystem) -> None:
    send(system, f"complaint@{SIMULATOR}", "person@example.com", correlationId="secret-correlation",
         title="Secret-Title-Value", message="Secret-Message-Value", templateData={"orderId": "Secret-Order-Value"})
    lines = [json.dumps(record) for lane, record in system.log_records if lane == "status"]
    assert len(lines) >= 3  # delivered twice, complained once
    for line in lines:
        assert "@" not in line  # no address (the domain is its own field)
        assert "person" not in line and "complaint" not in line.replace('"complained"', "")
        assert "secret" not in line.lower()  # neither the producer's correlation id nor template data


@pytest.mark.parametrize(("settings", "events", "record"), [
    ({"statusEvents": False}, False, True),
    ({"statusRecords": False}, True, False),
])
def test_a_stack_keeps_only_the_half_it_pays_for(settings: dict[str, bool], events: bool, record: bool) -> None:
    with LocalSystem.start("dev", config=settings) as running, contextlib.redirect_stdout(io.StringIO()):
        send(running, f"bounce@{SIMULATOR}")
        assert bool(running.status_events()) is events
        [email] = running.ses.outbox
        assert bool(running.status_record(email.message_id)) is record
        assert running.summary()["sent"][0]["delivery"] == {f"bounce@{SIMULATOR}": "bounced"}
        assert running.summary()["access_denied"] == []


def test_a_stack_without_delivery_status_has_no_status_handler() -> None:
    with LocalSystem.start("dev", config={"statusEvents": False, "statusRecords": False}) as running, \
            contextlib.redirect_stdout(io.StringIO()):
        assert running.status_function() is None
        send(running, f"success@{SIMULATOR}")
        assert running.summary()["sent"][0]["delivery"] == {}


def test_addresses_appear_in_status_events_only_where_the_stack_opts_in() -> None:
    with LocalSystem.start("dev", config={"statusAddresses": True}) as running, \
            contextlib.redirect_stdout(io.StringIO()):
        send(running, f"bounce@{SIMULATOR}")
        [detail] = running.status_events()
        assert detail["recipient"]["address"] == f"bounce@{SIMULATOR}"
        assert all("@" not in json.dumps(r) for lane, r in running.log_records if lane == "status")


def test_the_daily_reports_statuses_are_recorded_but_not_published(system: LocalSystem) -> None:
    """The report is not a producer's event: no one subscribes to its statuses; trace still sees its record."""
    system.run_report()
    system.drain()
    [report] = [email for email in system.ses.outbox if email.lane == "report"]
    assert [d for d in system.status_events() if d["sesMessageId"] == report.message_id] == []
    assert system.status_record(report.message_id)["history"]["L"]
    assert any(record.get("event") == "email_status_unattributed" for _lane, record in system.log_records)
