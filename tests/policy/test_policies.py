"""The policy pack on the real program under the mocks: the dev stack passes, each broken variant fails."""

from __future__ import annotations

import copy
import runpy
from pathlib import Path
from typing import Any

import pulumi_policy
import pytest
from pulumi_policy import EnforcementLevel, Policy
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE

from local.mocks import Recorded
from local.program import run_stack
from email_policies import (
    DLQ_HAS_ALARM,
    IAM_NO_WILDCARD_ACTIONS,
    LAMBDA_HAS_LOG_GROUP_WITH_RETENTION,
    POLICIES,
    SQS_QUEUE_ENCRYPTED,
    SQS_VISIBILITY_COVERS_FUNCTION_TIMEOUT,
    SQS_WORK_QUEUE_HAS_DLQ,
)
from tests.policy.harness import (
    Violation,
    drop_prop,
    edit_document,
    one,
    policy_resources,
    set_prop,
    urn_of,
    violations,
)

PACK_DIR = Path(__file__).resolve().parents[2] / "policy"
EXPECTED_POLICIES = {
    "iam-no-wildcard-actions",
    "sqs-queue-encrypted",
    "sqs-work-queue-has-dlq",
    "sqs-visibility-covers-function-timeout",
    "lambda-has-log-group-with-retention",
    "dlq-has-alarm",
}

QUEUE = "aws:sqs/queue:Queue"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"

LANE_QUEUE = "email-pipeline-dev-normal-queue"
LANE_DLQ = "email-pipeline-dev-normal-dlq"
LANE_FUNCTION = "email-pipeline-dev-normal"
LANE_LOG_GROUP = "email-pipeline-dev-normal-logs"
LANE_ROLE_POLICY = "email-pipeline-dev-normal-policy"


@pytest.fixture(scope="module")
def dev_resources() -> list[Recorded]:
    return run_stack("dev").resources


@pytest.fixture
def stack(dev_resources: list[Recorded]) -> list[Recorded]:
    """A private copy of the dev stack's resources, for one test to break."""
    return copy.deepcopy(dev_resources)


def check(policy: Policy, stack: list[Recorded], *, preview: bool = False) -> list[Violation]:
    return violations(policy, policy_resources(stack, preview=preview))


def only(found: list[Violation]) -> Violation:
    assert len(found) == 1, found
    return found[0]


def ses_send_statement(document: dict[str, Any]) -> dict[str, Any]:
    [statement] = [s for s in document["Statement"] if "ses:SendEmail" in s["Action"]]
    return statement


# --- the pack ---------------------------------------------------------------------------------------------


def test_pack_declares_exactly_the_six_policies_all_mandatory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs policy/__main__.py as the CLI does (the folder as a script), with the server swapped out."""
    declared: dict[str, Any] = {}

    def record_pack(name: str, policies: list[Policy], enforcement_level: EnforcementLevel | None = None,
                    **options: Any) -> None:
        declared.update(name=name, policies=policies, enforcement_level=enforcement_level)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", record_pack)
    runpy.run_path(str(PACK_DIR), run_name="__main__")  # imports `email_policies`, the module tested here

    assert declared["name"] == "email-pipeline"
    assert declared["enforcement_level"] is EnforcementLevel.MANDATORY
    assert [p.name for p in declared["policies"]] == [p.name for p in POLICIES]
    assert {p.name for p in declared["policies"]} == EXPECTED_POLICIES
    assert all(p.enforcement_level is EnforcementLevel.MANDATORY for p in declared["policies"])


def test_pack_folder_has_the_files_the_cli_needs() -> None:
    assert "runtime: python" in (PACK_DIR / "PulumiPolicy.yaml").read_text()
    assert "pulumi-policy==1.21.0" in (PACK_DIR / "requirements.txt").read_text().splitlines()


# --- the real program passes ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_dev_stack_passes(policy: Policy, stack: list[Recorded]) -> None:
    assert check(policy, stack) == []


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_dev_stack_passes_a_first_preview_with_unknown_arns(policy: Policy, stack: list[Recorded]) -> None:
    assert check(policy, stack, preview=True) == []


# --- 1. iam-no-wildcard-actions ------------------------------------------------------------------------


def test_role_policy_allowing_ses_star_is_rejected(stack: list[Recorded]) -> None:
    edit_document(one(stack, ROLE_POLICY, LANE_ROLE_POLICY),
                  lambda doc: doc["Statement"].append({"Effect": "Allow", "Action": ["ses:*"], "Resource": "*"}))

    violation = only(check(IAM_NO_WILDCARD_ACTIONS, stack))

    assert f"IAM role policy '{LANE_ROLE_POLICY}'" in violation.message
    assert "'ses:*'" in violation.message and "list the exact actions" in violation.message
    assert violation.urn == urn_of(one(stack, ROLE_POLICY, LANE_ROLE_POLICY))


def test_managed_policy_with_a_bare_star_action_string_is_rejected(stack: list[Recorded]) -> None:
    document = '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}'
    stack.append(Recorded("aws:iam/policy:Policy", "admin", {"policy": document}, {"policy": document}))

    violation = only(check(IAM_NO_WILDCARD_ACTIONS, stack))

    assert "IAM policy 'admin'" in violation.message and "['*']" in violation.message


def test_wildcard_in_a_roles_inline_policy_is_rejected(stack: list[Recorded]) -> None:
    document = '{"Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}'
    set_prop(one(stack, ROLE, "email-pipeline-dev-report-role"), "inlinePolicies",
             [{"name": "queues", "policy": document}])

    violation = only(check(IAM_NO_WILDCARD_ACTIONS, stack))

    assert "inline policy 'queues' of IAM role 'email-pipeline-dev-report-role'" in violation.message
    assert "'sqs:*'" in violation.message


def test_send_email_on_any_resource_is_rejected(stack: list[Recorded]) -> None:
    edit_document(one(stack, ROLE_POLICY, LANE_ROLE_POLICY),
                  lambda doc: ses_send_statement(doc).update(Resource="*"))

    violation = only(check(IAM_NO_WILDCARD_ACTIONS, stack))

    assert LANE_ROLE_POLICY in violation.message and "['ses:SendEmail'] on ['*']" in violation.message
    assert "arn:aws:ses:<region>:<account>:identity/" in violation.message


def test_send_email_on_every_identity_is_rejected(stack: list[Recorded]) -> None:
    every_identity = "arn:aws:ses:eu-west-1:123456789012:identity/*"
    edit_document(one(stack, ROLE_POLICY, LANE_ROLE_POLICY),
                  lambda doc: ses_send_statement(doc).update(Resource=[every_identity]))

    violation = only(check(IAM_NO_WILDCARD_ACTIONS, stack))

    assert every_identity in violation.message and "never '*' or a wildcard" in violation.message


def test_raw_email_send_without_an_identity_is_rejected(stack: list[Recorded]) -> None:
    config_set = "arn:aws:ses:eu-west-1:123456789012:configuration-set/email-pipeline-dev-config-set"
    edit_document(one(stack, ROLE_POLICY, LANE_ROLE_POLICY), lambda doc: doc["Statement"].append(
        {"Sid": "Raw", "Effect": "Allow", "Action": "ses:SendRawEmail", "Resource": config_set}))

    violation = only(check(IAM_NO_WILDCARD_ACTIONS, stack))

    assert "statement 'Raw'" in violation.message and "without naming an SES identity" in violation.message


def test_deny_statements_may_use_wildcards(stack: list[Recorded]) -> None:
    edit_document(one(stack, ROLE_POLICY, LANE_ROLE_POLICY), lambda doc: doc["Statement"].append(
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}))

    assert check(IAM_NO_WILDCARD_ACTIONS, stack) == []


# --- 2. sqs-queue-encrypted ----------------------------------------------------------------------------


def test_queue_without_encryption_is_rejected(stack: list[Recorded]) -> None:
    drop_prop(one(stack, QUEUE, LANE_DLQ), "sqsManagedSseEnabled")

    violation = only(check(SQS_QUEUE_ENCRYPTED, stack))

    assert f"SQS queue '{LANE_DLQ}' is not encrypted" in violation.message
    assert "sqs_managed_sse_enabled=True" in violation.message and "kms_master_key_id" in violation.message
    assert violation.urn == urn_of(one(stack, QUEUE, LANE_DLQ))


def test_queue_encrypted_with_a_kms_key_passes(stack: list[Recorded]) -> None:
    queue = one(stack, QUEUE, LANE_DLQ)
    drop_prop(queue, "sqsManagedSseEnabled")
    set_prop(queue, "kmsMasterKeyId", "alias/email-pipeline")

    assert check(SQS_QUEUE_ENCRYPTED, stack) == []


def test_queue_encryption_unknown_during_preview_is_not_reported(stack: list[Recorded]) -> None:
    set_prop(one(stack, QUEUE, LANE_DLQ), "sqsManagedSseEnabled", UNKNOWN_BOOLEAN_VALUE)

    assert check(SQS_QUEUE_ENCRYPTED, stack) == []


# --- 3. sqs-work-queue-has-dlq -------------------------------------------------------------------------


@pytest.mark.parametrize("preview", [False, True], ids=["update", "first-preview"])
def test_consumed_queue_without_redrive_policy_is_rejected(stack: list[Recorded], preview: bool) -> None:
    drop_prop(one(stack, QUEUE, LANE_QUEUE), "redrivePolicy")

    violation = only(check(SQS_WORK_QUEUE_HAS_DLQ, stack, preview=preview))

    assert f"SQS queue '{LANE_QUEUE}' is consumed by Lambda" in violation.message
    assert "email-pipeline-dev-normal-source" in violation.message
    assert "redrive_policy" in violation.message and "deadLetterTargetArn" in violation.message
    assert violation.urn == urn_of(one(stack, QUEUE, LANE_QUEUE))


def test_redrive_policy_without_a_target_is_rejected(stack: list[Recorded]) -> None:
    set_prop(one(stack, QUEUE, LANE_QUEUE), "redrivePolicy", '{"maxReceiveCount": 8}')

    violation = only(check(SQS_WORK_QUEUE_HAS_DLQ, stack))

    assert f"'{LANE_QUEUE}'" in violation.message


def test_redrive_declared_as_its_own_resource_counts(stack: list[Recorded]) -> None:
    queue = one(stack, QUEUE, LANE_QUEUE)
    redrive = queue.outputs["redrivePolicy"]
    drop_prop(queue, "redrivePolicy")
    inputs = {"queueUrl": queue.outputs["url"], "redrivePolicy": redrive}
    stack.append(Recorded("aws:sqs/redrivePolicy:RedrivePolicy", "lane-redrive", inputs, dict(inputs)))

    assert check(SQS_WORK_QUEUE_HAS_DLQ, stack) == []


# --- 4. sqs-visibility-covers-function-timeout ---------------------------------------------------------


@pytest.mark.parametrize("preview", [False, True], ids=["update", "first-preview"])
def test_visibility_timeout_of_five_times_the_function_timeout_is_rejected(stack: list[Recorded],
                                                                          preview: bool) -> None:
    timeout = one(stack, FUNCTION, LANE_FUNCTION).outputs["timeout"]
    set_prop(one(stack, QUEUE, LANE_QUEUE), "visibilityTimeoutSeconds", 5 * timeout)

    violation = only(check(SQS_VISIBILITY_COVERS_FUNCTION_TIMEOUT, stack, preview=preview))

    assert f"SQS queue '{LANE_QUEUE}' has visibility_timeout_seconds={5 * timeout:g}" in violation.message
    assert f"Lambda function '{LANE_FUNCTION}'" in violation.message and f"timeout={timeout:g} s" in violation.message
    assert f"at least {6 * timeout:g}" in violation.message
    assert violation.urn == urn_of(one(stack, QUEUE, LANE_QUEUE))


@pytest.mark.parametrize(("visibility", "rejected"), [(17, True), (18, False)])
def test_an_unset_function_timeout_counts_as_three_seconds(stack: list[Recorded], visibility: int,
                                                          rejected: bool) -> None:
    drop_prop(one(stack, FUNCTION, LANE_FUNCTION), "timeout")
    set_prop(one(stack, QUEUE, LANE_QUEUE), "visibilityTimeoutSeconds", visibility)

    found = check(SQS_VISIBILITY_COVERS_FUNCTION_TIMEOUT, stack)

    assert bool(found) is rejected
    assert all("at least 18" in v.message for v in found)


# --- 5. lambda-has-log-group-with-retention ------------------------------------------------------------


def test_log_group_without_retention_is_rejected(stack: list[Recorded]) -> None:
    drop_prop(one(stack, LOG_GROUP, LANE_LOG_GROUP), "retentionInDays")

    violation = only(check(LAMBDA_HAS_LOG_GROUP_WITH_RETENTION, stack))

    assert f"Log group '{LANE_LOG_GROUP}' of Lambda function '{LANE_FUNCTION}'" in violation.message
    assert "retention_in_days" in violation.message
    assert violation.urn == urn_of(one(stack, LOG_GROUP, LANE_LOG_GROUP))


def test_function_whose_log_group_is_not_declared_is_rejected(stack: list[Recorded]) -> None:
    stack.remove(one(stack, LOG_GROUP, LANE_LOG_GROUP))

    violation = only(check(LAMBDA_HAS_LOG_GROUP_WITH_RETENTION, stack))

    assert f"Lambda function '{LANE_FUNCTION}' logs to log group '/aws/lambda/{LANE_FUNCTION}'" in violation.message
    assert "declare an aws.cloudwatch.LogGroup" in violation.message
    assert violation.urn == urn_of(one(stack, FUNCTION, LANE_FUNCTION))


def test_function_without_logging_config_uses_the_default_log_group(stack: list[Recorded]) -> None:
    drop_prop(one(stack, FUNCTION, LANE_FUNCTION), "loggingConfig")

    assert check(LAMBDA_HAS_LOG_GROUP_WITH_RETENTION, stack) == []


def test_function_logging_to_an_undeclared_custom_group_is_rejected(stack: list[Recorded]) -> None:
    set_prop(one(stack, FUNCTION, LANE_FUNCTION), "loggingConfig", {"logFormat": "JSON", "logGroup": "/shared/email"})

    violation = only(check(LAMBDA_HAS_LOG_GROUP_WITH_RETENTION, stack))

    assert "'/shared/email'" in violation.message


# --- 6. dlq-has-alarm --------------------------------------------------------------------------------------


def alarm_of(stack: list[Recorded], queue_name: str) -> Recorded:
    """The one alarm whose QueueName dimension is `queue_name`."""
    [alarm] = [a for a in stack
               if a.typ == ALARM and (a.outputs.get("dimensions") or {}).get("QueueName") == queue_name]
    return alarm


@pytest.mark.parametrize(("dead_letter_queue", "role"), [
    (LANE_DLQ, f"redrive target of SQS queue '{LANE_QUEUE}'"),
    ("email-pipeline-dev-email-notification-dlq",
     "dead-letter queue of EventBridge target 'email-pipeline-dev-email-notification-target'"),
    ("email-pipeline-dev-daily-report-dlq",
     "dead-letter queue of Scheduler schedule 'email-pipeline-dev-daily-report'"),
    ("email-pipeline-dev-report-failures",
     "on-failure destination of Lambda async invoke config 'email-pipeline-dev-report-async'"),
], ids=["lane-redrive", "eventbridge-target", "scheduler", "async-invoke-failure"])
@pytest.mark.parametrize("preview", [False, True], ids=["update", "first-preview"])
def test_dead_letter_queue_without_alarm_is_rejected(stack: list[Recorded], dead_letter_queue: str, role: str,
                                                     preview: bool) -> None:
    stack.remove(alarm_of(stack, dead_letter_queue))

    violation = only(check(DLQ_HAS_ALARM, stack, preview=preview))

    assert f"SQS queue '{dead_letter_queue}' is a dead-letter queue ({role})" in violation.message
    assert f"dimensions {{'QueueName': '{dead_letter_queue}'}}" in violation.message
    assert "aws.cloudwatch.MetricAlarm" in violation.message
    assert violation.urn == urn_of(one(stack, QUEUE, dead_letter_queue))


def test_alarm_outside_the_sqs_namespace_does_not_count(stack: list[Recorded]) -> None:
    set_prop(alarm_of(stack, LANE_DLQ), "namespace", "EmailPipeline/dev")

    violation = only(check(DLQ_HAS_ALARM, stack))

    assert f"'{LANE_DLQ}'" in violation.message


def test_alarm_through_a_metric_query_counts(stack: list[Recorded]) -> None:
    alarm = alarm_of(stack, LANE_DLQ)
    for key in ("namespace", "metricName", "dimensions", "statistic", "period"):
        drop_prop(alarm, key)
    set_prop(alarm, "metricQueries", [{"id": "dead", "returnData": True, "metric": {
        "namespace": "AWS/SQS", "metricName": "ApproximateNumberOfMessagesVisible",
        "dimensions": {"QueueName": LANE_DLQ}, "period": 60, "stat": "Maximum"}}])

    assert check(DLQ_HAS_ALARM, stack) == []


# --- 1. iam-no-wildcard-actions, on resource policies ------------------------------------------------------

KEY = "aws:kms/key:Key"
ALARM_KEY = "email-pipeline-dev-alarm-key"


def test_kms_key_policy_granting_generate_data_key_star_is_rejected(stack: list[Recorded]) -> None:
    def widen(document: dict[str, Any]) -> None:
        [publisher] = [s for s in document["Statement"] if s["Sid"] == "CloudWatchAlarmsPublishToEncryptedTopic"]
        publisher["Action"] = ["kms:Decrypt", "kms:GenerateDataKey*"]

    edit_document(one(stack, KEY, ALARM_KEY), widen)

    violation = only(check(IAM_NO_WILDCARD_ACTIONS, stack))

    assert f"KMS key policy '{ALARM_KEY}'" in violation.message
    assert "statement 'CloudWatchAlarmsPublishToEncryptedTopic'" in violation.message
    assert "['kms:GenerateDataKey*']" in violation.message and "list the exact actions" in violation.message
    assert violation.urn == urn_of(one(stack, KEY, ALARM_KEY))
