"""The local run enforces IAM: policy evaluation, the request table, and every statement earning its place."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from local import __main__ as cli
from local.blueprint import Blueprint
from local.iam import Authorizer, Caller, Denial, ProvisioningRefused
from local.iam_policy import Decision, Policy, Statement
from local.iam_requests import REQUESTS, Access, ArnKind, Scope
from local.program import run_stack
from local.emulated_ses import EmulatedSes
from local.system import LocalSystem

ACCOUNT = "123456789012"
REGION = "eu-west-1"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/lane-normal"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:lane-normal"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/idempotency"
SES = f"arn:aws:ses:{REGION}:{ACCOUNT}"


def policy(*statements: Mapping[str, Any]) -> Policy:
    return Policy.from_documents([{"Version": "2012-10-17", "Statement": list(statements)}])


def allow(action: str | list[str], resource: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


def scope(**overrides: Any) -> Scope:
    return Scope(**{"region": REGION, "account": ACCOUNT, "identities": ("sender@example.com",), **overrides})


def accesses(service: str, operation: str, params: Mapping[str, Any], within: Scope | None = None) -> list[Access]:
    return list(REQUESTS[(service, operation)](params, within or scope()))


# --- evaluation ---------------------------------------------------------------------------------


def test_an_allow_statement_grants_its_action_on_its_resource() -> None:
    assert policy(allow("sqs:SendMessage", QUEUE_ARN)).decide("sqs:SendMessage", QUEUE_ARN) is Decision.ALLOWED


def test_an_explicit_deny_wins_over_any_allow() -> None:
    rules = policy(allow("sqs:*", "*"), deny("sqs:SendMessage", QUEUE_ARN))
    assert rules.decide("sqs:SendMessage", QUEUE_ARN) is Decision.EXPLICIT_DENY
    assert rules.decide("sqs:ReceiveMessage", QUEUE_ARN) is Decision.ALLOWED


def test_no_statement_for_the_call_is_an_implicit_deny() -> None:
    rules = policy(allow("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:lane-normal-dlq"),
                   allow("sqs:ReceiveMessage", QUEUE_ARN))
    assert rules.decide("sqs:SendMessage", QUEUE_ARN) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("pattern", ["sqs:SendMessage", "SQS:sendmessage", "sqs:Send*", "sqs:*", "*",
                                     "sqs:S?ndMessage"])
def test_action_patterns_match_case_insensitively_with_wildcards(pattern: str) -> None:
    assert policy(allow(pattern, QUEUE_ARN)).decide("sqs:SendMessage", QUEUE_ARN) is Decision.ALLOWED


@pytest.mark.parametrize("pattern", ["sqs:Send", "sqs:SendMessageBatch", "sns:SendMessage", "sqs:?SendMessage"])
def test_action_patterns_that_do_not_cover_the_action(pattern: str) -> None:
    assert policy(allow(pattern, QUEUE_ARN)).decide("sqs:SendMessage", QUEUE_ARN) is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("pattern", [QUEUE_ARN, "*", f"arn:aws:sqs:*:{ACCOUNT}:lane-*", "arn:aws:sqs:*:*:*",
                                     f"arn:aws:sqs:{REGION}:{ACCOUNT}:lane-?ormal"])
def test_resource_patterns_match_arns_with_wildcards(pattern: str) -> None:
    assert policy(allow("sqs:SendMessage", pattern)).decide("sqs:SendMessage", QUEUE_ARN) is Decision.ALLOWED


@pytest.mark.parametrize("pattern", [
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:Lane-normal",  # ARNs match case-sensitively
    f"arn:aws:sqs:{REGION}:{ACCOUNT}:lane-normal-dlq",
    f"arn:aws:sqs:{REGION}:{ACCOUNT}",  # a part missing
    f"arn:aws:sns:{REGION}:{ACCOUNT}:*",
])
def test_resource_patterns_that_do_not_cover_the_arn(pattern: str) -> None:
    assert policy(allow("sqs:SendMessage", pattern)).decide("sqs:SendMessage", QUEUE_ARN) is Decision.IMPLICIT_DENY


def test_a_resource_wildcard_covers_the_colons_of_the_resource_part() -> None:
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/fn"
    rules = policy(allow("logs:PutLogEvents", f"{group}:*"))
    assert rules.decide("logs:PutLogEvents", f"{group}:log-stream:2026/11/23/[$LATEST]x") is Decision.ALLOWED
    assert rules.decide("logs:PutLogEvents", f"{group}-other:log-stream:x") is Decision.IMPLICIT_DENY


def test_not_action_and_not_resource_grant_everything_else() -> None:
    rules = policy({"Effect": "Allow", "NotAction": "sqs:DeleteMessage", "NotResource": TABLE_ARN})
    assert rules.decide("sqs:SendMessage", QUEUE_ARN) is Decision.ALLOWED
    assert rules.decide("sqs:DeleteMessage", QUEUE_ARN) is Decision.IMPLICIT_DENY
    assert rules.decide("dynamodb:GetItem", TABLE_ARN) is Decision.IMPLICIT_DENY


def test_a_conditional_statement_neither_grants_nor_denies() -> None:
    """Conditions are not evaluated (local.iam_policy's docstring): such a statement is left out."""
    condition = {"Condition": {"Bool": {"aws:SecureTransport": "true"}}}
    assert policy(allow("sqs:SendMessage", QUEUE_ARN, **condition)).decide(
        "sqs:SendMessage", QUEUE_ARN) is Decision.IMPLICIT_DENY


def test_a_single_statement_object_and_string_fields_are_read() -> None:
    rules = Policy.from_documents([{"Statement": {"Effect": "Allow", "Action": "sqs:SendMessage",
                                                  "Resource": QUEUE_ARN}}])
    assert rules.statements == (Statement("Allow", ("sqs:SendMessage",), resources=(QUEUE_ARN,)),)


# --- what each call needs -------------------------------------------------------------------------


@pytest.mark.parametrize(("operation", "action"), [
    ("SendMessage", "sqs:SendMessage"), ("SendMessageBatch", "sqs:SendMessage"),
    ("ReceiveMessage", "sqs:ReceiveMessage"), ("DeleteMessage", "sqs:DeleteMessage"),
    ("DeleteMessageBatch", "sqs:DeleteMessage"), ("ChangeMessageVisibility", "sqs:ChangeMessageVisibility"),
    ("ChangeMessageVisibilityBatch", "sqs:ChangeMessageVisibility"), ("GetQueueAttributes", "sqs:GetQueueAttributes"),
])
def test_sqs_calls_need_their_action_on_the_queue_their_url_names(operation: str, action: str) -> None:
    assert accesses("sqs", operation, {"QueueUrl": QUEUE_URL}) == [Access(action, QUEUE_ARN)]


def test_a_queue_url_of_the_emulator_names_the_same_queue() -> None:
    assert accesses("sqs", "SendMessage", {"QueueUrl": f"http://127.0.0.1:5000/{ACCOUNT}/lane-normal"}) == [
        Access("sqs:SendMessage", QUEUE_ARN)]


@pytest.mark.parametrize("operation", ["GetItem", "PutItem", "UpdateItem", "DeleteItem"])
def test_dynamodb_item_calls_need_their_action_on_the_table(operation: str) -> None:
    assert accesses("dynamodb", operation, {"TableName": "idempotency"}) == [Access(f"dynamodb:{operation}", TABLE_ARN)]


@pytest.mark.parametrize(("service", "operation", "action"), [
    ("sesv2", "GetAccount", "ses:GetAccount"), ("cloudwatch", "GetMetricData", "cloudwatch:GetMetricData")])
def test_calls_without_resource_level_permissions_need_every_resource(service: str, operation: str,
                                                                       action: str) -> None:
    assert accesses(service, operation, {}) == [Access(action, "*")]


def test_a_declared_resource_is_named_by_the_arn_its_provider_reported() -> None:
    """A policy is built from the provider's ARNs; a call must be checked against the same ones."""
    declared = {("configuration-set", "stack"): f"{SES}:configuration-set/stack-as-declared"}
    assert scope(declared=declared).arn(ArnKind.CONFIGURATION_SET, "stack") == declared[("configuration-set", "stack")]
    assert scope().arn(ArnKind.CONFIGURATION_SET, "stack") == f"{SES}:configuration-set/stack"


SEND = {"FromEmailAddress": "Sender <sender@example.com>", "ConfigurationSetName": "stack",
        "Destination": {"ToAddresses": ["jane@example.com"], "CcAddresses": ["Ops <ops@example.org>"]},
        "Content": {"Template": {"TemplateName": "stack-notification-v1", "TemplateData": "{}"}}}


def test_a_templated_send_needs_the_identity_configuration_set_and_template() -> None:
    assert accesses("sesv2", "SendEmail", SEND) == [
        Access("ses:SendEmail", f"{SES}:identity/sender@example.com"),
        Access("ses:SendEmail", f"{SES}:configuration-set/stack"),
        Access("ses:SendEmail", f"{SES}:template/stack-notification-v1"),
    ]


def test_a_sandbox_send_needs_every_recipients_identity_as_address_or_domain() -> None:
    needed = accesses("sesv2", "SendEmail", SEND, scope(sandbox=True))
    assert needed[3:] == [
        Access("ses:SendEmail", f"{SES}:identity/jane@example.com", (f"{SES}:identity/example.com",)),
        Access("ses:SendEmail", f"{SES}:identity/ops@example.org", (f"{SES}:identity/example.org",)),
    ]


def test_a_sender_is_sent_as_the_declared_domain_identity_that_covers_it() -> None:
    simple = {"FromEmailAddress": "no-reply@mail.acme.example", "Content": {"Simple": {}}}
    within = scope(identities=("mail.acme.example",))
    assert accesses("sesv2", "SendEmail", simple, within) == [
        Access("ses:SendEmail", f"{SES}:identity/mail.acme.example")]


# --- authorizing calls ------------------------------------------------------------------------------


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def authorizer(rules: Policy, denials: list[Denial], *, sandbox: bool = False) -> Authorizer:
    caller = Caller("stack-normal", f"arn:aws:iam::{ACCOUNT}:role/stack-normal-role", rules)
    return Authorizer(caller, scope(sandbox=sandbox), denials.append)


@pytest.mark.usefixtures("credentials")
@pytest.mark.parametrize(("service", "operation", "params", "code", "status"), [
    ("sqs", "send_message", {"QueueUrl": QUEUE_URL, "MessageBody": "x"}, "AccessDenied", 403),
    ("dynamodb", "get_item", {"TableName": "idempotency", "Key": {"id": {"S": "k"}}}, "AccessDeniedException", 400),
    ("cloudwatch", "get_metric_data", {"MetricDataQueries": [], "StartTime": 0, "EndTime": 1}, "AccessDenied", 403),
])
def test_a_denied_call_fails_with_the_services_own_error(service: str, operation: str, params: dict[str, Any],
                                                         code: str, status: int) -> None:
    denials: list[Denial] = []
    client = authorizer(policy(), denials).install(boto3.client(service, region_name=REGION))
    with pytest.raises(ClientError) as raised:
        getattr(client, operation)(**params)  # no endpoint is ever reached: the hook answers first
    error = raised.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    [denial] = denials
    assert error["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/stack-normal-role/stack-normal is not authorized to perform: "
        f"{denial.action} on resource: {denial.resource} because no identity-based policy allows the "
        f"{denial.action} action")


@pytest.mark.usefixtures("credentials")
def test_an_explicitly_denied_call_says_so() -> None:
    denials: list[Denial] = []
    client = authorizer(policy(allow("sqs:*", "*"), deny("sqs:SendMessage", QUEUE_ARN)), denials).install(
        boto3.client("sqs", region_name=REGION))
    with pytest.raises(ClientError, match="with an explicit deny in an identity-based policy"):
        client.send_message(QueueUrl=QUEUE_URL, MessageBody="x")
    assert denials[0].explicit


@pytest.mark.usefixtures("credentials")
def test_an_allowed_call_reaches_the_service_unchanged() -> None:
    denials: list[Denial] = []
    client = authorizer(policy(allow("sqs:SendMessage", QUEUE_ARN)), denials).install(
        boto3.client("sqs", region_name=REGION))
    with Stubber(client) as stub:
        stub.add_response("send_message", {"MessageId": "m-1"}, {"QueueUrl": QUEUE_URL, "MessageBody": "x"})
        assert client.send_message(QueueUrl=QUEUE_URL, MessageBody="x")["MessageId"] == "m-1"
    assert denials == []


@pytest.mark.usefixtures("credentials")
def test_emulated_ses_checks_the_callers_policy_first() -> None:
    denials: list[Denial] = []
    check = authorizer(policy(allow("ses:GetAccount", "*")), denials)
    with mock_aws():
        ses = EmulatedSes(boto3.client("sesv2", region_name=REGION), {})
        client = ses.for_caller(lambda operation, params: check.authorize("sesv2", operation, params))
        assert client.get_account()["SendingEnabled"]
        with pytest.raises(ClientError) as raised:
            client.send_email(FromEmailAddress="sender@example.com", Destination={"ToAddresses": ["a@example.com"]},
                              Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}})
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert ses.outbox == [] and [d.action for d in denials] == ["ses:SendEmail"]


@pytest.mark.usefixtures("credentials")
def test_the_sandbox_rejects_a_recipient_whose_address_and_domain_are_unverified() -> None:
    with mock_aws():
        moto = boto3.client("sesv2", region_name=REGION)
        v1 = boto3.client("ses", region_name=REGION)
        v1.verify_email_identity(EmailAddress="sender@example.com")
        v1.verify_domain_identity(Domain="example.org")
        ses = EmulatedSes(moto, {}, sandbox=True, region=REGION)
        simple = {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}
        ses.send_email(FromEmailAddress="sender@example.com", Destination={"ToAddresses": ["anyone@example.org"]},
                       Content={"Simple": simple})
        with pytest.raises(ClientError) as raised:
            ses.send_email(FromEmailAddress="sender@example.com",
                           Destination={"ToAddresses": ["anyone@example.org", "jane@example.net"]},
                           Content={"Simple": simple})
    assert raised.value.response["Error"] == {
        "Code": "MessageRejected",
        "Message": "Email address is not verified. The following identities failed the check in region "
                   "EU-WEST-1: jane@example.net"}
    assert len(ses.outbox) == 1


# --- the dev stack ----------------------------------------------------------------------------------

#: The bundled samples, plus what they leave out: an alert the priority lane dead-letters (its
#: role's SendMessage on its DLQ is used only then).
SCENARIO = [*cli.load_entries(cli.SAMPLES), {
    "Source": "custom.application", "DetailType": "Priority Alert",
    "Detail": json.dumps({"priority": "critical", "emailConfig": {"recipient": "not-an-address", "subject": "S"},
                          "title": "T", "message": "M"})}]
DEV = Blueprint.from_mocks(run_stack("dev"))
STATEMENTS = [(function.name, index, statement)
              for function in DEV.functions.values()
              for index, statement in enumerate(DEV.policy_document(function)["Statement"])]


@contextlib.contextmanager
def dev_system(**options: Any) -> Iterator[LocalSystem]:
    with LocalSystem.start("dev", **options) as system, contextlib.redirect_stdout(io.StringIO()):
        yield system


#: An SES event the status handler cannot read (its status DLQ is used only then), as SES would
#: publish it on the default bus for the stack's configuration set.
UNREADABLE_SES_EVENT = {"Source": "aws.ses", "DetailType": "Email Bounced", "EventBusName": "default",
                        "Detail": json.dumps({"eventType": "Bounce", "mail": {
                            "messageId": "ses-unreadable", "tags": {"ses:configuration-set": DEV.configuration_sets}}})}


def play(system: LocalSystem) -> dict[str, Any]:
    system.publish(SCENARIO)
    assert system.clients["events"].put_events(Entries=[UNREADABLE_SES_EVENT])["FailedEntryCount"] == 0
    system.drain()
    system.run_report()
    system.drain()
    return system.summary()


def test_the_dev_scenario_runs_without_a_denied_call() -> None:
    with dev_system() as system:
        summary = play(system)
    assert summary["access_denied"] == []
    assert {(e["lane"], e["subject"]) for e in summary["sent"] if e["lane"] != "report"} == cli.EXPECTED_SENT
    assert {(d["lane"], d["reason"].split(":")[0]) for d in summary["dead_letters"]} == {
        *cli.EXPECTED_DEAD_LETTERS, ("priority", "detail.emailConfig.recipient[0]"), ("status", "detail.mail.timestamp")}


def without(function: str, index: int) -> Any:
    def edit(name: str, document: dict[str, Any]) -> dict[str, Any]:
        if name == function:
            del document["Statement"][index]
        return document
    return edit


@pytest.mark.parametrize(("function", "index", "statement"), STATEMENTS, ids=[
    f"{name.rsplit('-', 1)[-1]}-{index}-{'+'.join(Statement.from_json(s).actions)}" for name, index, s in STATEMENTS])
def test_every_statement_of_every_role_policy_is_needed(function: str, index: int, statement: dict[str, Any],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Without any one statement, the scenario fails, naming the call and the permission it lacked."""
    # What the statement is about (its conditions narrow which requests it allows, not which calls it names).
    removed = Statement.from_json({key: value for key, value in statement.items() if key != "Condition"})
    try:
        with dev_system(policy_edits=without(function, index)) as system:
            summary = play(system)
    except ProvisioningRefused as refused:
        assert refused.denial.function == function and removed.covers(refused.denial.action, refused.denial.resource)
        assert f"allowing {refused.denial.action} on {refused.denial.resource}" in str(refused)
        assert "\n" not in str(refused)
        return
    missing = [d for d in summary["access_denied"] if d["function"] == function and
               removed.covers(d["action"], d["resource"])]
    assert missing, f"removing {statement} from {function}'s policy denied nothing: {summary['access_denied']}"
    assert (f"ACCESS DENIED: {function} called {missing[0]['action']} on {missing[0]['resource']}: its role policy "
            "allows no such call") in cli.describe(summary)
    assert cli.check_demo(summary) == 1
    assert "calls denied by a function's role policy" in capsys.readouterr().err


def test_an_explicit_deny_in_a_role_policy_is_enforced() -> None:
    lane = next(f.name for f in DEV.functions.values() if f.environment.get("EMAIL_LANE") == "normal")
    deny_sends = {"Effect": "Deny", "Action": "ses:SendEmail", "Resource": "*"}

    def edit(name: str, document: dict[str, Any]) -> dict[str, Any]:
        return {**document, "Statement": [*document["Statement"], deny_sends]} if name == lane else document

    with dev_system(policy_edits=edit) as system:
        summary = play(system)
    [denial] = [d for d in summary["access_denied"] if d["function"] == lane]
    assert denial["explicit"] and denial["action"] == "ses:SendEmail"
    assert "its role policy denies it explicitly" in cli.describe(summary)
    assert not any(e["lane"] == "normal" for e in summary["sent"])


def test_the_cli_reports_a_refused_mapping_in_one_line() -> None:
    lane = next(f for f in DEV.functions.values() if f.environment.get("EMAIL_LANE") == "normal")
    polling = next(i for i, s in enumerate(DEV.policy_document(lane)["Statement"])
                   if "sqs:ReceiveMessage" in Statement.from_json(s).actions)
    with pytest.raises(ProvisioningRefused) as refused:
        cli.run("dev", [], policy_edits=without(lane.name, polling))
    message = f"error: provisioning: {refused.value}"  # what `python -m local` prints, then exits 2
    assert message.startswith(f"error: provisioning: Lambda refused the event source mapping of "
                              f"email-pipeline-dev-normal-queue for {lane.name}: InvalidParameterValueException: "
                              "The provided execution role does not have permissions to call ReceiveMessage on SQS")
    assert "\n" not in message and "components/email_sender.py" in message


# --- conditions ----------------------------------------------------------------------------------------


def test_the_status_role_may_put_only_status_events_on_the_bus() -> None:
    """A role that could put any source on the bus could put an Email Notification Request there."""
    with dev_system() as system:
        status = system.status_function()
        assert status is not None
        events = system.roles.clients(status)["events"]
        bus = system.blueprint.buses[0]
        with pytest.raises(ClientError) as raised:
            events.put_events(Entries=[{"Source": "custom.application", "DetailType": "Email Notification Request",
                                        "Detail": "{}", "EventBusName": bus}])
        assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
        [denial] = system.denials
        assert (denial.action, denial.resource.rsplit("/", 1)[-1]) == ("events:PutEvents", bus)


def test_the_status_role_may_not_touch_the_send_claims() -> None:
    with dev_system() as system:
        status = system.status_function()
        assert status is not None
        dynamodb = system.roles.clients(status)["dynamodb"]
        table = status.environment["EMAIL_STATE_TABLE"]
        dynamodb.get_item(TableName=table, Key={"id": {"S": "email-pipeline-dev#status#ses-1"}})  # its own
        with pytest.raises(ClientError) as raised:
            dynamodb.get_item(TableName=table, Key={"id": {"S": "email-pipeline-dev.normal#claim"}})
        assert raised.value.response["Error"]["Code"] == "AccessDeniedException"


@pytest.mark.parametrize(("operator", "actual", "allowed"), [
    ("StringEquals", ("a",), True), ("StringEquals", ("b",), False), ("StringEquals", None, False),
    ("ForAllValues:StringLike", ("x#1", "x#2"), True), ("ForAllValues:StringLike", ("x#1", "y"), False),
    ("ForAllValues:StringLike", None, True),  # AWS: true when the request has no value for the key
])
def test_conditions_evaluate_as_aws_does(operator: str, actual: tuple[str, ...] | None, allowed: bool) -> None:
    wanted = ["a"] if operator == "StringEquals" else ["x#*"]
    policy = Policy.from_documents([{"Statement": [{"Effect": "Allow", "Action": "s:Do", "Resource": "*",
                                                    "Condition": {operator: {"s:Key": wanted}}}]}])
    context = {} if actual is None else {"s:key": actual}
    assert (policy.decide("s:Do", "r", context) is Decision.ALLOWED) is allowed
