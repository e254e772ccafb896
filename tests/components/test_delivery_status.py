"""DeliveryStatus as the dev stack declares it: the rule, the queue's policy, the role, the settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.mocks import RecordingMocks
from local.program import run_stack
from ses_email_pipeline import DeliveryStatusArgs

FUNCTION = "email-pipeline-dev-status"


def status_policy(mocks: RecordingMocks) -> list[dict[str, Any]]:
    [policy] = [p for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy") if p.name == f"{FUNCTION}-policy"]
    return json.loads(policy.inputs["policy"])["Statement"]


def actions(statements: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {action: statement["Resource"] for statement in statements for action in statement["Action"]}


def test_the_rule_takes_only_this_stacks_status_events_from_the_default_bus() -> None:
    dev = run_stack("dev")
    [rule] = [r for r in dev.of_type("aws:cloudwatch/eventRule:EventRule") if r.name == f"{FUNCTION}-ses-events"]
    assert "eventBusName" not in rule.inputs  # SES publishes to the default bus only
    pattern = json.loads(rule.inputs["eventPattern"])
    assert pattern["source"] == ["aws.ses"]
    assert sorted(pattern["detail-type"]) == sorted([
        "Email Delivered", "Email Bounced", "Email Complaint Received", "Email Delivery Delayed", "Email Rejected",
        "Email Rendering Failed"])
    assert pattern["detail"] == {"mail": {"tags": {"ses:configuration-set": ["email-pipeline-dev"]}}}
    [destination] = dev.of_type("aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination")
    assert "DELIVERY_DELAY" in destination.inputs["eventDestination"]["matchingEventTypes"]


def test_the_role_allows_exactly_what_the_handler_calls() -> None:
    granted = actions(status_policy(run_stack("dev")))
    assert sorted(granted) == sorted([
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:SendMessage",
        "events:PutEvents", "dynamodb:GetItem", "dynamodb:UpdateItem"])
    assert granted["events:PutEvents"] == ["arn:aws:events:eu-west-1:123456789012:event-bus/email-pipeline-dev-bus"]
    assert granted["sqs:SendMessage"] == ["arn:aws:sqs:eu-west-1:123456789012:email-pipeline-dev-status-dlq"]
    assert not any("*" in action for action in granted)
    conditions = {action: statement.get("Condition") for statement in status_policy(run_stack("dev"))
                  for action in statement["Action"]}
    assert conditions["events:PutEvents"] == {"StringEquals": {
        "events:source": ["email-pipeline.delivery-status"], "events:detail-type": ["Email Status Changed"]}}
    assert conditions["dynamodb:UpdateItem"] == {"ForAllValues:StringLike": {
        "dynamodb:LeadingKeys": ["email-pipeline-dev#status#*"]}}


@pytest.mark.parametrize(("setting", "gone"), [
    ({"statusEvents": False}, "events:PutEvents"),
    ({"statusRecords": False}, "dynamodb:UpdateItem"),
])
def test_a_half_turned_off_takes_its_permission_with_it(setting: dict[str, bool], gone: str) -> None:
    assert gone not in actions(status_policy(run_stack("dev", setting)))


def test_both_halves_off_leave_no_status_resources() -> None:
    mocks = run_stack("dev", {"statusEvents": False, "statusRecords": False})
    assert not [r for r in mocks.resources if "status" in r.name]


def test_addresses_without_events_is_refused_at_preview() -> None:
    with pytest.raises(SystemExit, match="statusAddresses: needs statusEvents: true"):
        run_stack("dev", {"statusEvents": False, "statusAddresses": True})


def test_args_that_would_do_nothing_are_refused() -> None:
    runtime: Any = object()
    with pytest.raises(ValueError, match="both off"):
        DeliveryStatusArgs(runtime=runtime, configuration_set_name="c", bus_name="b", bus_arn="a",
                           publish_events=False, keep_records=False)
    with pytest.raises(ValueError, match="batch_size 11"):
        DeliveryStatusArgs(runtime=runtime, configuration_set_name="c", bus_name="b", bus_arn="a", batch_size=11)
