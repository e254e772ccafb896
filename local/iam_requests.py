"""What each AWS call needs of IAM: the actions, the resources' ARNs and the condition keys of its request.

`REQUESTS` maps a botocore call (service, operation) and its parameters to the permissions AWS
checks for it, from the "Actions" and "Resource types" tables of each service's page of the AWS
Service Authorization Reference; `Scope` names the resources as the program's role policies name
them. The calls Lambda makes with a function's execution role (log delivery, tracing, queue
polling, delivery to a failure destination) are here too. `local.iam.Authorizer` checks them
against a role's policy (`local.iam_policy`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from ses_email_pipeline.handlers.shared.simulator import SIMULATOR_DOMAIN, is_simulator_address


class ArnKind(enum.StrEnum):
    """Resource types whose ARN a call names, as the Service Authorization Reference calls them."""

    QUEUE = "queue"
    TABLE = "table"
    IDENTITY = "identity"
    CONFIGURATION_SET = "configuration-set"
    TEMPLATE = "template"
    LOG_GROUP = "log-group"
    EVENT_BUS = "event-bus"
    FUNCTION = "function"


#: ARN formats, from the "Resource types" table of each service's page of the AWS Service
#: Authorization Reference (docs.aws.amazon.com/service-authorization/latest/reference/):
#: list_amazonsqs, list_amazondynamodb, list_amazonsimpleemailservicev2, list_amazoncloudwatchlogs, list_awslambda.
ARN_FORMATS: Mapping[ArnKind, str] = {
    ArnKind.QUEUE: "arn:{partition}:sqs:{region}:{account}:{name}",
    ArnKind.TABLE: "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    ArnKind.IDENTITY: "arn:{partition}:ses:{region}:{account}:identity/{name}",
    ArnKind.CONFIGURATION_SET: "arn:{partition}:ses:{region}:{account}:configuration-set/{name}",
    ArnKind.TEMPLATE: "arn:{partition}:ses:{region}:{account}:template/{name}",
    ArnKind.EVENT_BUS: "arn:{partition}:events:{region}:{account}:event-bus/{name}",
    ArnKind.LOG_GROUP: "arn:{partition}:logs:{region}:{account}:log-group:{name}",
    ArnKind.FUNCTION: "arn:{partition}:lambda:{region}:{account}:function:{name}",
}


# --- what a call needs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """One permission a call needs: `action` on `resource`, or on any one of `alternatives`."""

    action: str
    resource: str
    alternatives: tuple[str, ...] = ()
    #: the request's condition context keys (lower case) and their values
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Scope:
    """What it takes to name the resources a call touches.

    Args:
        region, account, partition: of the emulated account.
        declared: the ARN of each resource the program declares, by (kind, name), as its provider
            reported it: a policy names resources by those ARNs. Others get `ARN_FORMATS`.
        identities: the SES identities the program declares (a sender is sent as the one covering it).
        sandbox: the SES account is in the sandbox, where recipients are authorized too.
    """

    region: str
    account: str
    partition: str = "aws"
    declared: Mapping[tuple[str, str], str] = field(default_factory=dict)
    identities: tuple[str, ...] = ()
    sandbox: bool = False

    def arn(self, kind: ArnKind, name: str) -> str:
        """The ARN of the `kind` resource called `name` (an ARN given as the name is kept)."""
        if name.startswith("arn:"):
            return name
        return self.declared.get((kind.value, name)) or ARN_FORMATS[kind].format(
            partition=self.partition, region=self.region, account=self.account, name=name)

    def queue_arn(self, queue_url: str) -> str:
        """`https://sqs.<region>.amazonaws.com/<account>/<name>` (or the emulator's URL) -> the queue's ARN."""
        return self.arn(ArnKind.QUEUE, queue_url.rstrip("/").rsplit("/", 1)[-1])

    def sending_identity(self, sender: str) -> str:
        """The declared identity a From address is sent as: the address itself, else its domain."""
        address = parseaddr(sender)[1].lower()
        domain = address.rpartition("@")[2]
        declared = {identity.lower(): identity for identity in self.identities}
        return declared.get(address) or declared.get(domain) or address

    def recipient_access(self, action: str, recipient: str) -> tuple[Access, ...]:
        """In the sandbox, a recipient's identity: the address's, or its domain's, will do.

        SES lets a sandbox account send to its mailbox simulator unverified (SES Developer Guide,
        "Using the mailbox simulator manually"); whether IAM still checks the recipient's identity
        ARN for it is documented nowhere we found. The stack's role names the simulator's domain
        with the other recipient identities (`EmailSender._recipient_identity_arns`), and this
        checks it as it checks the others', so a role without it fails here rather than maybe on AWS.
        """
        address = parseaddr(recipient)[1] or recipient
        if is_simulator_address(recipient):
            return (Access(action, self.arn(ArnKind.IDENTITY, address), (self.arn(ArnKind.IDENTITY, SIMULATOR_DOMAIN),)),)
        domain = address.rpartition("@")[2].lower()
        return (Access(action, self.arn(ArnKind.IDENTITY, address), (self.arn(ArnKind.IDENTITY, domain),)),)


#: How a call's parameters become the permissions it needs.
AccessRule = Callable[[Mapping[str, Any], Scope], tuple[Access, ...]]


def _on_queue(action: str) -> AccessRule:
    """A message or attribute call on the queue its `QueueUrl` names."""
    return lambda params, scope: (Access(action, scope.queue_arn(params["QueueUrl"])),)


def _on_table(action: str) -> AccessRule:
    """An item call on a table; its partition key is the `dynamodb:LeadingKeys` context key (the
    tables here are keyed by `id`, a string)."""
    def rule(params: Mapping[str, Any], scope: Scope) -> tuple[Access, ...]:
        key = (params.get("Key") or params.get("Item") or {}).get("id", {}).get("S")
        context = (("dynamodb:leadingkeys", (key,)),) if key is not None else ()
        return (Access(action, scope.arn(ArnKind.TABLE, params["TableName"]), context=context),)
    return rule


def _on_everything(action: str) -> AccessRule:
    """Actions without resource-level permissions: only a statement on "*" grants them."""
    return lambda _params, _scope: (Access(action, "*"),)


def _on_template(action: str) -> AccessRule:
    """A call on the SES template its `TemplateName` names (`TestRenderEmailTemplate`: the console's preview)."""
    return lambda params, scope: (Access(action, scope.arn(ArnKind.TEMPLATE, params["TemplateName"])),)


def _on_function(action: str) -> AccessRule:
    """A call on the Lambda function its `FunctionName` names (a name or an ARN)."""
    return lambda params, scope: (Access(action, scope.arn(ArnKind.FUNCTION, params["FunctionName"])),)


def _logs_start_query(params: Mapping[str, Any], scope: Scope) -> tuple[Access, ...]:
    """StartQuery on each log group it names; a policy names a group as `...:log-group:<name>` or with `:*`."""
    groups = [scope.arn(ArnKind.LOG_GROUP, group) for group in params.get("logGroupNames", [])]
    return tuple(Access("logs:StartQuery", group, (f"{group}:*",)) for group in groups)


def _ses_send_email(params: Mapping[str, Any], scope: Scope) -> tuple[Access, ...]:
    """SES v2 SendEmail: the sending identity, the configuration set, the template, and in the
    sandbox every recipient's identity.

    The recipient half is not documented by AWS outright; field reports show it, e.g.
    aws/aws-sdk-js#3641: "not authorized to perform ses:SendTemplatedEmail on resource
    arn:aws:ses:<region>:<account>:identity/<recipient>".
    """
    action = "ses:SendEmail"
    identity = params.get("FromEmailAddressIdentityArn") or scope.arn(
        ArnKind.IDENTITY, scope.sending_identity(str(params.get("FromEmailAddress", ""))))
    accesses = [Access(action, identity)]
    if params.get("ConfigurationSetName"):
        accesses.append(Access(action, scope.arn(ArnKind.CONFIGURATION_SET, params["ConfigurationSetName"])))
    template = (params.get("Content") or {}).get("Template")
    if template:
        accesses.append(Access(action, template.get("TemplateArn") or scope.arn(ArnKind.TEMPLATE,
                                                                                 template["TemplateName"])))
    if scope.sandbox:
        destination = params.get("Destination") or {}
        for field_name in ("ToAddresses", "CcAddresses", "BccAddresses"):
            accesses += [a for r in destination.get(field_name, []) for a in scope.recipient_access(action, r)]
    return tuple(accesses)


def _events_put_events(params: Mapping[str, Any], scope: Scope) -> tuple[Access, ...]:
    """PutEvents: events:PutEvents on each entry's bus (its name or ARN; none is the default bus).

    Service Authorization Reference, list_amazoneventbridge: PutEvents' resource type is `event-bus`.
    The entry's `Source` and `DetailType` are the `events:source` and `events:detail-type` context
    keys (EventBridge User Guide, "Using IAM policy conditions in Amazon EventBridge").
    """
    entries = dict.fromkeys((str(entry.get("EventBusName") or "default"), str(entry.get("Source", "")),
                             str(entry.get("DetailType", ""))) for entry in params.get("Entries", []))
    return tuple(Access("events:PutEvents", scope.arn(ArnKind.EVENT_BUS, bus),
                        context=(("events:source", (source,)), ("events:detail-type", (detail_type,))))
                 for bus, source, detail_type in entries)


#: The permissions each call needs, by (botocore service name, operation). From the "Actions"
#: table of each service's page of the AWS Service Authorization Reference
#: (docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html,
#: list_amazondynamodb.html, list_amazonsimpleemailservicev2.html, list_amazoncloudwatch.html):
#: the batch operations are authorized as their single forms, GetAccount and GetMetricData have
#: no resource-level permissions.
REQUESTS: Mapping[tuple[str, str], AccessRule] = {
    ("sqs", "SendMessage"): _on_queue("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _on_queue("sqs:SendMessage"),
    ("sqs", "ReceiveMessage"): _on_queue("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _on_queue("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _on_queue("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _on_queue("sqs:ChangeMessageVisibility"),
    ("sqs", "ChangeMessageVisibilityBatch"): _on_queue("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _on_queue("sqs:GetQueueAttributes"),
    ("dynamodb", "GetItem"): _on_table("dynamodb:GetItem"),
    ("dynamodb", "PutItem"): _on_table("dynamodb:PutItem"),
    ("dynamodb", "UpdateItem"): _on_table("dynamodb:UpdateItem"),
    ("dynamodb", "DeleteItem"): _on_table("dynamodb:DeleteItem"),
    ("sesv2", "SendEmail"): _ses_send_email,
    ("sesv2", "GetAccount"): _on_everything("ses:GetAccount"),
    ("cloudwatch", "GetMetricData"): _on_everything("cloudwatch:GetMetricData"),
    ("events", "PutEvents"): _events_put_events,
    # The operator's console on a deployed stack (`ses_email_pipeline.console.iam_policy`).
    ("sesv2", "TestRenderEmailTemplate"): _on_template("ses:TestRenderEmailTemplate"),
    ("lambda", "GetFunctionConfiguration"): _on_function("lambda:GetFunctionConfiguration"),
    ("logs", "StartQuery"): _logs_start_query,
    ("logs", "GetQueryResults"): _on_everything("logs:GetQueryResults"),
    # The account suppression list (`email-pipeline suppression`, the console): SES v2's four
    # suppression actions name no resource type, so they are allowed on "*" only.
    ("sesv2", "ListSuppressedDestinations"): _on_everything("ses:ListSuppressedDestinations"),
    ("sesv2", "GetSuppressedDestination"): _on_everything("ses:GetSuppressedDestination"),
    ("sesv2", "PutSuppressedDestination"): _on_everything("ses:PutSuppressedDestination"),
    ("sesv2", "DeleteSuppressedDestination"): _on_everything("ses:DeleteSuppressedDestination"),
    # STS API Reference, GetCallerIdentity: "No permissions are required to perform this operation."
    ("sts", "GetCallerIdentity"): lambda _params, _scope: (),
}


# --- what Lambda does with the execution role ----------------------------------------------------


def log_delivery(scope: Scope, log_group: str, stream: str) -> tuple[Access, ...]:
    """Lambda writing an invocation's logs: CreateLogStream on the group (as CloudWatch Logs reports
    a group's ARN, `...:log-group:<name>:*`) and PutLogEvents on the stream (AWS Lambda Developer
    Guide, "Sending Lambda function logs to CloudWatch Logs"; Service Authorization Reference)."""
    group = scope.arn(ArnKind.LOG_GROUP, log_group)
    return (Access("logs:CreateLogStream", f"{group}:*"), Access("logs:PutLogEvents", f"{group}:log-stream:{stream}"))


def tracing() -> tuple[Access, ...]:
    """Active tracing: Lambda sends segments and telemetry with the role (no resource-level permissions)."""
    return (Access("xray:PutTraceSegments", "*"), Access("xray:PutTelemetryRecords", "*"))


def queue_polling(queue_arn: str) -> tuple[Access, ...]:
    """An SQS event source mapping: what Lambda checks at CreateEventSourceMapping and uses to poll
    (AWS Lambda Developer Guide, "Using Lambda with Amazon SQS", execution role permissions)."""
    return tuple(Access(action, queue_arn) for action in
                 ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"))


#: What Lambda needs to deliver to an asynchronous invocation's destination, by the ARN's service
#: (AWS Lambda Developer Guide, "Capturing records of asynchronous invocations": execution role).
DESTINATION_ACTIONS: Mapping[str, str] = {
    "sqs": "sqs:SendMessage",
    "sns": "sns:Publish",
    "lambda": "lambda:InvokeFunction",
    "events": "events:PutEvents",
}


def destination_delivery(destination_arn: str) -> tuple[Access, ...]:
    """Lambda delivering an invocation record to an on-failure destination (`DESTINATION_ACTIONS`)."""
    service = destination_arn.split(":")[2]
    return (Access(DESTINATION_ACTIONS[service], destination_arn),)
