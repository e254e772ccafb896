"""The daily report's schedule, declared by EmailSender (the report's owner): what it is, and where it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime.resource import collapse_alias_to_urn

from local.mocks import ACCOUNT, Recorded, RecordingMocks, run_program
from local.program import run_stack
from ses_email_pipeline.checks import InvalidArgs
from ses_email_pipeline.email_sender import EmailSender
from ses_email_pipeline.event_router import TYPE_TOKEN as EVENT_ROUTER_TYPE
from ses_email_pipeline.event_router import EventRouter, EventRouterArgs, LaneQueue
from ses_email_pipeline.sender_args import EmailSenderArgs

ROOT = Path(__file__).resolve().parents[2]
NAME = "email-test"
TAGS = {"project": "email-pipeline", "stack": "test"}
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SCHEDULE = "aws:scheduler/schedule:Schedule"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
#: What the schedule is made of: once the EventRouter's children, now EmailSender's.
MOVED = {
    (SCHEDULE, f"{NAME}-daily-report"),
    (ROLE, f"{NAME}-daily-report-scheduler"),
    (ROLE_POLICY, f"{NAME}-daily-report-scheduler-policy"),
    (QUEUE, f"{NAME}-daily-report-dlq"),
    (QUEUE_POLICY, f"{NAME}-daily-report-dlq-policy"),
}


def sender_args(**changes: Any) -> EmailSenderArgs:
    base: dict[str, Any] = dict(sender="Acme <no-reply@mail.example.com>", identity="mail.example.com",
                                recipient_hash_key="k", report_timezone="Europe/Berlin", tags=TAGS,
                                templates_dir=str(ROOT / "templates"), handlers_dir=str(ROOT / "handlers"),
                                build_dir=str(ROOT / "build"))
    return EmailSenderArgs(**{**base, **changes})


def build_sender(**changes: Any) -> RecordingMocks:
    """Declare an EmailSender alone under the mocks; its schedule outputs land in `.result`."""
    outputs: dict[str, Any] = {}

    def program() -> dict[str, Any]:
        sender = EmailSender(NAME, sender_args(**changes))
        for attribute in ("report_function_arn", "report_schedule_name", "report_schedule_dead_letter_queue_name"):
            getattr(sender, attribute).apply(lambda value, key=attribute: outputs.__setitem__(key, value))
        return outputs

    return run_program(program)


@pytest.fixture(scope="module")
def sender() -> RecordingMocks:
    return build_sender()


def only(mocks: RecordingMocks, typ: str) -> Recorded:
    found = mocks.of_type(typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def scheduler_role(mocks: RecordingMocks) -> Recorded:
    [role] = [r for r in mocks.of_type(ROLE) if r.name == f"{NAME}-daily-report-scheduler"]
    return role


def scheduler_policy(mocks: RecordingMocks) -> Recorded:
    [policy] = [r for r in mocks.of_type(ROLE_POLICY) if r.name == f"{NAME}-daily-report-scheduler-policy"]
    return policy


def queue(mocks: RecordingMocks, name: str) -> Recorded:
    [found] = [q for q in mocks.of_type(QUEUE) if q.name == name]
    return found


def statements(resource: Recorded, key: str = "policy") -> list[dict[str, Any]]:
    """The Allow statements of a policy (what it grants; every queue policy also denies plain HTTP)."""
    document = json.loads(resource.inputs[key])
    assert document["Version"] == "2012-10-17"
    return [s for s in document["Statement"] if s.get("Effect", "Allow") == "Allow"]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


# --- what it declares ----------------------------------------------------------------------------


def test_scheduler_role_may_only_invoke_the_report_and_dead_letter(sender: RecordingMocks) -> None:
    role = scheduler_role(sender)
    [trust] = statements(role, "assumeRolePolicy")
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    role_policy = scheduler_policy(sender)
    assert role_policy.inputs["role"] == role.outputs["name"]
    dlq_arn = queue(sender, f"{NAME}-daily-report-dlq").outputs["arn"]
    report_arn = sender.result["report_function_arn"]  # type: ignore[attr-defined]
    granted = {(s["Effect"], s["Action"], s["Resource"]) for s in statements(role_policy)}
    assert granted == {("Allow", "lambda:InvokeFunction", report_arn), ("Allow", "sqs:SendMessage", dlq_arn)}


def test_schedule_passes_its_scheduled_time_and_retries_then_dead_letters(sender: RecordingMocks) -> None:
    schedule = only(sender, SCHEDULE)
    target = schedule.inputs["target"]
    assert schedule.inputs["scheduleExpression"] == "cron(0 9 * * ? *)"
    assert schedule.inputs["scheduleExpressionTimezone"] == "Europe/Berlin"
    assert schedule.inputs["flexibleTimeWindow"] == {"mode": "OFF"}
    assert json.loads(target["input"]) == {"scheduledTime": "<aws.scheduler.scheduled-time>"}
    assert target["arn"] == sender.result["report_function_arn"]  # type: ignore[attr-defined]
    assert target["roleArn"] == scheduler_role(sender).outputs["arn"]
    assert target["retryPolicy"] == {"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 3600}
    dlq = queue(sender, f"{NAME}-daily-report-dlq")
    assert target["deadLetterConfig"] == {"arn": dlq.outputs["arn"]}
    assert dlq.inputs["sqsManagedSseEnabled"] is True
    assert dlq.inputs["messageRetentionSeconds"] == 1_209_600


def test_the_schedules_policies_grant_no_wildcard_and_its_queue_refuses_plain_http(sender: RecordingMocks) -> None:
    documents = [statement for resource, key in ((scheduler_role(sender), "assumeRolePolicy"),
                                                 (scheduler_policy(sender), "policy"))
                 for statement in statements(resource, key)]
    assert len(documents) == 3
    for statement in documents:
        assert all("*" not in action for action in as_list(statement["Action"])), statement
        assert "*" not in as_list(statement.get("Resource", [])), statement
    [policy] = [p for p in sender.of_type(QUEUE_POLICY) if p.name == f"{NAME}-daily-report-dlq-policy"]
    dlq = queue(sender, f"{NAME}-daily-report-dlq")
    assert policy.inputs["queueUrl"] == dlq.outputs["url"]
    [deny] = json.loads(policy.inputs["policy"])["Statement"]  # Scheduler sends with its role: no grant
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_the_schedules_taggable_resources_are_tagged(sender: RecordingMocks) -> None:
    assert scheduler_role(sender).inputs["tags"] == TAGS
    assert queue(sender, f"{NAME}-daily-report-dlq").inputs["tags"] == TAGS


def test_outputs_name_the_schedule_and_its_dead_letter_queue(sender: RecordingMocks) -> None:
    outputs = sender.result  # type: ignore[attr-defined]
    assert outputs["report_schedule_name"] == only(sender, SCHEDULE).outputs["name"] == f"{NAME}-daily-report"
    assert outputs["report_schedule_dead_letter_queue_name"] == f"{NAME}-daily-report-dlq"


def test_without_a_report_schedule_there_is_none() -> None:
    """`report_schedule=None`: the stack triggers the report itself."""
    mocks = build_sender(report_schedule=None)
    assert not mocks.of_type(SCHEDULE)
    assert not [r.name for r in mocks.resources if "daily-report" in r.name and r.typ != "aws:ses/template:Template"]
    assert mocks.result["report_schedule_name"] is None  # type: ignore[attr-defined]
    assert mocks.result["report_schedule_dead_letter_queue_name"] is None  # type: ignore[attr-defined]


def test_the_schedules_names_are_checked_with_the_senders_before_anything_is_declared() -> None:
    """`<name>-daily-report-scheduler` names an IAM role (64 characters): at 42 it is the one name too long."""
    errors: list[InvalidArgs] = []

    def program(**changes: Any) -> None:
        try:
            EmailSender("n" * 42, sender_args(**changes))
        except InvalidArgs as exc:
            errors.append(exc)

    assert run_program(program).resources == []
    [error] = errors
    [problem] = error.problems
    assert problem.field == "name"
    assert problem.message.startswith(f"the IAM role name '{'n' * 42}-daily-report-scheduler' is 65 characters")
    assert problem.message.endswith("use a component name of at most 41")
    assert run_program(lambda: program(report_schedule=None)).resources and len(errors) == 1


# --- where it came from: an alias per moved resource ---------------------------------------------


def declared_aliases(build: Any) -> tuple[dict[tuple[str, str], list[str]], dict[str, str]]:
    """Run `build(record)` and return each resource's aliases, resolved to URNs as the engine gets them.

    `build` gets a transformation to pass in `opts`; it returns the components whose URNs matter,
    by label, which come back resolved as the second value.
    """
    aliases: dict[tuple[str, str], list[str]] = {}
    urns: dict[str, str] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        found = aliases.setdefault((args.type_, args.name), [])
        for alias in args.opts.aliases or []:
            # What Pulumi registers for an alias (`Resource.__init__`): its URN, the resource's
            # name and type filling in what the alias leaves out.
            collapse_alias_to_urn(alias, args.name, args.type_, args.opts.parent).apply(found.append)

    def program() -> None:
        for label, component in build(record).items():
            component.urn.apply(lambda urn, label=label: urns.__setitem__(label, urn))

    run_program(program)
    return aliases, urns


def test_each_moved_resource_keeps_an_alias_to_its_urn_under_the_event_router() -> None:
    """As `__main__.py` declares them: the sender and the router named alike, at the top of the stack.

    The expected URNs follow Pulumi's format (`urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>`;
    a top-level resource's has no parent type): the mock monitor's own URNs would not do, since it
    prefixes `pulumi:pulumi:Stack$` to top-level types and keeps only the nearest parent's type.
    """
    lanes = {lane: LaneQueue(arn=f"arn:aws:sqs:eu-west-1:{ACCOUNT}:{lane}", url=f"https://sqs/{lane}")
             for lane in ("normal", "priority")}

    def build(record: Any) -> dict[str, pulumi.Resource]:
        sender = EmailSender(NAME, sender_args(), pulumi.ResourceOptions(transformations=[record]))
        EventRouter(NAME, EventRouterArgs(lane_queues=lanes), pulumi.ResourceOptions(transformations=[record]))
        return {"sender": sender}

    aliases, _ = declared_aliases(build)
    for typ, name in MOVED:
        assert aliases[(typ, name)] == [f"urn:pulumi:dev::email-pipeline::{EVENT_ROUTER_TYPE}${typ}::{name}"], name
    # nothing else moved from the router (the bounce rule's alias is to its own old name in the sender)
    assert {key for key, found in aliases.items() if any(EVENT_ROUTER_TYPE in urn for urn in found)} == MOVED


def test_under_a_parent_the_alias_names_the_router_beside_the_sender() -> None:
    class Pipeline(pulumi.ComponentResource):
        def __init__(self, record: Any) -> None:
            super().__init__("test:index:Pipeline", "mail", None, pulumi.ResourceOptions(transformations=[record]))
            EmailSender(NAME, sender_args(), pulumi.ResourceOptions(parent=self))

    aliases, urns = declared_aliases(lambda record: {"pipeline": Pipeline(record)})
    # A router beside the sender was the pipeline's child: its children's URNs extend the pipeline's type chain.
    pipeline_types = urns["pipeline"][:urns["pipeline"].rindex("::")]
    assert pipeline_types.endswith("test:index:Pipeline")
    for typ, name in MOVED:
        assert aliases[(typ, name)] == [f"{pipeline_types}${EVENT_ROUTER_TYPE}${typ}::{name}"], name


def test_the_program_names_the_router_like_the_sender_so_the_aliases_hold() -> None:
    dev = run_stack("dev")
    names = {typ: {r.name for r in dev.resources if r.typ == typ}
             for typ in ("email-pipeline:index:EmailSender", EVENT_ROUTER_TYPE)}
    assert names["email-pipeline:index:EmailSender"] == names[EVENT_ROUTER_TYPE] == {"email-pipeline-dev"}
