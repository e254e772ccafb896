"""The emulated SES's lists: the account's suppression list, and a send's contact list and topic.

Sends go through `EmulatedSes` on moto (in-process) and the default bus is read as a consumer
would (`tests.local.test_ses_simulator.Bus`); the lists are set up with the same sesv2 calls an
operator or the Pulumi program makes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.local.test_ses_simulator import Bus, bus_for, only

LIST = "email-pipeline"
TOPICS = [{"TopicName": "digest", "DisplayName": "Weekly digest", "DefaultSubscriptionStatus": "OPT_IN"},
          {"TopicName": "offers", "DisplayName": "Offers", "DefaultSubscriptionStatus": "OPT_OUT"}]


@pytest.fixture
def bus() -> Iterator[Bus]:
    with mock_aws():
        made = bus_for(sandbox=False)
        made.ses.moto_client.create_contact_list(ContactListName=LIST, Topics=TOPICS)
        yield made


def topic(name: str | None) -> dict[str, Any]:
    return {"ListManagementOptions": {"ContactListName": LIST, **({"TopicName": name} if name else {})}}


def test_an_address_on_the_suppression_list_is_accepted_then_bounced_as_suppressed(bus: Bus) -> None:
    bus.ses.moto_client.put_suppressed_destination(EmailAddress="Gone@Example.com", Reason="BOUNCE")
    message_id = bus.send("gone@example.com", "here@example.com")
    events = bus.published()
    bounce = only(events, "Email Bounced")["bounce"]
    assert (bounce["bounceType"], bounce["bounceSubType"]) == ("Permanent", "OnAccountSuppressionList")
    assert [r["emailAddress"] for r in bounce["bouncedRecipients"]] == ["gone@example.com"]
    assert only(events, "Email Delivered")["delivery"]["recipients"] == ["here@example.com"]
    [sent] = bus.ses.outbox
    assert (sent.message_id, sent.not_sent) == (message_id, {"gone@example.com": "account"})


def test_an_address_lifted_from_the_suppression_list_is_delivered_again(bus: Bus) -> None:
    client = bus.ses.moto_client
    client.put_suppressed_destination(EmailAddress="back@example.com", Reason="COMPLAINT")
    client.delete_suppressed_destination(EmailAddress="back@example.com")
    bus.send("back@example.com")
    assert {e["detail-type"] for e in bus.published()} == {"Email Sent", "Email Delivered"}


def test_the_suppression_list_answers_as_ses_does(bus: Bus) -> None:
    client = bus.ses.moto_client
    with pytest.raises(ClientError) as missing:
        client.get_suppressed_destination(EmailAddress="nobody@example.com")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as bad_reason:
        client.put_suppressed_destination(EmailAddress="a@example.com", Reason="SPAM")
    assert bad_reason.value.response["Error"]["Code"] == "BadRequestException"
    for index in range(3):
        client.put_suppressed_destination(EmailAddress=f"a{index}@example.com", Reason="BOUNCE")
    client.put_suppressed_destination(EmailAddress="c@example.com", Reason="COMPLAINT")
    first = client.list_suppressed_destinations(Reasons=["BOUNCE"], PageSize=2)
    second = client.list_suppressed_destinations(Reasons=["BOUNCE"], PageSize=2, NextToken=first["NextToken"])
    listed = [s["EmailAddress"] for s in first["SuppressedDestinationSummaries"] + second["SuppressedDestinationSummaries"]]
    assert sorted(listed) == ["a0@example.com", "a1@example.com", "a2@example.com"] and "NextToken" not in second


def test_a_topic_send_carries_one_click_unsubscribe_and_a_transactional_send_never_does(bus: Bus) -> None:
    bus.send("reader@example.com", **topic("digest"))
    bus.send("reader@example.com")
    with_topic, transactional = bus.ses.outbox
    assert with_topic.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert with_topic.headers["List-Unsubscribe"].startswith("<https://") and with_topic.topic == "digest"
    assert "List-Unsubscribe" not in transactional.headers and "List-Unsubscribe-Post" not in transactional.headers


def test_ses_fills_its_unsubscribe_placeholder_only_in_a_topic_send(bus: Bus) -> None:
    body = {"Subject": {"Data": "News"}, "Body": {"Text": {"Data": "Leave: {{amazonSESUnsubscribeUrl}}"}}}
    bus.send("reader@example.com", Content={"Simple": body}, **topic("digest"))
    [sent] = bus.ses.outbox
    assert sent.text == f"Leave: {sent.headers['List-Unsubscribe'].strip('<>')}"


def test_a_one_click_unsubscribe_skips_the_contact_next_time_and_publishes_a_subscription_event(bus: Bus) -> None:
    bus.send("reader@example.com", **topic("digest"))
    [first] = bus.ses.outbox
    bus.published()
    bus.ses.one_click_unsubscribe(first.headers["List-Unsubscribe"])
    subscription = only(bus.published(), "Email Subscribed")
    assert subscription["mail"]["messageId"] == first.message_id
    assert subscription["subscription"]["newTopicPreferences"]["topicSubscriptionStatus"] == [
        {"topicName": "digest", "subscriptionStatus": "OptOut"}, {"topicName": "offers", "subscriptionStatus": "OptOut"}]
    bus.send("reader@example.com", **topic("digest"))
    bounce = only(bus.published(), "Email Bounced")["bounce"]
    assert (bounce["bounceType"], bounce["bounceSubType"]) == ("Permanent", "UnsubscribedRecipient")
    bus.send("reader@example.com")  # transactional mail still goes out
    assert {e["detail-type"] for e in bus.published()} == {"Email Sent", "Email Delivered"}


def test_a_topic_whose_default_is_opt_out_reaches_only_contacts_who_opted_in(bus: Bus) -> None:
    client = bus.ses.moto_client
    client.create_contact(ContactListName=LIST, EmailAddress="keen@example.com",
                          TopicPreferences=[{"TopicName": "offers", "SubscriptionStatus": "OPT_IN"}])
    bus.send("keen@example.com", **topic("offers"))
    bus.send("stranger@example.com", **topic("offers"))
    keen, stranger = bus.ses.outbox
    assert (keen.not_sent, stranger.not_sent) == ({}, {"stranger@example.com": "topic"})


def test_a_topic_the_contact_list_does_not_have_is_refused(bus: Bus) -> None:
    with pytest.raises(ClientError) as refused:
        bus.send("reader@example.com", **topic("gossip"))
    assert refused.value.response["Error"]["Code"] == "NotFoundException"
    assert bus.ses.outbox == [] and bus.published() == []


def test_an_account_has_one_contact_list(bus: Bus) -> None:
    with pytest.raises(ClientError) as refused:
        bus.ses.moto_client.create_contact_list(ContactListName="another")
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
