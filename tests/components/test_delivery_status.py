"""DeliveryStatus as the dev stack declares it: the rule, the queue's policy, the role, the settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pathlib import Path

import pulumi

from local.mocks import RecordingMocks, run_program
from local.program import run_stack
from ses_email_pipeline import DeliveryStatus, DeliveryStatusArgs, EmailSender, EmailSenderArgs
from ses_email_pipeline.checks import InvalidArgs
from ses_email_pipeline.delivery_status import status_max_concurrency
from ses_email_pipeline.lanes import DEFAULT_LANES, LaneConfig
from ses_email_pipeline.handlers.shared.status_names import record_id

ROOT = Path(__file__).resolve().parents[2]

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
        "Email Rendering Failed", "Email Subscribed"])
    assert pattern["detail"] == {"mail": {"tags": {"ses:configuration-set": ["email-pipeline-dev"]}}}
    [destination] = dev.of_type("aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination")
    assert "DELIVERY_DELAY" in destination.inputs["eventDestination"]["matchingEventTypes"]


def test_the_role_allows_exactly_what_the_handler_calls() -> None:
    granted = actions(status_policy(run_stack("dev")))
    assert sorted(granted) == sorted([
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
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


def test_args_that_would_do_nothing_are_refused_all_at_once() -> None:
    runtime: Any = object()
    with pytest.raises(InvalidArgs) as refused:
        DeliveryStatusArgs(runtime=runtime, configuration_set_name="c", bus_name="b", bus_arn="a",
                           publish_events=False, keep_records=False, batch_size=11, max_concurrency=1)
    assert [problem.field for problem in refused.value.problems] == ["publish_events", "batch_size", "max_concurrency"]
    assert "batch_size: 11 must be between 1 and 10" in str(refused.value)


# --- reused on its own: the traps a second team would walk into ----------------------------------------


def sender_args(**overrides: Any) -> EmailSenderArgs:
    return EmailSenderArgs(**{"sender": "Billing <billing@mail.example.com>", "identity": "mail.example.com",
                              "recipient_hash_key": "k", "account_send_rate": 14, "templates_dir": str(ROOT / "templates"),
                              "handlers_dir": str(ROOT / "handlers"), "build_dir": str(ROOT / "build"), **overrides})


def reused(status_name: str, waits: dict[str, list[str]] | None = None, **status_args: Any) -> RecordingMocks:
    """An EmailSender and a DeliveryStatus built by a reuser, each under a name of their choosing.

    `waits` collects what each of DeliveryStatus's resources waits for (`depends_on`).
    """
    def record(args: Any) -> None:
        if waits is not None:
            waits[args.name] = [getattr(d, "_name", "") for d in (args.opts.depends_on or [])]

    def program() -> None:
        sender = EmailSender("billing-mail", sender_args())
        DeliveryStatus(status_name, DeliveryStatusArgs(
            runtime=sender.runtime, configuration_set_name=sender.configuration_set_name, bus_name="billing-events",
            bus_arn="arn:aws:events:eu-west-1:123456789012:event-bus/billing-events", **status_args),
            pulumi.ResourceOptions(transformations=[record]))

    return run_program(program)


def test_a_status_component_named_apart_from_its_sender_may_still_write_the_senders_records() -> None:
    """The handler writes under EmailSender's stack name (EMAIL_STACK); the role must allow exactly those keys."""
    mocks = reused("billing-status")
    [function] = [f for f in mocks.of_type("aws:lambda/function:Function") if f.name == "billing-status-status"]
    stack = function.inputs["environment"]["variables"]["EMAIL_STACK"]
    [policy] = [p for p in mocks.of_type("aws:iam/rolePolicy:RolePolicy") if p.name == "billing-status-status-policy"]
    [records] = [s for s in json.loads(policy.inputs["policy"])["Statement"] if "dynamodb:UpdateItem" in s["Action"]]
    assert stack == "billing-mail"
    assert records["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [record_id(stack, "*")]


@pytest.mark.parametrize("lane", ["status", "report"])
def test_a_lane_named_like_another_function_is_refused_at_preview(lane: str) -> None:
    with pytest.raises(InvalidArgs, match=f"lanes.{lane}.name: '{lane}' is taken by .*name the lane differently"):
        sender_args(lanes=[*DEFAULT_LANES[:1], LaneConfig(lane, "handlers.templated.handler", 0.2)])
    with pytest.raises(SystemExit, match=f"laneShares.{lane}: '{lane}' is taken by"):
        run_stack("dev", {"laneShares": {"normal": 0.5, "priority": 0.2, lane: 0.3}})


def test_a_name_too_long_for_the_rule_is_refused_with_the_longest_that_fits() -> None:
    """The autonamed rule `<name>-status-ses-events` must fit EventBridge's 64 characters."""
    assert not [r for r in reused("s" * 38).resources if r.typ == "aws:cloudwatch/eventRule:EventRule"
                and len(r.name) > 64 - 8]
    with pytest.raises(Exception, match="use a component name of at most 38"):
        reused("s" * 39)


def test_the_status_handler_is_capped_and_counted_against_the_accounts_concurrency() -> None:
    """A burst of SES events must not take what the sending lanes need (new accounts: 10 executions)."""
    dev = run_stack("dev")
    [mapping] = [m for m in dev.of_type("aws:lambda/eventSourceMapping:EventSourceMapping") if "status" in m.name]
    assert mapping.inputs["scalingConfig"] == {"maximumConcurrency": status_max_concurrency(1)}
    lanes = sum(int(m.inputs["scalingConfig"]["maximumConcurrency"])
                for m in dev.of_type("aws:lambda/eventSourceMapping:EventSourceMapping") if "status" not in m.name)
    with pytest.raises(SystemExit, match=rf"accountConcurrency: .* the lanes run up to {lanes} instances and the "
                                         rf"status handler up to 2"):
        run_stack("dev", {"accountConcurrency": lanes + 1})
    run_stack("dev", {"accountConcurrency": lanes + 1, "statusEvents": False, "statusRecords": False})


def test_the_rule_target_waits_for_both_queues_to_accept_the_rule() -> None:
    """Until the DLQ's policy exists, an event the rule cannot deliver would be lost, not dead-lettered."""
    waits: dict[str, list[str]] = {}
    reused("billing", waits)
    assert {"billing-status-queue-policy", "billing-status-undelivered-policy"} <= set(
        waits["billing-status-ses-events-target"])


def test_the_default_bus_rule_pages_when_it_loses_an_event() -> None:
    """Watched like a route: an SES event reaching neither the status queue nor its DLQ is counted and alarmed."""
    dev = run_stack("dev")
    [rule] = [r for r in dev.of_type("aws:cloudwatch/eventRule:EventRule") if r.name == f"{FUNCTION}-ses-events"]
    [alarm] = [a for a in dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
               if a.inputs.get("dimensions") == {"RuleName": rule.outputs["name"]}]
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/Events", "InvocationsFailedToBeSentToDlq")
    assert alarm.name == "email-pipeline-dev-rule-status-ses-events-events-lost"
