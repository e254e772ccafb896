"""Subscription topics and status webhooks as a stack sets them: what `pulumi preview` would declare or refuse.

The whole program runs under Pulumi's mocks with the dev stack's config plus the setting under
test (`pulumi config set` stands in as overrides); refusals are `parse`'s lines, as the program
prints them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.mocks import RecordingMocks
from local.program import run_stack
from ses_email_pipeline.stack_config import ConfigErrors, parse

TOPIC = {"name": "product-updates", "displayName": "Product updates", "description": "New features, monthly",
         "sources": ["shop.marketing"]}
WEBHOOK = {"name": "crm", "url": "https://hooks.example.com/email-status", "statuses": ["bounced", "complained"],
           "sources": ["shop.orders"], "auth": {"type": "apiKey", "header": "x-api-key"}, "maxRetryAttempts": 20}
VALID = {"sender": "a@example.com", "identity": "example.com", "recipientAllowlist": ["@example.com"]}


def lane_environments(mocks: RecordingMocks) -> dict[str, dict[str, str]]:
    return {f.inputs["name"]: (f.inputs.get("environment") or {}).get("variables", {})
            for f in mocks.of_type("aws:lambda/function:Function")}


def test_a_stack_with_topics_declares_its_contact_list_and_tells_only_the_lanes() -> None:
    mocks = run_stack("dev", {"topics": [TOPIC, {"name": "tips", "displayName": "Tips", "defaultSubscription": "OPT_OUT"}]})
    [contact_list] = mocks.of_type("aws:sesv2/contactList:ContactList")
    assert contact_list.inputs["contactListName"] == "email-pipeline-dev"
    assert [(t["topicName"], t["displayName"], t["defaultSubscriptionStatus"]) for t in contact_list.inputs["topics"]] \
        == [("product-updates", "Product updates", "OPT_IN"), ("tips", "Tips", "OPT_OUT")]
    environments = lane_environments(mocks)
    for lane in ("normal", "priority"):
        environment = environments[f"email-pipeline-dev-{lane}"]
        assert environment["EMAIL_CONTACT_LIST"] == "email-pipeline-dev"
        assert json.loads(environment["EMAIL_TOPICS"]) == {"product-updates": ["shop.marketing"], "tips": []}
    for other in ("report", "status"):
        assert "EMAIL_TOPICS" not in environments[f"email-pipeline-dev-{other}"]
    assert mocks.exports["contactListName"] == "email-pipeline-dev"


def test_a_stack_sharing_another_stacks_contact_list_declares_none_and_names_it() -> None:
    mocks = run_stack("dev", {"topics": [TOPIC], "manageContactList": False, "contactList": "email-pipeline-prod"})
    assert mocks.of_type("aws:sesv2/contactList:ContactList") == []
    assert lane_environments(mocks)["email-pipeline-dev-normal"]["EMAIL_CONTACT_LIST"] == "email-pipeline-prod"


def test_a_stack_without_topics_sends_only_transactional_mail() -> None:
    mocks = run_stack("dev")
    assert mocks.of_type("aws:sesv2/contactList:ContactList") == []
    assert all("EMAIL_CONTACT_LIST" not in environment for environment in lane_environments(mocks).values())


def test_a_webhook_gets_its_connection_destination_rule_dlq_and_alarms() -> None:
    mocks = run_stack("dev", {"webhooks": [WEBHOOK], "webhookSecrets": {"crm": "s3cret"}})
    [connection] = mocks.of_type("aws:cloudwatch/eventConnection:EventConnection")
    assert connection.inputs["authorizationType"] == "API_KEY"
    assert connection.inputs["authParameters"]["apiKey"] == {"key": "x-api-key", "value": "s3cret"}
    [destination] = mocks.of_type("aws:cloudwatch/eventApiDestination:EventApiDestination")
    assert destination.inputs["invocationEndpoint"] == WEBHOOK["url"]
    [target] = [t for t in mocks.of_type("aws:cloudwatch/eventTarget:EventTarget")
                if t.inputs["arn"] == destination.outputs["arn"]]
    assert target.inputs["retryPolicy"]["maximumRetryAttempts"] == 20
    [rule] = [r for r in mocks.of_type("aws:cloudwatch/eventRule:EventRule") if r.outputs["name"] == target.inputs["rule"]]
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["detail"] == {"status": ["bounced", "complained"], "source": ["shop.orders"]}
    [topic] = mocks.of_type("aws:sns/topic:Topic")
    alarms = [a for a in mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.inputs.get("name", "").startswith(
        "email-pipeline-dev-crm-")]
    assert {a.inputs["metricName"] for a in alarms} == {
        "RetryInvocationAttempts", "InvocationsSentToDlq", "InvocationsFailedToBeSentToDlq",
        "ApproximateNumberOfMessagesVisible"}
    assert all(a.inputs["alarmActions"] == [topic.outputs["arn"]] for a in alarms)
    assert set(mocks.exports["webhookDeadLetterQueueUrls"]) == {"crm"}


def problems(**changes: Any) -> list[str]:
    secrets = changes.pop("secrets", ["crm"])
    with pytest.raises(ConfigErrors) as caught:
        parse({**VALID, **changes}, recipient_hash_key="k", webhook_secret_names=secrets)
    return caught.value.problems


@pytest.mark.parametrize(("changes", "expected"), [
    ({"topics": [{"name": "news"}]}, "topics[0] (news): needs displayName"),
    ({"topics": [{**TOPIC, "displayname": "x"}]}, "topics[0] (product-updates).displayname: not a field here; "
                                                  "did you mean displayName?"),
    ({"topics": [{**TOPIC, "defaultSubscription": "YES"}]},
     "topics[0] (product-updates).defaultSubscription: must be OPT_IN or OPT_OUT"),
    ({"topics": [{**TOPIC, "name": "product updates"}]},
     "topics[0] (product updates).name: must be 1-64 letters, digits, _ and -"),
    ({"topics": [TOPIC, TOPIC]}, "topics: the topic 'product-updates' is declared twice"),
    ({"topics": [{**TOPIC, "name": f"t{n}"} for n in range(21)]}, "topics: 21 topics; SES allows 20 in a contact list"),
    ({"contactList": "my list", "topics": [TOPIC]}, "contactList: must be 1-64 letters, digits, _ and -"),
    ({"webhooks": [{**WEBHOOK, "url": "http://hooks.example.com"}]},
     "webhooks[0] (crm).url: must be an https:// URL of at most 2048 characters"),
    ({"webhooks": [WEBHOOK], "secrets": []},
     "webhooks[0] (crm): no secret; set it with pulumi config set --secret --path 'webhookSecrets.crm'"),
    ({"webhooks": [WEBHOOK], "secrets": ["crm", "cmr"]}, "webhookSecrets.cmr: no webhook of that name; did you mean crm?"),
    ({"webhooks": [{**WEBHOOK, "auth": {"type": "oauth", "tokenUrl": "https://auth.example.com/token"}}]},
     "webhooks[0] (crm).auth.clientId: is required for oauth"),
    ({"webhooks": [{**WEBHOOK, "auth": {"type": "bearer"}}]}, "webhooks[0] (crm).auth.type: must be one of apiKey"),
    ({"webhooks": [{**WEBHOOK, "statuses": ["bounce"]}]}, "webhooks[0] (crm).statuses: bounce not a status"),
    ({"webhooks": [{**WEBHOOK, "rateLimitPerSecond": "fast"}]},
     "webhooks[0] (crm).rateLimitPerSecond: must be a whole number"),
    ({"webhooks": [{**WEBHOOK, "maxRetryAttempts": 200}]},
     "webhooks[0] (crm).maxRetryAttempts: 200 must be between 0 and 185"),
    ({"webhooks": [WEBHOOK], "statusEvents": False},
     "webhooks: need statusEvents: true (a webhook receives the status events)"),
])
def test_a_bad_topic_or_webhook_is_one_line_naming_the_field(changes: dict[str, Any], expected: str) -> None:
    found = problems(**changes)
    assert any(line.startswith(expected) for line in found), found


def test_the_program_refuses_a_webhook_without_its_secret_before_declaring_anything() -> None:
    with pytest.raises(SystemExit) as refused:
        run_stack("dev", {"webhooks": [WEBHOOK]})
    assert "webhooks[0] (crm): no secret" in str(refused.value)


def test_webhook_secrets_that_are_not_an_object_are_one_line() -> None:
    with pytest.raises(SystemExit) as refused:
        run_stack("dev", {"webhookSecrets": "s3cret"})
    assert "webhookSecrets: must be an object of webhook name -> secret" in str(refused.value)
