"""What the Pulumi program declares, read from a mocked run, and recreated in the AWS emulator.

The local system is not a second copy of the infrastructure: `Blueprint.from_mocks` reads the
resources `__main__.py` declared for a stack (under Pulumi's mocks), and `provision` creates the
emulatable ones in moto with the same names, patterns and settings. A route, queue, template or
setting added to the program appears locally with no other change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local import eventbridge_inputs
from local.iam_requests import ArnKind
from local.mocks import Recorded, RecordingMocks


_SIMPLE_PATTERN = re.compile(r'^\{\s*\$\.(?P<key>\w+)\s*=\s*"(?P<value>[^"]*)"\s*\}$')


@dataclass(frozen=True)
class QueueSpec:
    name: str
    arn: str
    visibility_timeout: int
    redrive: Mapping[str, Any] | None


@dataclass(frozen=True)
class TargetSpec:
    arn: str
    input_transformer: Mapping[str, Any] | None = None

    def for_put_targets(self, index: int) -> dict[str, Any]:
        """The target in PutTargets' shape, with its input transformer when it has one."""
        target: dict[str, Any] = {"Id": f"t{index}", "Arn": self.arn}
        if self.input_transformer:
            target["InputTransformer"] = {"InputPathsMap": dict(self.input_transformer.get("inputPaths") or {}),
                                          "InputTemplate": self.input_transformer["inputTemplate"]}
        return target


@dataclass(frozen=True)
class RuleSpec:
    name: str
    bus: str
    pattern: str
    targets: tuple[TargetSpec, ...]

    @property
    def target_arns(self) -> tuple[str, ...]:
        return tuple(target.arn for target in self.targets)


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    arn: str
    handler: str
    timeout: int
    environment: Mapping[str, str]
    log_group: str = ""
    role: str = ""  # the execution role's ARN
    tracing: bool = False  # X-Ray active tracing: Lambda sends segments with the role


@dataclass(frozen=True)
class AsyncInvokeSpec:
    """What Lambda does with a failed asynchronous invocation: retry, then the on-failure destination."""

    on_failure: str = ""
    maximum_retry_attempts: int = 2  # Lambda's default


@dataclass(frozen=True)
class MappingSpec:
    queue_arn: str
    function_arn: str
    batch_size: int


@dataclass(frozen=True)
class MetricFilterSpec:
    """A log metric filter of the simple form the Monitoring component declares: `{ $.key = "value" }`."""

    log_group: str
    key: str
    value: str
    metric: str
    namespace: str
    dimensions: Mapping[str, str]

    def metric_for(self, line: Mapping[str, Any]) -> dict[str, Any] | None:
        """The datapoint this filter makes of a JSON log line, or None when it does not match."""
        if str(line.get(self.key)) != self.value:
            return None
        dimensions = [{"Name": name, "Value": str(line.get(path.removeprefix("$."), ""))}
                      for name, path in self.dimensions.items()]
        return {"MetricName": self.metric, "Value": 1.0, "Unit": "Count", "Dimensions": dimensions}


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    subject: str
    html: str
    text: str


@dataclass
class Blueprint:
    """The emulatable part of a stack, as the program declared it."""

    queues: dict[str, QueueSpec] = field(default_factory=dict)
    buses: list[str] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    mappings: list[MappingSpec] = field(default_factory=list)
    templates: dict[str, TemplateSpec] = field(default_factory=dict)
    identities: list[str] = field(default_factory=list)
    configuration_sets: list[str] = field(default_factory=list)
    #: SES contact lists (sesv2 CreateContactList's parameters), with the stack's topics
    contact_lists: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, str] = field(default_factory=dict)  # table name -> hash key
    scheduled_function_arns: list[str] = field(default_factory=list)
    metric_filters: list[MetricFilterSpec] = field(default_factory=list)
    log_groups: list[str] = field(default_factory=list)
    #: role ARN -> its inline policy documents (RolePolicy resources and the role's inlinePolicies)
    role_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: function ARN -> its asynchronous invocation config (FunctionEventInvokeConfig)
    async_configs: dict[str, AsyncInvokeSpec] = field(default_factory=dict)
    #: (ArnKind value, name) -> ARN, as the provider reported it: what role policies name
    arns: dict[tuple[str, str], str] = field(default_factory=dict)
    #: The stack's outputs as the program exports them (`local.stack_outputs` points them at the emulator)
    exports: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mocks(cls, mocks: RecordingMocks) -> Blueprint:
        """Read every resource the local system emulates from a mocked program run."""
        blueprint = cls()
        targets: dict[str, list[TargetSpec]] = {}
        for target in mocks.of_type("aws:cloudwatch/eventTarget:EventTarget"):
            targets.setdefault(target.inputs["rule"], []).append(
                TargetSpec(target.inputs["arn"], target.inputs.get("inputTransformer")))
        for queue in mocks.of_type("aws:sqs/queue:Queue"):
            redrive = queue.inputs.get("redrivePolicy")
            blueprint.queues[queue.outputs["arn"]] = QueueSpec(
                name=queue.outputs["name"], arn=queue.outputs["arn"],
                visibility_timeout=int(queue.inputs.get("visibilityTimeoutSeconds", 30)),
                redrive=json.loads(redrive) if redrive else None,
            )
        blueprint.buses = [bus.outputs["name"] for bus in mocks.of_type("aws:cloudwatch/eventBus:EventBus")]
        for rule in mocks.of_type("aws:cloudwatch/eventRule:EventRule"):
            # Rules without a bus are on the account's default bus, where SES publishes its events.
            bus = rule.inputs.get("eventBusName") or "default"
            blueprint.rules.append(RuleSpec(rule.outputs["name"], bus, rule.inputs["eventPattern"],
                                            tuple(targets.get(rule.outputs["name"], ()))))
        blueprint.log_groups = [group.inputs["name"] for group in mocks.of_type("aws:cloudwatch/logGroup:LogGroup")]
        for function in mocks.of_type("aws:lambda/function:Function"):
            blueprint.functions[function.outputs["arn"]] = FunctionSpec(
                name=function.outputs["name"], arn=function.outputs["arn"], handler=function.inputs["handler"],
                timeout=int(function.inputs.get("timeout", 3)),
                environment=dict((function.inputs.get("environment") or {}).get("variables", {})),
                log_group=(function.inputs.get("loggingConfig") or {}).get("logGroup", ""),
                role=function.inputs.get("role", ""),
                tracing=(function.inputs.get("tracingConfig") or {}).get("mode") == "Active",
            )
        blueprint.role_policies = _role_policies(mocks)
        by_name = {function.name: arn for arn, function in blueprint.functions.items()}
        for config in mocks.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"):
            destination = ((config.inputs.get("destinationConfig") or {}).get("onFailure") or {}).get("destination")
            name = config.inputs["functionName"]
            blueprint.async_configs[by_name.get(name, name)] = AsyncInvokeSpec(
                destination or "", int(config.inputs.get("maximumRetryAttempts", 2)))
        for mapping in mocks.of_type("aws:lambda/eventSourceMapping:EventSourceMapping"):
            blueprint.mappings.append(MappingSpec(mapping.inputs["eventSourceArn"], mapping.inputs["functionName"],
                                                  int(mapping.inputs.get("batchSize", 10))))
        for template in mocks.of_type("aws:ses/template:Template"):
            inputs = template.inputs
            blueprint.templates[inputs["name"]] = TemplateSpec(inputs["name"], inputs["subject"], inputs["html"],
                                                               inputs["text"])
        blueprint.identities = [i.inputs["emailIdentity"] for i in mocks.of_type("aws:sesv2/emailIdentity:EmailIdentity")]
        blueprint.configuration_sets = [c.inputs["configurationSetName"]
                                        for c in mocks.of_type("aws:sesv2/configurationSet:ConfigurationSet")]
        blueprint.contact_lists = [{
            "ContactListName": c.inputs["contactListName"],
            "Topics": [{"TopicName": topic["topicName"], "DisplayName": topic["displayName"],
                        "Description": topic.get("description") or "",
                        "DefaultSubscriptionStatus": topic["defaultSubscriptionStatus"]}
                       for topic in c.inputs.get("topics") or []]}
            for c in mocks.of_type("aws:sesv2/contactList:ContactList")]
        blueprint.tables = {t.outputs["name"]: t.inputs["hashKey"] for t in mocks.of_type("aws:dynamodb/table:Table")}
        blueprint.scheduled_function_arns = [s.inputs["target"]["arn"]
                                             for s in mocks.of_type("aws:scheduler/schedule:Schedule")]
        for metric_filter in mocks.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter"):
            match = _SIMPLE_PATTERN.match(metric_filter.inputs["pattern"])
            transformation = metric_filter.inputs["metricTransformation"]
            if match:
                blueprint.metric_filters.append(MetricFilterSpec(
                    metric_filter.inputs["logGroupName"], match["key"], match["value"], transformation["name"],
                    transformation["namespace"], dict(transformation.get("dimensions") or {})))
        blueprint.arns = _declared_arns(mocks)
        blueprint.exports = dict(mocks.exports)
        return blueprint

    def policy_document(self, function: FunctionSpec) -> dict[str, Any]:
        """Every inline statement of the function's role, as one policy document."""
        documents = self.role_policies.get(function.role, [])
        return {"Version": "2012-10-17", "Statement": [s for d in documents for s in _statements(d)]}

    def lane_mappings(self) -> list[tuple[QueueSpec, FunctionSpec, int]]:
        """(queue, function, batch size) for each event source mapping."""
        return [(self.queues[m.queue_arn], self.functions[m.function_arn], m.batch_size) for m in self.mappings]

    def undrained_queues(self) -> list[QueueSpec]:
        """Queues a rule delivers to that no function drains: events wait there for an operator."""
        drained = {mapping.queue_arn for mapping in self.mappings}
        targeted = {arn for rule in self.rules for arn in rule.target_arns}
        return [queue for arn, queue in self.queues.items() if arn in targeted and arn not in drained]

    def dead_letter_queues(self) -> dict[str, QueueSpec]:
        """Each lane's DLQ, by lane name (the `EMAIL_LANE` of the function draining the lane)."""
        found = {}
        for queue, function, _batch in self.lane_mappings():
            if queue.redrive:
                found[function.environment.get("EMAIL_LANE", queue.name)] = self.queues[queue.redrive["deadLetterTargetArn"]]
        return found


#: Pulumi type -> (ARN kind, the input or output naming the resource as calls name it)
_NAMED_BY: Mapping[str, tuple[ArnKind, str]] = {
    "aws:sqs/queue:Queue": (ArnKind.QUEUE, "name"),
    "aws:dynamodb/table:Table": (ArnKind.TABLE, "name"),
    "aws:sesv2/emailIdentity:EmailIdentity": (ArnKind.IDENTITY, "emailIdentity"),
    "aws:sesv2/configurationSet:ConfigurationSet": (ArnKind.CONFIGURATION_SET, "configurationSetName"),
    "aws:ses/template:Template": (ArnKind.TEMPLATE, "name"),
    "aws:cloudwatch/logGroup:LogGroup": (ArnKind.LOG_GROUP, "name"),
    "aws:cloudwatch/eventBus:EventBus": (ArnKind.EVENT_BUS, "name"),
}


def _declared_arns(mocks: RecordingMocks) -> dict[tuple[str, str], str]:
    """Each declared resource's ARN by the name a call uses for it (a queue's name, a template's).

    Taken from the provider's answer rather than rebuilt from a format, so a call is checked
    against the very ARN the role policy was built from.
    """
    arns = {}
    for typ, (kind, key) in _NAMED_BY.items():
        for resource in mocks.of_type(typ):
            name = resource.inputs.get(key) or resource.outputs.get(key)
            if name and resource.outputs.get("arn"):
                arns[(kind.value, str(name))] = str(resource.outputs["arn"])
    return arns


def _role_policies(mocks: RecordingMocks) -> dict[str, list[dict[str, Any]]]:
    """Inline policies by role ARN.

    A RolePolicy names its role by the role's id, which is its name on AWS and, under the mocks,
    `<resource name>-id` (`RecordingMocks.new_resource`): both are matched.
    """
    roles: dict[str, Recorded] = {}
    for role in mocks.of_type("aws:iam/role:Role"):
        roles[str(role.outputs.get("name"))] = roles[f"{role.name}-id"] = role
    policies: dict[str, list[dict[str, Any]]] = {}
    for role in mocks.of_type("aws:iam/role:Role"):
        policies[role.outputs["arn"]] = [_document(p["policy"]) for p in role.inputs.get("inlinePolicies") or []
                                         if p.get("policy")]
    for policy in mocks.of_type("aws:iam/rolePolicy:RolePolicy"):
        owner = roles.get(str(policy.inputs["role"]))
        if owner is not None:
            policies[owner.outputs["arn"]].append(_document(policy.inputs["policy"]))
    return policies


def _document(policy: str | Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(policy) if isinstance(policy, str) else dict(policy)


def _statements(document: Mapping[str, Any]) -> list[Any]:
    raw = document.get("Statement", [])
    return [raw] if isinstance(raw, Mapping) else list(raw)


def provision(blueprint: Blueprint, clients: Mapping[str, Any]) -> None:
    """Create the blueprint in the emulator: queues (DLQs first), bus, rules, targets, SES, table.

    Not emulated here: IAM (`local.iam` enforces the role policies on the functions' own clients),
    KMS, Lambda itself (handlers run in-process),
    CloudWatch alarms, EventBridge Scheduler (the runner triggers the report), archives.
    """
    sqs, events, ses, sesv2, dynamodb, logs = (
        clients[k] for k in ("sqs", "events", "ses", "sesv2", "dynamodb", "logs"))
    eventbridge_inputs.install()  # the targets' input transformers, applied as AWS applies them
    for queue in sorted(blueprint.queues.values(), key=lambda q: q.redrive is not None):
        attributes = {"VisibilityTimeout": str(queue.visibility_timeout)}
        if queue.redrive:
            attributes["RedrivePolicy"] = json.dumps(queue.redrive)
        sqs.create_queue(QueueName=queue.name, Attributes=attributes)
    for bus in blueprint.buses:
        events.create_event_bus(Name=bus)
    for group in blueprint.log_groups:
        logs.create_log_group(logGroupName=group)
    for rule in blueprint.rules:
        events.put_rule(Name=rule.name, EventBusName=rule.bus, EventPattern=rule.pattern)
        events.put_targets(Rule=rule.name, EventBusName=rule.bus,
                           Targets=[target.for_put_targets(i) for i, target in enumerate(rule.targets)])
    for identity in blueprint.identities:
        if "@" in identity:
            ses.verify_email_identity(EmailAddress=identity)
        else:
            ses.verify_domain_identity(Domain=identity)
    for name in blueprint.configuration_sets:
        sesv2.create_configuration_set(ConfigurationSetName=name)
    for contact_list in blueprint.contact_lists:
        sesv2.create_contact_list(**contact_list)
    for table, hash_key in blueprint.tables.items():
        dynamodb.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
        )


def queue_url(sqs: Any, queue: QueueSpec) -> str:
    """The URL of a queue `provision` created (SQS's GetQueueUrl, by the queue's name)."""
    return sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
