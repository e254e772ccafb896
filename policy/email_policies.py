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

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

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

_UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE,
})


# --- reading properties that may be unknown ------------------------------------------------------


class _Unknown:
    """A value Pulumi cannot know yet: an output computed during the deployment."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()


def plain(value: Any) -> Any:
    """A copy of `value` as plain dicts and lists, with every unknown value replaced by `UNKNOWN`.

    Args:
        value: resource properties as the SDK passes them (proxies), or plain data.

    Returns:
        The same data; reading it never raises `UnknownValueError`.
    """
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {key: _read(lambda key=key: value[key]) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_read(lambda index=index: value[index]) for index in range(len(value))]
    return value


def _read(get: Callable[[], Any]) -> Any:
    try:
        return plain(get())
    except UnknownValueError:
        return UNKNOWN


def lookup(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...`: None where a key is missing, `UNKNOWN` where a step is unknown."""
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _json(value: Any) -> Any:
    """A JSON document property parsed: None when absent, `UNKNOWN` when unknown.

    Raises:
        ValueError: the value is neither JSON text nor an already parsed object.
    """
    if value is None or value is UNKNOWN or isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        return json.loads(value) if value.strip() else None
    raise ValueError(f"expected JSON text, got {type(value).__name__}")


def _as_list(value: Any) -> list[Any]:
    """IAM lets Action and Resource be one string or a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- the stack as the stack policies see it --------------------------------------------------------


@dataclass(frozen=True)
class _Resource:
    """One resource with plain properties and, per property, the URNs of the resources it used."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    dependencies: Mapping[str, tuple[str, ...]]


class _Stack:
    """Every resource of the stack, and how to follow a reference from one resource to another."""

    def __init__(self, resources: Iterable[PolicyResource]) -> None:
        self.resources = [
            _Resource(
                type=resource.resource_type,
                name=resource.name,
                urn=resource.urn,
                props=plain(resource.props),
                dependencies={prop: tuple(dict.fromkeys(dep.urn for dep in deps))
                              for prop, deps in (getattr(resource, "property_dependencies", None) or {}).items()},
            )
            for resource in resources
        ]
        self._by_urn = {resource.urn: resource for resource in self.resources}

    def of_type(self, typ: str) -> list[_Resource]:
        return [resource for resource in self.resources if resource.type == typ]

    def referenced(self, referrer: _Resource, prop: str, value: Any, typ: str) -> _Resource | None:
        """The resource of type `typ` that `value`, read from `referrer`'s property `prop`, points at.

        A known value is matched against ARNs and URLs (and function names, for functions). An
        unknown one is followed through the property's dependencies when exactly one resource of
        `typ` is among them. Anything else (absent, outside the stack, ambiguous) gives None.
        """
        if isinstance(value, str) and value:
            return next((r for r in self.of_type(typ) if _is_reference_to(r, value)), None)
        if value is UNKNOWN:
            candidates = [self._by_urn[urn] for urn in referrer.dependencies.get(prop, ())
                          if urn in self._by_urn and self._by_urn[urn].type == typ]
            return candidates[0] if len(candidates) == 1 else None
        return None


def _is_reference_to(resource: _Resource, value: str) -> bool:
    if value in (resource.props.get("arn"), resource.props.get("url")):
        return True
    # Event source mappings and invoke configs accept a name, an ARN, or a qualified ARN.
    return resource.type == FUNCTION and resource.props.get("name") == _function_name(value)


def _function_name(reference: str) -> str:
    """`my-fn`, `arn:aws:lambda:r:a:function:my-fn` and `...:function:my-fn:live` all name `my-fn`."""
    if ":function:" in reference:
        return reference.split(":function:", 1)[1].split(":", 1)[0]
    return reference


@dataclass(frozen=True)
class _Redrive:
    """A redrive policy: messages of `source` that keep failing move to `target` (an ARN)."""

    source: _Resource
    carrier: _Resource
    target: Any


def _redrives(stack: _Stack) -> Iterator[_Redrive]:
    """Redrive policies set on a queue, and those declared as separate `sqs.RedrivePolicy` resources."""
    for queue in stack.of_type(QUEUE):
        yield _Redrive(queue, queue, _redrive_target(queue.props.get("redrivePolicy")))
    for policy in stack.of_type(REDRIVE_POLICY):
        source = stack.referenced(policy, "queueUrl", policy.props.get("queueUrl"), QUEUE)
        if source is not None:
            yield _Redrive(source, policy, _redrive_target(policy.props.get("redrivePolicy")))


def _redrive_target(raw: Any) -> Any:
    """The deadLetterTargetArn of a redrive policy: a string, `UNKNOWN`, or None if there is none."""
    try:
        document = _json(raw)
    except ValueError:
        return None
    if document is UNKNOWN:
        return UNKNOWN
    target = lookup(document, "deadLetterTargetArn")
    return target if target is UNKNOWN or (isinstance(target, str) and target) else None


def _consumers(stack: _Stack) -> Iterator[tuple[_Resource, _Resource]]:
    """(event source mapping, SQS queue it reads) for every mapping whose source is a queue in the stack."""
    for mapping in stack.of_type(EVENT_SOURCE_MAPPING):
        queue = stack.referenced(mapping, "eventSourceArn", mapping.props.get("eventSourceArn"), QUEUE)
        if queue is not None:
            yield mapping, queue


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
        document = _json(raw)
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
    actions = [action for action in _as_list(statement.get("Action")) if isinstance(action, str)]
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
    resources = _as_list(statement["Resource"])
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
    stack = _Stack(args.resources)
    targets: dict[str, list[Any]] = {}
    for redrive in _redrives(stack):
        targets.setdefault(redrive.source.urn, []).append(redrive.target)
    reported: set[str] = set()
    for mapping, queue in _consumers(stack):
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
    stack = _Stack(args.resources)
    for mapping, queue in _consumers(stack):
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
    return float(default) if value is None else _number(value)


# --- 5. lambda-has-log-group-with-retention -----------------------------------------------------------


def validate_function_log_groups(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Report a function whose log group is not declared in the stack, or is kept forever."""
    stack = _Stack(args.resources)
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
        if retention is UNKNOWN or ((_number(retention) or 0) > 0):
            continue
        report_violation(
            f"Log group '{group.name}' of Lambda function '{function.name}' has no retention: set "
            "retention_in_days (for example 30) so that its logs expire instead of being kept forever.",
            group.urn,
        )


def _log_group_of(stack: _Stack, function: _Resource,
                  groups: Mapping[str, _Resource]) -> tuple[str | None, _Resource | None]:
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
    stack = _Stack(args.resources)
    watched, uncertain = _watched_queue_names(stack)
    dead_letter_queues: dict[str, tuple[_Resource, list[str]]] = {}
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


def _dead_letter_references(stack: _Stack) -> Iterator[tuple[_Resource, str, Any, str]]:
    """(referrer, property, referenced ARN, description) for everything that dead-letters to a queue."""
    for redrive in _redrives(stack):
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


def _watched_queue_names(stack: _Stack) -> tuple[set[str], bool]:
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
