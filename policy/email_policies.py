"""CrossGuard policies: what the email pipeline's design promises, checked on any program.

The policies look at resource types and at how resources reference each other (ARNs, URLs, names),
never at our resource names, so they hold for any program built from EmailSender, EventRouter and
Monitoring, or without them. All six are mandatory.

| Policy                                   | Kind     | Checks                                                |
|------------------------------------------|----------|-------------------------------------------------------|
| `iam-no-wildcard-actions`                | resource | no `*` actions; SES sends only on exact SES ARNs      |
| `sqs-queue-encrypted`                    | resource | every queue has SSE-SQS or a KMS key                  |
| `sqs-work-queue-has-dlq`                 | stack    | a queue Lambda consumes has a redrive target          |
| `sqs-visibility-covers-function-timeout` | stack    | visibility timeout >= 6 x the consumer's timeout      |
| `lambda-has-log-group-with-retention`    | stack    | a function's log group is declared, with retention    |
| `dlq-has-alarm`                          | stack    | every dead-letter queue has an AWS/SQS alarm          |

Unknown values. During a preview, computed outputs (the ARNs of resources not created yet, and
any JSON built from them) are unknown. The SDK's property proxy raises on the first unknown value
read and then skips the whole policy; here every policy first copies the properties with
`plain()`, which turns unknown values into `UNKNOWN`, so a policy skips only the one check that
needs a value it cannot know yet, and still reports what it can. A reference whose value is
unknown is followed through the property's dependencies when exactly one resource of the expected
type is among them, so a first preview still links a queue to its consumer and to its
dead-letter queue. A property that is absent is not unknown: it is what the policies look for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# The CLI runs the pack with this folder first on sys.path: its modules import each other by their
# top-level names (tests put the folder on sys.path the same way, so each has one name).
from stack_view import UNKNOWN, Stack, StackResource, as_list, consumers, lookup, number, parse_json, plain, redrives

PACK_NAME = "email-pipeline"

QUEUE = "aws:sqs/queue:Queue"
REDRIVE_POLICY = "aws:sqs/redrivePolicy:RedrivePolicy"
EVENT_SOURCE_MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
FUNCTION = "aws:lambda/function:Function"
FUNCTION_EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
SCHEDULE = "aws:scheduler/schedule:Schedule"
ROLE = "aws:iam/role:Role"

#: Resources whose `policy` property is an IAM policy document: identity-based, and the
#: resource-based ones (key, queue, topic, bus policies) whose Allow statements grant actions too.
IAM_DOCUMENT_TYPES = {
    "aws:iam/rolePolicy:RolePolicy": "IAM role policy",
    "aws:iam/policy:Policy": "IAM policy",
    "aws:iam/userPolicy:UserPolicy": "IAM user policy",
    "aws:iam/groupPolicy:GroupPolicy": "IAM group policy",
    "aws:kms/key:Key": "KMS key policy",
    "aws:sqs/queuePolicy:QueuePolicy": "SQS queue policy",
    "aws:sns/topicPolicy:TopicPolicy": "SNS topic policy",
    "aws:cloudwatch/eventBusPolicy:EventBusPolicy": "EventBridge bus policy",
}

#: AWS guidance for SQS event sources: the queue's visibility timeout is at least 6 x the function
#: timeout, covering the invocation, Lambda's retries of a throttled batch, and the batching window.
VISIBILITY_TIMEOUT_FACTOR = 6
#: What AWS uses when the property is not set.
DEFAULT_FUNCTION_TIMEOUT_SECONDS = 3
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30

_SES_SEND_ACTIONS = frozenset({"ses:sendemail", "ses:sendrawemail", "ses:sendbulkemail"})
#: The SES resource types a send can be authorised on. An identity is always one of them: it is
#: the address or domain the function may send as.
_SES_SEND_RESOURCE = re.compile(
    r"^arn:aws[a-z-]*:ses:[a-z0-9-]+:\d{12}:(identity|configuration-set|template|contact-list)/[^*?]+$")
_SES_IDENTITY = re.compile(r"^arn:aws[a-z-]*:ses:[a-z0-9-]+:\d{12}:identity/[^*?]+$")
_IAM_WILDCARDS = ("*", "?")

# --- 1. iam-no-wildcard-actions ---------------------------------------------------------------------


def validate_iam_documents(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Report wildcard actions, and SES sends not bound to exact SES ARNs, in IAM policy documents.

    Covers role, user and group inline policies, managed policies, a role's `inline_policies`, and
    the resource policies of KMS keys, SQS queues, SNS topics and EventBridge buses.
    Deny statements may use wildcards: they take permissions away.
    """
    props = plain(args.props)
    documents: list[tuple[str, Any]] = []
    if args.resource_type in IAM_DOCUMENT_TYPES:
        documents.append((f"{IAM_DOCUMENT_TYPES[args.resource_type]} '{args.name}'", props.get("policy")))
    elif args.resource_type == ROLE:
        inline = props.get("inlinePolicies")
        for index, item in enumerate(inline if isinstance(inline, list) else []):
            label = lookup(item, "name")
            label = label if isinstance(label, str) and label else f"#{index + 1}"
            documents.append((f"inline policy '{label}' of IAM role '{args.name}'", lookup(item, "policy")))
    for where, raw in documents:
        for problem in _document_problems(raw):
            report_violation(f"{where}: {problem}", None)


def _document_problems(raw: Any) -> list[str]:
    try:
        document = parse_json(raw)
    except ValueError:
        document = "not JSON"
    if document is None or document is UNKNOWN:
        return []
    if not isinstance(document, Mapping):
        return ["its document is not a JSON object, so it cannot be checked: build it from data with "
                "pulumi.Output.json_dumps or aws.iam.get_policy_document_output."]
    statements = document.get("Statement")
    statements = [statements] if isinstance(statements, Mapping) else statements
    problems: list[str] = []
    for index, statement in enumerate(statements if isinstance(statements, list) else []):
        if isinstance(statement, Mapping) and str(statement.get("Effect", "Allow")).lower() != "deny":
            sid = statement.get("Sid")
            problems += _statement_problems(f"statement '{sid}'" if sid else f"statement #{index + 1}", statement)
    return problems


def _statement_problems(where: str, statement: Mapping[str, Any]) -> list[str]:
    actions = [action for action in as_list(statement.get("Action")) if isinstance(action, str)]
    problems: list[str] = []
    wildcards = [action for action in actions if any(w in action for w in _IAM_WILDCARDS)]
    if wildcards:
        problems.append(f"{where} allows wildcard action(s) {wildcards}: list the exact actions the code "
                        "calls instead (for example 'ses:SendEmail', 'sqs:ReceiveMessage').")
    if "NotAction" in statement:
        problems.append(f"{where} combines Allow with NotAction, which allows every action not listed: "
                        "use Action with the exact actions instead.")
    sends = sorted({action for action in actions if action.lower() in _SES_SEND_ACTIONS})
    if sends:
        problems += _send_resource_problems(where, sends, statement)
    return problems


def _send_resource_problems(where: str, sends: list[str], statement: Mapping[str, Any]) -> list[str]:
    identity_hint = "the SES identity ARN (arn:aws:ses:<region>:<account>:identity/<domain or address>)"
    if "Resource" not in statement:
        return [f"{where} allows {sends} without a Resource list (NotResource or none): name {identity_hint}, "
                "and the configuration set and templates the function uses."]
    resources = as_list(statement["Resource"])
    not_exact = [r for r in resources if not (isinstance(r, str) and _SES_SEND_RESOURCE.match(r))]
    if not_exact:
        return [f"{where} allows {sends} on {not_exact}: name exact SES ARNs instead, never '*' or a "
                f"wildcard: {identity_hint}, and the configuration set and templates the function uses."]
    if not any(_SES_IDENTITY.match(r) for r in resources):
        return [f"{where} allows {sends} without naming an SES identity: add {identity_hint} the function "
                "sends as."]
    return []


# --- 2. sqs-queue-encrypted ---------------------------------------------------------------------------


def validate_queue_encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Report an SQS queue with neither SSE-SQS nor a KMS key: queued events carry addresses and data."""
    if args.resource_type != QUEUE:
        return
    props = plain(args.props)
    managed, kms_key = props.get("sqsManagedSseEnabled"), props.get("kmsMasterKeyId")
    if managed is True or (isinstance(kms_key, str) and kms_key) or UNKNOWN in (managed, kms_key):
        return
    report_violation(
        f"SQS queue '{args.name}' is not encrypted at rest: set sqs_managed_sse_enabled=True (SSE-SQS), or "
        "kms_master_key_id to a KMS key (SSE-KMS). Queued messages carry recipient addresses and template data.",
        None,
    )


# --- 3. sqs-work-queue-has-dlq ------------------------------------------------------------------------


def validate_work_queues_have_dlq(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report a queue Lambda consumes that has no redrive policy with a deadLetterTargetArn."""
    stack = Stack(args.resources)
    targets: dict[str, list[Any]] = {}
    for redrive in redrives(stack):
        targets.setdefault(redrive.source.urn, []).append(redrive.target)
    reported: set[str] = set()
    for mapping, queue in consumers(stack):
        found = targets.get(queue.urn, [])
        if queue.urn in reported or any(t is UNKNOWN or isinstance(t, str) for t in found):
            continue
        reported.add(queue.urn)
        report_violation(
            f"SQS queue '{queue.name}' is consumed by Lambda (event source mapping '{mapping.name}') but has no "
            "dead-letter queue: set its redrive_policy to "
            '{"deadLetterTargetArn": <DLQ ARN>, "maxReceiveCount": <n>}, so that a message that keeps '
            "failing is kept in the DLQ instead of being retried until it expires and is lost.",
            queue.urn,
        )


# --- 4. sqs-visibility-covers-function-timeout --------------------------------------------------------


def validate_visibility_timeouts(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report a queue whose visibility timeout is below 6 x the timeout of the function it feeds."""
    stack = Stack(args.resources)
    for mapping, queue in consumers(stack):
        function = stack.referenced(mapping, "functionName", mapping.props.get("functionName"), FUNCTION)
        if function is None:
            continue
        visibility = _with_default(queue.props.get("visibilityTimeoutSeconds"), DEFAULT_VISIBILITY_TIMEOUT_SECONDS)
        timeout = _with_default(function.props.get("timeout"), DEFAULT_FUNCTION_TIMEOUT_SECONDS)
        if visibility is None or timeout is None:
            continue
        required = VISIBILITY_TIMEOUT_FACTOR * timeout
        if visibility < required:
            report_violation(
                f"SQS queue '{queue.name}' has visibility_timeout_seconds={visibility:g}, but Lambda function "
                f"'{function.name}' that consumes it (event source mapping '{mapping.name}') has "
                f"timeout={timeout:g} s: set the queue's visibility_timeout_seconds to at least {required:g} "
                f"({VISIBILITY_TIMEOUT_FACTOR} x the function timeout), or lower the function timeout. Otherwise a "
                "message still being processed becomes visible again and the email is sent twice.",
                queue.urn,
            )


def _with_default(value: Any, default: int) -> float | None:
    """A numeric property, AWS's default when it is not set, None when it is unknown or not a number."""
    return float(default) if value is None else number(value)


# --- 5. lambda-has-log-group-with-retention -----------------------------------------------------------


def validate_function_log_groups(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report a function whose log group is not declared in the stack, or is kept forever."""
    stack = Stack(args.resources)
    groups = {g.props["name"]: g for g in stack.of_type(LOG_GROUP) if isinstance(g.props.get("name"), str)}
    # A log group whose name is not known yet may be the one a function logs to.
    some_unnamed = any(not isinstance(g.props.get("name"), str) for g in stack.of_type(LOG_GROUP))
    for function in stack.of_type(FUNCTION):
        group_name, group = _log_group_of(stack, function, groups)
        if group is None:
            if group_name is not None and not some_unnamed:
                report_violation(
                    f"Lambda function '{function.name}' logs to log group '{group_name}', which the stack does not "
                    "declare: declare an aws.cloudwatch.LogGroup with that name and retention_in_days (created on "
                    "first invoke by Lambda, it would keep every log line forever, outside the stack).",
                    function.urn,
                )
            continue
        retention = group.props.get("retentionInDays")
        if retention is UNKNOWN or ((number(retention) or 0) > 0):
            continue
        report_violation(
            f"Log group '{group.name}' of Lambda function '{function.name}' has no retention: set "
            "retention_in_days (for example 30) so that its logs expire instead of being kept forever.",
            group.urn,
        )


def _log_group_of(stack: Stack, function: StackResource,
                  groups: Mapping[str, StackResource]) -> tuple[str | None, StackResource | None]:
    """(name, declared log group) a function writes to; (None, None) when that cannot be known yet."""
    configured = lookup(function.props, "loggingConfig", "logGroup")
    if configured is UNKNOWN:
        group = stack.referenced(function, "loggingConfig", UNKNOWN, LOG_GROUP)
        return (group.name if group else None), group
    if isinstance(configured, str) and configured:
        return configured, groups.get(configured)
    name = function.props.get("name")
    if not isinstance(name, str) or not name:
        return None, None
    default = f"/aws/lambda/{name}"
    return default, groups.get(default)


# --- 6. dlq-has-alarm -----------------------------------------------------------------------------------


def validate_dead_letter_alarms(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report a dead-letter queue that no CloudWatch alarm on its AWS/SQS metrics watches."""
    stack = Stack(args.resources)
    watched, uncertain = _watched_queue_names(stack)
    dead_letter_queues: dict[str, tuple[StackResource, list[str]]] = {}
    for referrer, prop, value, role in _dead_letter_references(stack):
        queue = stack.referenced(referrer, prop, value, QUEUE)
        if queue is not None:
            dead_letter_queues.setdefault(queue.urn, (queue, []))[1].append(role)
    for queue, roles in dead_letter_queues.values():
        queue_name = queue.props.get("name")
        if not isinstance(queue_name, str) or queue_name in watched or uncertain:
            continue
        report_violation(
            f"SQS queue '{queue.name}' is a dead-letter queue ({'; '.join(roles)}) but no CloudWatch alarm watches "
            f"it: add an aws.cloudwatch.MetricAlarm on namespace AWS/SQS, metric ApproximateNumberOfMessagesVisible, "
            f"dimensions {{'QueueName': '{queue_name}'}}, threshold > 0, so that a failed email is noticed "
            "before the queue's retention drops it.",
            queue.urn,
        )


def _dead_letter_references(stack: Stack) -> Iterator[tuple[StackResource, str, Any, str]]:
    """(referrer, property, referenced ARN, description) for everything that dead-letters to a queue."""
    for redrive in redrives(stack):
        yield (redrive.carrier, "redrivePolicy", redrive.target,
               f"redrive target of SQS queue '{redrive.source.name}'")
    for target in stack.of_type(EVENT_TARGET):
        yield (target, "deadLetterConfig", lookup(target.props, "deadLetterConfig", "arn"),
               f"dead-letter queue of EventBridge target '{target.name}'")
    for schedule in stack.of_type(SCHEDULE):
        yield (schedule, "target", lookup(schedule.props, "target", "deadLetterConfig", "arn"),
               f"dead-letter queue of Scheduler schedule '{schedule.name}'")
    for config in stack.of_type(FUNCTION_EVENT_INVOKE_CONFIG):
        yield (config, "destinationConfig", lookup(config.props, "destinationConfig", "onFailure", "destination"),
               f"on-failure destination of Lambda async invoke config '{config.name}'")
    for function in stack.of_type(FUNCTION):
        yield (function, "deadLetterConfig", lookup(function.props, "deadLetterConfig", "targetArn"),
               f"dead-letter queue of Lambda function '{function.name}'")
    for mapping in stack.of_type(EVENT_SOURCE_MAPPING):
        yield (mapping, "destinationConfig", lookup(mapping.props, "destinationConfig", "onFailure", "destinationArn"),
               f"on-failure destination of event source mapping '{mapping.name}'")


def _watched_queue_names(stack: Stack) -> tuple[set[str], bool]:
    """Queue names some AWS/SQS alarm metric names, and whether any alarm's queue is still unknown."""
    watched: set[str] = set()
    uncertain = False
    for alarm in stack.of_type(METRIC_ALARM):
        metrics = [(alarm.props.get("namespace"), alarm.props.get("dimensions"))]
        queries = alarm.props.get("metricQueries")
        uncertain |= queries is UNKNOWN
        metrics += [(lookup(q, "metric", "namespace"), lookup(q, "metric", "dimensions"))
                    for q in (queries if isinstance(queries, list) else [])]
        for namespace, dimensions in metrics:
            queue_name = lookup(dimensions, "QueueName")
            if namespace not in ("AWS/SQS", UNKNOWN) or queue_name is None:
                continue
            if isinstance(queue_name, str):
                watched.add(queue_name)
            else:
                uncertain = True
    return watched, uncertain


# --- the policies -----------------------------------------------------------------------------------------

IAM_NO_WILDCARD_ACTIONS = ResourceValidationPolicy(
    name="iam-no-wildcard-actions",
    description=("IAM policies allow exact actions, never '*' or 'service:*'; ses:SendEmail, SendRawEmail and "
                 "SendBulkEmail are allowed only on exact SES ARNs that include the sending identity."),
    validate=validate_iam_documents,
    enforcement_level=EnforcementLevel.MANDATORY,
)

SQS_QUEUE_ENCRYPTED = ResourceValidationPolicy(
    name="sqs-queue-encrypted",
    description="Every SQS queue is encrypted at rest, with SSE-SQS or a KMS key.",
    validate=validate_queue_encryption,
    enforcement_level=EnforcementLevel.MANDATORY,
)

SQS_WORK_QUEUE_HAS_DLQ = StackValidationPolicy(
    name="sqs-work-queue-has-dlq",
    description="Every SQS queue a Lambda function consumes has a redrive policy with a dead-letter queue.",
    validate=validate_work_queues_have_dlq,
    enforcement_level=EnforcementLevel.MANDATORY,
)

SQS_VISIBILITY_COVERS_FUNCTION_TIMEOUT = StackValidationPolicy(
    name="sqs-visibility-covers-function-timeout",
    description=(f"An SQS queue's visibility timeout is at least {VISIBILITY_TIMEOUT_FACTOR} x the timeout of the "
                 "Lambda function that consumes it."),
    validate=validate_visibility_timeouts,
    enforcement_level=EnforcementLevel.MANDATORY,
)

LAMBDA_HAS_LOG_GROUP_WITH_RETENTION = StackValidationPolicy(
    name="lambda-has-log-group-with-retention",
    description="Every Lambda function logs to a log group declared in the stack, with a retention period.",
    validate=validate_function_log_groups,
    enforcement_level=EnforcementLevel.MANDATORY,
)

DLQ_HAS_ALARM = StackValidationPolicy(
    name="dlq-has-alarm",
    description="Every SQS queue used as a dead-letter queue or failure destination has a CloudWatch alarm.",
    validate=validate_dead_letter_alarms,
    enforcement_level=EnforcementLevel.MANDATORY,
)

POLICIES: tuple[Policy, ...] = (
    IAM_NO_WILDCARD_ACTIONS,
    SQS_QUEUE_ENCRYPTED,
    SQS_WORK_QUEUE_HAS_DLQ,
    SQS_VISIBILITY_COVERS_FUNCTION_TIMEOUT,
    LAMBDA_HAS_LOG_GROUP_WITH_RETENTION,
    DLQ_HAS_ALARM,
)

__all__ = ["PACK_NAME", "POLICIES", "UNKNOWN", "lookup", "plain"]
