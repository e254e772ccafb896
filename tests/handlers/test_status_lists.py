"""The status handler on what lists decide: a suppressed recipient, an unsubscribe, a resubscribe.

SES's events are built as SES publishes them (`local.ses_event_records`) and handed to the
handler as the status queue would; what a producer sees is read from its subscription on the bus.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from local import ses_event_records
from tests.conftest import Lanes, sqs_event, sqs_record
from tests.handlers.test_status import PIPELINE_TAGS, SENT_AT, Bus, bus, eventbridge, history_of, mail, processor

__all__ = ["bus"]  # the fixture, used by name

LIST = "email-pipeline"
TOPIC_TAGS = {**PIPELINE_TAGS, "topic": "digest"}


def handle(aws: Lanes, bus: Bus, *details: dict[str, Any]) -> None:
    handler = processor(aws, bus)
    for index, detail in enumerate(details):
        assert handler(sqs_event(sqs_record(eventbridge(detail, event_id=f"eb-{index}")))) == {"batchItemFailures": []}


def latest(aws: Lanes, recipient_hash: str, message_id: str = "ses-1") -> str:
    item = aws.dynamodb.get_item(TableName=aws.table, Key={"id": {"S": f"test#status#{message_id}"}})["Item"]
    return item[f"r_{recipient_hash}"]["M"]["status"]["S"]


def opted(topics: dict[str, bool], *, everything: bool = False) -> dict[str, Any]:
    return ses_event_records.topic_preferences(everything, topics)


@pytest.mark.parametrize(("sub_type", "listed"), [("OnAccountSuppressionList", "account"), ("Suppressed", "global"),
                                                  ("UnsubscribedRecipient", "topic")])
def test_a_recipient_ses_would_not_send_to_is_suppressed_not_bounced(
        aws: Lanes, bus: Bus, sub_type: str, listed: str) -> None:
    handle(aws, bus, ses_event_records.bounce(mail("a@example.com"), ["a@example.com"], "Permanent", sub_type))
    [detail] = bus.received()
    assert (detail["status"], detail["final"]) == ("suppressed", True)
    assert detail["details"] == {"type": "Permanent", "subType": sub_type, "list": listed}
    assert latest(aws, detail["recipient"]["hash"]) == "suppressed"


def test_a_hard_bounce_from_the_recipients_server_is_still_a_bounce(aws: Lanes, bus: Bus) -> None:
    handle(aws, bus, ses_event_records.bounce(mail("a@example.com"), ["a@example.com"], "Permanent", "General"))
    assert [d["status"] for d in bus.received()] == ["bounced"]


def test_an_unsubscribe_after_the_delivery_is_told_and_the_recipient_stays_delivered(aws: Lanes, bus: Bus) -> None:
    one = mail("a@example.com", tags=TOPIC_TAGS)
    handle(aws, bus, ses_event_records.delivery(one, ["a@example.com"]),
           ses_event_records.subscription(one, LIST, old=opted({"digest": True}), new=opted({"digest": False}),
                                          at=SENT_AT + dt.timedelta(hours=3)))
    delivered, unsubscribed = bus.received_all()
    assert (unsubscribed["status"], unsubscribed["final"], unsubscribed["rank"]) == ("unsubscribed", False, 0)
    assert unsubscribed["details"] == {"contactList": LIST, "scope": "topic", "topic": "digest", "via": "UnsubscribeHeader"}
    assert (unsubscribed["topic"], unsubscribed["eventId"], unsubscribed["correlationId"]) == ("digest", "ev-1", "order_1042")
    assert latest(aws, delivered["recipient"]["hash"]) == "delivered"
    assert [entry.split(" ")[0] for entry in history_of(aws)] == ["delivered", "unsubscribed"]


def test_a_change_of_subscription_is_told_even_after_a_final_status(aws: Lanes, bus: Bus) -> None:
    """A complaint ends the delivery; the same recipient's unsubscribe is still news to the producer."""
    one = mail("a@example.com", tags=TOPIC_TAGS)
    handle(aws, bus, ses_event_records.complaint(one, ["a@example.com"], at=SENT_AT + dt.timedelta(hours=1)),
           ses_event_records.subscription(one, LIST, old=opted({"digest": True}), new=opted({"digest": False}),
                                          at=SENT_AT + dt.timedelta(hours=2)))
    assert [(d["status"], d["final"]) for d in bus.received_all()] == [("complained", True), ("unsubscribed", False)]


def test_unsubscribing_from_everything_and_back_are_two_statuses_each_told_once(aws: Lanes, bus: Bus) -> None:
    one = mail("a@example.com", tags=TOPIC_TAGS)
    leave = ses_event_records.subscription(one, LIST, old=opted({"digest": True}),
                                           new=opted({"digest": True}, everything=True),
                                           at=SENT_AT + dt.timedelta(hours=1))
    back = ses_event_records.subscription(one, LIST, old=opted({"digest": True}, everything=True),
                                          new=opted({"digest": True}), at=SENT_AT + dt.timedelta(days=1))
    handle(aws, bus, leave, leave, back)
    assert [(d["status"], d["details"]["scope"]) for d in bus.received_all()] == [
        ("unsubscribed", "all"), ("resubscribed", "all")]


def test_without_a_topic_tag_the_topic_that_changed_is_the_one_told(aws: Lanes, bus: Bus) -> None:
    one = mail("a@example.com")
    handle(aws, bus, ses_event_records.subscription(
        one, LIST, old=opted({"digest": True, "offers": True}), new=opted({"digest": True, "offers": False})))
    [detail] = bus.received()
    assert (detail["status"], detail["details"]["topic"], detail["topic"]) == ("unsubscribed", "offers", None)


@pytest.mark.parametrize(("path", "value", "rule"), [
    ("newTopicPreferences", None, "must be an object"),
    ("newTopicPreferences.unsubscribeAll", "yes", "must be true or false"),
    ("newTopicPreferences.topicSubscriptionStatus", [{"topicName": "digest", "subscriptionStatus": "Maybe"}],
     "must list objects with a topicName and a subscriptionStatus of OptIn or OptOut"),
    ("contactList", 7, "must be the contact list's name"),
])
def test_a_subscription_event_that_cannot_be_read_is_dead_lettered_with_field_and_rule(
        aws: Lanes, bus: Bus, path: str, value: Any, rule: str) -> None:
    detail = ses_event_records.subscription(mail("a@example.com"), LIST, old=opted({"digest": True}),
                                            new=opted({"digest": False}))
    *parents, leaf = path.split(".")
    holder = detail["subscription"]
    for part in parents:
        holder = holder[part]
    holder[leaf] = value
    handle(aws, bus, detail)
    assert bus.received() == []
    [letter] = aws.dead_letters()
    field = f"detail.subscription.{path}"
    assert letter["attributes"]["FailureReason"] == f"{field}: {rule}"
