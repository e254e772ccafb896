"""StatusWebhooks on its own, as a team reusing it declares it: what EventBridge is given, and what it may do."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from local.mocks import RecordingMocks, run_program
from ses_email_pipeline import StatusWebhooks, StatusWebhooksArgs, Webhook, WebhookAuth
from ses_email_pipeline.checks import InvalidArgs

BUS = "billing-events"
BUS_ARN = f"arn:aws:events:eu-west-1:123456789012:event-bus/{BUS}"
CRM = Webhook(name="crm", url="https://crm.example.com/hooks/email", auth=WebhookAuth("apiKey", header="x-api-key"),
              secret=pulumi.Output.secret("s3cret"), statuses=("bounced", "suppressed", "unsubscribed"),
              sources=("shop.orders",), rate_limit_per_second=5, max_retry_attempts=20, max_event_age_seconds=3600)
LEDGER = Webhook(name="ledger", url="https://ledger.example.com/in", secret="client-secret",
                 auth=WebhookAuth("oauth", token_url="https://auth.example.com/token", client_id="pipeline",
                                  scope="email.status"))


def declared(*hooks: Webhook, alarm_topic_arn: str | None = "arn:aws:sns:eu-west-1:123456789012:alarms") -> RecordingMocks:
    return run_program(lambda: StatusWebhooks("billing-webhooks", StatusWebhooksArgs(
        bus_name=BUS, bus_arn=BUS_ARN, webhooks=list(hooks), alarm_topic_arn=alarm_topic_arn)))


def one(mocks: RecordingMocks, type_token: str, name: str) -> Any:
    [found] = [r for r in mocks.of_type(type_token) if r.name == name]
    return found


def test_each_endpoint_gets_its_connection_destination_rule_and_target() -> None:
    mocks = declared(CRM)
    connection = one(mocks, "aws:cloudwatch/eventConnection:EventConnection", "billing-webhooks-crm-connection")
    assert connection.inputs["authorizationType"] == "API_KEY"
    assert connection.inputs["authParameters"]["apiKey"] == {"key": "x-api-key", "value": "s3cret"}
    destination = one(mocks, "aws:cloudwatch/eventApiDestination:EventApiDestination", "billing-webhooks-crm-destination")
    assert (destination.inputs["httpMethod"], destination.inputs["invocationEndpoint"],
            destination.inputs["invocationRateLimitPerSecond"]) == ("POST", CRM.url, 5)
    rule = one(mocks, "aws:cloudwatch/eventRule:EventRule", "billing-webhooks-crm-statuses")
    assert rule.inputs["eventBusName"] == BUS
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["email-pipeline.delivery-status"], "detail-type": ["Email Status Changed"],
        "detail": {"status": ["bounced", "suppressed", "unsubscribed"], "source": ["shop.orders"]}}
    target = one(mocks, "aws:cloudwatch/eventTarget:EventTarget", "billing-webhooks-crm-target")
    assert target.inputs["retryPolicy"] == {"maximumRetryAttempts": 20, "maximumEventAgeInSeconds": 3600}
    assert target.inputs["deadLetterConfig"]["arn"].endswith(":billing-webhooks-crm-undelivered")
    assert "input" not in target.inputs and "inputTransformer" not in target.inputs  # the status event itself


def test_the_invoker_may_call_its_own_destination_only_and_only_for_its_rule() -> None:
    mocks = declared(CRM, LEDGER)
    policy = json.loads(one(mocks, "aws:iam/rolePolicy:RolePolicy", "billing-webhooks-crm-invoker-policy").inputs["policy"])
    [statement] = policy["Statement"]
    assert statement["Action"] == ["events:InvokeApiDestination"]
    [resource] = statement["Resource"]
    assert "billing-webhooks-crm" in resource and "ledger" not in resource
    trust = json.loads(one(mocks, "aws:iam/role:Role", "billing-webhooks-crm-invoker").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"].endswith("billing-webhooks-crm-statuses")


def test_the_dead_letter_queue_takes_only_its_rules_undelivered_events() -> None:
    mocks = declared(CRM)
    policy = json.loads(one(mocks, "aws:sqs/queuePolicy:QueuePolicy",
                            "billing-webhooks-crm-undelivered-policy").inputs["policy"])
    grant = next(s for s in policy["Statement"] if s["Effect"] == "Allow")
    assert grant["Principal"] == {"Service": "events.amazonaws.com"} and grant["Action"] == "sqs:SendMessage"
    assert grant["Condition"]["ArnEquals"]["aws:SourceArn"].endswith("billing-webhooks-crm-statuses")


def test_oauth_sends_client_credentials_to_the_token_endpoint() -> None:
    connection = one(declared(LEDGER), "aws:cloudwatch/eventConnection:EventConnection",
                     "billing-webhooks-ledger-connection")
    oauth = connection.inputs["authParameters"]["oauth"]
    assert connection.inputs["authorizationType"] == "OAUTH_CLIENT_CREDENTIALS"
    assert (oauth["authorizationEndpoint"], oauth["httpMethod"]) == ("https://auth.example.com/token", "POST")
    assert oauth["clientParameters"] == {"clientId": "pipeline", "clientSecret": "client-secret"}
    assert oauth["oauthHttpParameters"]["bodies"] == [{"key": "scope", "value": "email.status", "isValueSecret": False}]


def test_every_status_is_heard_when_none_is_listed_and_a_retry_alarm_watches_each_endpoint() -> None:
    mocks = declared(LEDGER)
    rule = one(mocks, "aws:cloudwatch/eventRule:EventRule", "billing-webhooks-ledger-statuses")
    assert "detail" not in json.loads(rule.inputs["eventPattern"])
    alarm = one(mocks, "aws:cloudwatch/metricAlarm:MetricAlarm", "billing-webhooks-ledger-retrying")
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/Events", "RetryInvocationAttempts")
    assert not declared(LEDGER, alarm_topic_arn=None).of_type("aws:cloudwatch/metricAlarm:MetricAlarm")


def test_what_eventbridge_would_refuse_is_refused_before_anything_exists_all_at_once() -> None:
    bad = Webhook(name="CRM hooks", url="http://crm.example.com", auth=WebhookAuth("apiKey"), secret="s",
                  statuses=("bounced", "opened"), max_retry_attempts=200, max_event_age_seconds=30)
    with pytest.raises(InvalidArgs) as refused:
        StatusWebhooksArgs(bus_name=BUS, bus_arn=BUS_ARN, webhooks=[bad, CRM, CRM])
    assert [p.field for p in refused.value.problems] == [
        "webhooks[0].name", "webhooks[0].url", "webhooks[0].statuses", "webhooks[0].max_retry_attempts",
        "webhooks[0].max_event_age_seconds", "webhooks[0].auth.header", "webhooks"]
    assert "opened not a status" in str(refused.value)
