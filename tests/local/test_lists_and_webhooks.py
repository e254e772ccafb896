"""Suppressions, topics and status webhooks through the local system: what a producer, a recipient and an endpoint see.

The stack is the dev stack plus the setting under test (as `pulumi config set` would add it);
events go onto its bus, the lanes and the status function run as Lambda runs them, the emulated
SES plays the lists, and the webhooks call a real HTTPS endpoint on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.system import LocalSystem
from ses_email_pipeline.cli.__main__ import main
from ses_email_pipeline.handlers.shared.status_names import STATUS_DETAIL_TYPE
from tests.cli.emulated import connection, write_outputs
from tests.local.test_delivery_status import notification, statuses_of
from tests.local.https_receiver import https_receiver

SUCCESS = "success@simulator.amazonses.com"
BOUNCE = "bounce@simulator.amazonses.com"
TOPIC = {"name": "product-updates", "displayName": "Product updates", "sources": ["custom.application"]}


@contextlib.contextmanager
def running(**config: Any) -> Iterator[LocalSystem]:
    with https_receiver() as receiver, LocalSystem.start("dev", config=config, webhook_trust=receiver.trust) as system, \
            contextlib.redirect_stdout(io.StringIO()):
        system.receiver = receiver  # type: ignore[attr-defined]
        yield system


def send(system: LocalSystem, *events: dict[str, Any]) -> None:
    assert all(system.publish(list(events)))
    system.drain()


@pytest.fixture
def topics() -> Iterator[LocalSystem]:
    with running(topics=[TOPIC]) as system:
        yield system


def test_a_send_with_a_topic_carries_one_click_unsubscribe_and_a_transactional_one_never(topics: LocalSystem) -> None:
    send(topics, notification(SUCCESS, topic="product-updates"), notification("success+receipt@simulator.amazonses.com"))
    subscribed, transactional = sorted(topics.ses.outbox, key=lambda sent: sent.topic, reverse=True)
    assert subscribed.topic == "product-updates" and subscribed.tags["topic"] == "product-updates"
    assert subscribed.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert subscribed.headers["List-Unsubscribe"].startswith("<https://")
    assert transactional.topic == ""
    assert not {"List-Unsubscribe", "List-Unsubscribe-Post"} & set(transactional.headers)


def test_an_unsubscribe_arrives_as_a_status_and_the_next_send_to_the_topic_is_suppressed(topics: LocalSystem) -> None:
    send(topics, notification(SUCCESS, topic="product-updates"))
    [sent] = topics.ses.outbox
    topics.ses.one_click_unsubscribe(sent.headers["List-Unsubscribe"].strip("<>"), message_id=sent.message_id)
    topics.drain()
    told = statuses_of(topics, SUCCESS)
    assert [d["status"] for d in told] == ["delivered", "unsubscribed"]
    assert told[-1]["details"]["topic"] == "product-updates" and told[-1]["final"] is False
    send(topics, notification(SUCCESS, topic="product-updates"), notification(SUCCESS))  # the receipt still goes
    after = [d["status"] for d in statuses_of(topics, SUCCESS)][2:]
    assert sorted(after) == ["delivered", "suppressed"]
    assert [e for e in topics.ses.outbox if e.not_sent] and topics.ses.outbox[-1].not_sent.get(SUCCESS) is None


def test_a_topic_the_stack_lacks_or_the_source_may_not_use_is_dead_lettered_with_the_field() -> None:
    with running(topics=[{**TOPIC, "sources": ["shop.marketing"]}]) as system:
        send(system, notification(SUCCESS, topic="newsletter"), notification(SUCCESS, topic="product-updates"))
        reasons = sorted(letter.reason for letter in system.dead_letters() if letter.field == "detail.topic")
        assert reasons == ["detail.topic: not a topic of this stack (topics: product-updates)",
                           "detail.topic: this event's source may not send to the topic (stack config topics, "
                           "its sources)"]
        assert system.ses.outbox == []


def test_a_send_to_a_suppressed_address_ends_suppressed_not_bounced() -> None:
    with running() as system:
        system.clients["sesv2"].put_suppressed_destination(EmailAddress="gone@example.com", Reason="BOUNCE")
        send(system, notification("gone@example.com"))
        [told] = statuses_of(system, "gone@example.com")
        assert (told["status"], told["final"], told["details"]["list"]) == ("suppressed", True, "account")


def test_a_webhook_hears_only_its_statuses_with_its_auth_header() -> None:
    hook = {"name": "crm", "url": "", "statuses": ["bounced"], "auth": {"type": "apiKey", "header": "x-api-key"}}
    with https_receiver() as receiver:
        hook["url"] = f"{receiver.url}/hooks"
        with LocalSystem.start("dev", config={"webhooks": [hook], "webhookSecrets": {"crm": "s3cret"}},
                               webhook_trust=receiver.trust) as system, contextlib.redirect_stdout(io.StringIO()):
            send(system, notification(BOUNCE), notification(SUCCESS))
            [call] = receiver.calls()
            assert call.headers["x-api-key"] == "s3cret"
            event = call.json()
            assert (event["detail-type"], event["detail"]["status"]) == (STATUS_DETAIL_TYPE, "bounced")
            assert system.dead_letters() == []


def test_a_failing_webhook_ends_in_its_dead_letter_queue_and_trips_its_alarm_metric(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hook = {"name": "crm", "url": "", "auth": {"type": "basic", "username": "pipeline"}, "maxRetryAttempts": 2}
    with https_receiver() as receiver:
        hook["url"] = f"{receiver.url}/hooks"
        receiver.otherwise = 503
        with LocalSystem.start("dev", config={"webhooks": [hook], "webhookSecrets": {"crm": "pw"}},
                               webhook_trust=receiver.trust) as system:
            send(system, notification(SUCCESS))
            assert len(receiver.calls()) == 3  # the first call and two retries
            [letter] = system.dead_letters()
            assert letter.lane == "webhook-crm"  # as `email-pipeline dlq list` names it (below)
            assert (letter.code, letter.reason) == ("ERROR_FROM_TARGET", "HTTP 503")
            assert letter.event["detail"]["status"] == "delivered"
            [webhook] = system.webhooks.webhooks
            sent_to_dlq = system.clients["cloudwatch"].get_metric_statistics(
                Namespace="AWS/Events", MetricName="InvocationsSentToDlq", Statistics=["Sum"], Period=60,
                Dimensions=[{"Name": "RuleName", "Value": webhook.rule_name},
                            {"Name": "EventBusName", "Value": webhook.bus}],
                StartTime="2000-01-01T00:00:00Z", EndTime="2100-01-01T00:00:00Z")["Datapoints"]
            assert sum(point["Sum"] for point in sent_to_dlq) >= 1  # the alarm's threshold (`webhook_alarms`)
            # The operator sees it with the lanes' dead letters, EventBridge's code and reason as theirs.
            outputs = write_outputs(system, tmp_path / "outputs.json")
            capsys.readouterr()
            status = main([*connection(system, outputs), "dlq", "list", "--lane", "webhook-crm", "--json"])
            printed = capsys.readouterr()
            assert status == 0, printed.err
            [listed] = json.loads(printed.out)["lanes"]["webhook-crm"]["messages"]
            assert (listed["code"], listed["reason"]) == ("ERROR_FROM_TARGET",
                                                          "HTTP 503 (retries ran out: MaximumRetryAttempts)")
