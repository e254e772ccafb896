"""Status webhooks on the emulator: what an HTTPS endpoint receives, and where a failing one's events end.

The webhooks are declared by `StatusWebhooks` under Pulumi's mocks, their rules put on moto's bus,
and `local.api_destinations` calls a real HTTPS endpoint on 127.0.0.1 (`tests.local.https_receiver`)
as EventBridge would. Faults are the endpoint's answers, scripted per call.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.api_destinations import ApiDestinations, webhooks_from_mocks
from local.mocks import run_program
from ses_email_pipeline import StatusWebhooks, StatusWebhooksArgs, Webhook, WebhookAuth
from ses_email_pipeline.handlers.shared.status_names import STATUS_DETAIL_TYPE, STATUS_SOURCE
from tests.local.https_receiver import Receiver, https_receiver

REGION = "eu-west-1"
BUS = "billing-events"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with https_receiver() as serving:
        yield serving


def hook(receiver: Receiver, **changes: Any) -> Webhook:
    base = Webhook(name="crm", url=f"{receiver.url}/hooks", auth=WebhookAuth("apiKey", header="x-api-key"),
                   secret="s3cret", statuses=("bounced", "delivered"), max_retry_attempts=3)
    return replace(base, **changes)


class Emulated:
    """moto's bus with the webhooks' rules and queues, and the API destinations calling out."""

    def __init__(self, receiver: Receiver, *hooks: Webhook) -> None:
        mocks = run_program(lambda: StatusWebhooks("billing-webhooks", StatusWebhooksArgs(
            bus_name=BUS, bus_arn=f"arn:aws:events:{REGION}:123456789012:event-bus/{BUS}", webhooks=list(hooks))))
        self.clients = {name: boto3.client(name, region_name=REGION) for name in ("sqs", "events", "cloudwatch")}
        self.clients["events"].create_event_bus(Name=BUS)
        self.webhooks = webhooks_from_mocks(mocks.resources)
        for webhook in self.webhooks:
            self.clients["events"].put_rule(Name=webhook.rule_name, EventBusName=BUS, EventPattern=webhook.pattern)
            self.clients["sqs"].create_queue(QueueName=webhook.dead_letter_queue)
        self.destinations = ApiDestinations(self.webhooks, self.clients, ssl_context=receiver.trust)
        self.destinations.provision()

    def publish(self, status: str, source: str = "shop.orders") -> None:
        detail = {"status": status, "source": source, "statusId": f"{status}-1", "recipient": {"hash": "ab", "domain": "example.com"}}
        self.clients["events"].put_events(Entries=[{"Source": STATUS_SOURCE, "DetailType": STATUS_DETAIL_TYPE,
                                                    "EventBusName": BUS, "Detail": json.dumps(detail)}])

    def dead_letters(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        sqs = self.clients["sqs"]
        url = sqs.get_queue_url(QueueName=self.webhooks[0].dead_letter_queue)["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", [])
        return [(json.loads(m["Body"]), {k: v["StringValue"] for k, v in m["MessageAttributes"].items()})
                for m in messages]

    def metric(self, name: str) -> float:
        data = self.clients["cloudwatch"].get_metric_statistics(
            Namespace="AWS/Events", MetricName=name, Statistics=["Sum"], Period=60,
            Dimensions=[{"Name": "RuleName", "Value": self.webhooks[0].rule_name}, {"Name": "EventBusName", "Value": BUS}],
            StartTime="2000-01-01T00:00:00Z", EndTime="2100-01-01T00:00:00Z")["Datapoints"]
        return sum(point["Sum"] for point in data)


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def test_the_endpoint_receives_the_status_event_with_its_api_key(aws: None, receiver: Receiver) -> None:
    emulated = Emulated(receiver, hook(receiver))
    emulated.publish("bounced")
    [delivery] = emulated.destinations.deliver()
    assert delivery.delivered and delivery.attempts == 1
    [call] = receiver.calls()
    assert call.headers["x-api-key"] == "s3cret"
    assert call.headers["content-type"] == "application/json; charset=utf-8"
    event = call.json()
    assert (event["source"], event["detail-type"], event["detail"]["status"]) == (STATUS_SOURCE, STATUS_DETAIL_TYPE,
                                                                                  "bounced")


def test_only_the_statuses_and_sources_asked_for_are_sent(aws: None, receiver: Receiver) -> None:
    emulated = Emulated(receiver, hook(receiver, sources=("shop.orders",)))
    emulated.publish("delayed")
    emulated.publish("delivered", source="shop.marketing")
    emulated.publish("delivered")
    assert [d.delivered for d in emulated.destinations.deliver()] == [True]
    assert [c.json()["detail"]["status"] for c in receiver.calls()] == ["delivered"]


def test_a_failing_endpoint_is_retried_then_its_event_is_dead_lettered_with_why(aws: None, receiver: Receiver) -> None:
    receiver.otherwise = 503
    emulated = Emulated(receiver, hook(receiver))
    emulated.publish("bounced")
    [delivery] = emulated.destinations.deliver()
    assert (delivery.delivered, delivery.attempts, len(receiver.calls())) == (False, 4, 4)
    [(event, attributes)] = emulated.dead_letters()
    assert event["detail"]["status"] == "bounced"
    assert attributes["ERROR_CODE"] == "ERROR_FROM_TARGET" and attributes["ERROR_MESSAGE"] == "HTTP 503"
    assert (attributes["EXHAUSTED_RETRY_CONDITION"], attributes["RETRY_ATTEMPTS"]) == ("MaximumRetryAttempts", "3")
    assert attributes["RULE_ARN"].endswith("billing-webhooks-crm-statuses")
    assert emulated.metric("RetryInvocationAttempts") > 0 and emulated.metric("InvocationsSentToDlq") == 1


def test_a_client_error_is_dead_lettered_at_once_and_a_throttle_is_retried(aws: None, receiver: Receiver) -> None:
    receiver.script = [(400, {}), (429, {"Retry-After": "2"}), (200, {})]
    emulated = Emulated(receiver, hook(receiver))
    emulated.publish("bounced")
    emulated.publish("delivered")
    refused, throttled = emulated.destinations.deliver()
    assert (refused.delivered, refused.attempts, refused.last_status) == (False, 1, 400)
    assert (throttled.delivered, throttled.attempts) == (True, 2)
    [(_event, attributes)] = emulated.dead_letters()
    assert attributes["RETRY_ATTEMPTS"] == "0" and "EXHAUSTED_RETRY_CONDITION" not in attributes


def test_basic_auth_and_oauth_client_credentials_reach_the_endpoint(aws: None, receiver: Receiver) -> None:
    basic = hook(receiver, name="basic", auth=WebhookAuth("basic", username="pipeline"), secret="pw")
    oauth = hook(receiver, name="oauth", secret="client-secret",
                 auth=WebhookAuth("oauth", token_url=f"{receiver.url}/token", client_id="pipeline", scope="status"))
    emulated = Emulated(receiver, basic, oauth)
    emulated.publish("delivered")
    assert all(d.delivered for d in emulated.destinations.deliver())
    authorizations = sorted(c.headers["authorization"] for c in receiver.calls())
    assert authorizations == ["Basic " + base64.b64encode(b"pipeline:pw").decode(), "Bearer issued-token-1"]
    [token_request] = receiver.calls("/token")
    assert token_request.headers["authorization"] == "Basic " + base64.b64encode(b"pipeline:client-secret").decode()
    assert b"grant_type=client_credentials" in token_request.body and b"scope=status" in token_request.body


def test_without_permission_to_invoke_the_destination_nothing_is_called(aws: None, receiver: Receiver) -> None:
    emulated = Emulated(receiver, hook(receiver))
    emulated.destinations.webhooks[0] = replace(emulated.webhooks[0], role_policy={"Statement": []})
    emulated.publish("bounced")
    [delivery] = emulated.destinations.deliver()
    assert (delivery.delivered, delivery.error_code, receiver.calls()) == (False, "NO_PERMISSIONS", [])
    [(_event, attributes)] = emulated.dead_letters()
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"
