"""IAM for the local system: each function may make only the calls its role's policy allows.

moto accepts any credentials, so without this a statement missing from a role policy showed up
only on a real `pulumi up` or the first real send. Here every AWS call a handler makes, and every
call Lambda makes with the function's execution role (log delivery, tracing, queue polling, the
checks Lambda runs when a mapping or a failure destination is created), is authorized against the
inline policies the program declares for the function's role, the way AWS evaluates an
identity-based policy (IAM User Guide, "Policy evaluation logic"):

- a `Deny` statement that matches the action and the resource wins;
- otherwise some `Allow` statement must match the action (case-insensitive, `*` and `?`
  wildcards) and the resource (ARN wildcards, each colon-separated part matched on its own, as
  `ArnLike` does); `NotAction` and `NotResource` invert their match;
- otherwise the call is denied implicitly.

A denied call fails as AWS fails it (`Authorizer.install` answers it in a botocore `before-call`
hook, as botocore's Stubber does, so the handlers' own code paths run unchanged) and is recorded.

Conditions are evaluated for the operators the program writes (`StringEquals`, `StringLike`, and
their `ForAllValues:` forms) on the request's context keys `REQUESTS` supplies (`events:source`,
`events:detail-type`, `dynamodb:LeadingKeys`): a plain operator on a key the request lacks is
false, a `ForAllValues:` one true, as AWS evaluates them (IAM User Guide, "Condition operators";
"Multivalued context keys"). A statement with any other operator is ignored (neither grants nor
denies). Not modeled: managed policies attached to the role, permission boundaries, SCPs, session
policies and the resource-based policies of the queues and the SES identities.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from ses_email_pipeline.handlers.shared.simulator import SIMULATOR_DOMAIN, is_simulator_address

#: Where `install` keeps a call's parameters between botocore's two events.
_PARAMS_KEY = "local_iam_params"


class ArnKind(enum.StrEnum):
    """Resource types whose ARN a call names, as the Service Authorization Reference calls them."""

    QUEUE = "queue"
    TABLE = "table"
    IDENTITY = "identity"
    CONFIGURATION_SET = "configuration-set"
    TEMPLATE = "template"
    LOG_GROUP = "log-group"
    EVENT_BUS = "event-bus"


#: ARN formats, from the "Resource types" table of each service's page of the AWS Service
#: Authorization Reference (docs.aws.amazon.com/service-authorization/latest/reference/):
#: list_amazonsqs, list_amazondynamodb, list_amazonsimpleemailservicev2, list_amazoncloudwatchlogs.
ARN_FORMATS: Mapping[ArnKind, str] = {
    ArnKind.QUEUE: "arn:{partition}:sqs:{region}:{account}:{name}",
    ArnKind.TABLE: "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    ArnKind.IDENTITY: "arn:{partition}:ses:{region}:{account}:identity/{name}",
    ArnKind.CONFIGURATION_SET: "arn:{partition}:ses:{region}:{account}:configuration-set/{name}",
    ArnKind.TEMPLATE: "arn:{partition}:ses:{region}:{account}:template/{name}",
    ArnKind.EVENT_BUS: "arn:{partition}:events:{region}:{account}:event-bus/{name}",
    ArnKind.LOG_GROUP: "arn:{partition}:logs:{region}:{account}:log-group:{name}",
}


# --- policies ----------------------------------------------------------------------------------


class Decision(enum.Enum):
    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def action_matches(pattern: str, action: str) -> bool:
    """Whether a policy's action pattern covers `action` (`sqs:Send*` covers `sqs:SendMessage`)."""
    return bool(_glob(pattern, ignore_case=True).match(action))


def resource_matches(pattern: str, resource: str) -> bool:
    """Whether a policy's resource pattern covers the ARN `resource`.

    `*` covers everything; otherwise the six colon-separated parts of an ARN are matched one by
    one (the last part keeps its own colons), so a wildcard never reaches into another part.
    """
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), resource.split(":", 5)
    return len(wanted) == len(actual) and all(
        _glob(part, ignore_case=False).match(value) for part, value in zip(wanted, actual, strict=True))


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(item) for item in value)


@dataclass(frozen=True)
class Statement:
    """One statement of an identity-based policy: its effect, actions and resources."""

    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    #: (operator, context key, values) of each condition; all must hold
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    conditional: bool = False  # has a condition this module cannot evaluate: the statement is ignored

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Statement:
        conditions = tuple((operator, key.lower(), _strings(values))
                           for operator, keys in (raw.get("Condition") or {}).items()
                           for key, values in keys.items())
        return cls(effect=str(raw.get("Effect", "")), actions=_strings(raw.get("Action")),
                   not_actions=_strings(raw.get("NotAction")), resources=_strings(raw.get("Resource")),
                   not_resources=_strings(raw.get("NotResource")), conditions=conditions,
                   conditional=any(operator not in _CONDITION_OPERATORS for operator, _key, _values in conditions))

    def covers(self, action: str, resource: str, context: Mapping[str, tuple[str, ...]] | None = None) -> bool:
        """Whether the statement speaks about `action` on `resource` in a request of `context`."""
        if self.conditional:
            return False  # a condition this module cannot evaluate: see the module docstring
        context = context or {}
        if not all(_CONDITION_OPERATORS[operator](context.get(key), values)
                   for operator, key, values in self.conditions):
            return False
        if self.not_actions:
            acts = not any(action_matches(p, action) for p in self.not_actions)
        else:
            acts = any(action_matches(p, action) for p in self.actions)
        if self.not_resources:
            return acts and not any(resource_matches(p, resource) for p in self.not_resources)
        return acts and any(resource_matches(p, resource) for p in self.resources)


def _string_match(wanted: tuple[str, ...], value: str, *, like: bool) -> bool:
    return any(_glob(pattern, ignore_case=False).match(value) if like else pattern == value for pattern in wanted)


def _single(like: bool) -> Callable[[tuple[str, ...] | None, tuple[str, ...]], bool]:
    """`StringEquals`/`StringLike`: the request's value matches one of the condition's (false without one)."""
    return lambda actual, wanted: bool(actual) and all(_string_match(wanted, value, like=like) for value in actual)


def _for_all(like: bool) -> Callable[[tuple[str, ...] | None, tuple[str, ...]], bool]:
    """`ForAllValues:...`: every value of the request matches one of the condition's (true without any)."""
    return lambda actual, wanted: all(_string_match(wanted, value, like=like) for value in actual or ())


_CONDITION_OPERATORS: Mapping[str, Callable[[tuple[str, ...] | None, tuple[str, ...]], bool]] = {
    "StringEquals": _single(False), "StringLike": _single(True),
    "ForAllValues:StringEquals": _for_all(False), "ForAllValues:StringLike": _for_all(True),
}


@dataclass(frozen=True)
class Policy:
    """All the identity-based statements that apply to one role."""

    statements: tuple[Statement, ...] = ()

    @classmethod
    def from_documents(cls, documents: Iterable[Mapping[str, Any]]) -> Policy:
        statements: list[Statement] = []
        for document in documents:
            raw = document.get("Statement", [])
            statements += [Statement.from_json(s) for s in ([raw] if isinstance(raw, Mapping) else raw)]
        return cls(tuple(statements))

    def decide(self, action: str, resource: str, context: Mapping[str, tuple[str, ...]] | None = None) -> Decision:
        """AWS's evaluation of one action on one resource: explicit deny, then any allow."""
        applying = [s for s in self.statements if s.covers(action, resource, context)]
        if any(s.effect == "Deny" for s in applying):
            return Decision.EXPLICIT_DENY
        if any(s.effect == "Allow" for s in applying):
            return Decision.ALLOWED
        return Decision.IMPLICIT_DENY


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
    service = destination_arn.split(":")[2]
    return (Access(DESTINATION_ACTIONS[service], destination_arn),)


# --- authorizing ---------------------------------------------------------------------------------


#: How each service answers a call IAM denied: (error code, HTTP status).
ACCESS_DENIED: Mapping[str, tuple[str, int]] = {
    "sqs": ("AccessDenied", 403),
    "dynamodb": ("AccessDeniedException", 400),
    "sesv2": ("AccessDeniedException", 403),
    "cloudwatch": ("AccessDenied", 403),
}


@dataclass(frozen=True)
class Denial:
    """A call a function's role policy does not allow."""

    function: str
    call: str
    action: str
    resource: str
    principal: str
    explicit: bool = False

    @property
    def message(self) -> str:
        """AWS's words for it."""
        reason = ("with an explicit deny in an identity-based policy" if self.explicit
                  else f"because no identity-based policy allows the {self.action} action")
        return (f"User: {self.principal} is not authorized to perform: {self.action} on resource: "
                f"{self.resource} {reason}")


@dataclass(frozen=True)
class Caller:
    """A function acting with its execution role: the role's session is named after the function."""

    function: str
    role_arn: str
    policy: Policy

    @property
    def principal(self) -> str:
        account = self.role_arn.split(":")[4]
        partition = self.role_arn.split(":")[1]
        return f"arn:{partition}:sts::{account}:assumed-role/{self.role_arn.rsplit('/', 1)[-1]}/{self.function}"


class UnmodeledCall(Exception):
    """A function called an operation `REQUESTS` does not know: its permissions cannot be checked."""


class ProvisioningRefused(Exception):
    """Lambda refused to create something because the function's role lacks a permission.

    Args:
        message: one line: what was refused, Lambda's words, and what to add where.
        denial: the permission the role lacks.
    """

    def __init__(self, message: str, denial: Denial) -> None:
        super().__init__(message)
        self.denial = denial


class Authorizer:
    """Checks one function's calls against its role's policy and records what was denied.

    Args:
        caller: the function and its role's policy.
        scope: how to name the resources the calls touch.
        record: called with every denial (the local system keeps them for its summary).
    """

    def __init__(self, caller: Caller, scope: Scope, record: Callable[[Denial], None]) -> None:
        self.caller = caller
        self.scope = scope
        self._record = record

    def check(self, call: str, accesses: Sequence[Access]) -> Denial | None:
        """The first access the policy refuses (recorded), or None when all are allowed."""
        for access in accesses:
            decisions = [self.caller.policy.decide(access.action, r, dict(access.context))
                         for r in (access.resource, *access.alternatives)]
            if Decision.ALLOWED in decisions:
                continue
            denial = Denial(self.caller.function, call, access.action, access.resource, self.caller.principal,
                            explicit=Decision.EXPLICIT_DENY in decisions)
            self._record(denial)
            return denial
        return None

    def check_call(self, service: str, operation: str, params: Mapping[str, Any]) -> Denial | None:
        """Check an API call by its botocore service name, operation and parameters.

        Raises:
            UnmodeledCall: `REQUESTS` has no entry for the operation.
        """
        rule = REQUESTS.get((service, operation))
        if rule is None:
            raise UnmodeledCall(f"{self.caller.function} called {service} {operation}, which local.iam.REQUESTS "
                                "does not know: add the actions and resources it needs (AWS Service "
                                "Authorization Reference) so its permissions are checked")
        return self.check(operation, rule(params, self.scope))

    def authorize(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        """Raise the ClientError the service answers when the call is denied."""
        denial = self.check_call(service, operation, params)
        if denial is not None:
            raise ClientError(_denied_response(service, denial), operation)

    def install(self, client: Any) -> Any:
        """Make a botocore client answer denied calls as AWS does, before any request is sent."""
        events = client.meta.events
        events.register("before-parameter-build", _keep_params)
        events.register("before-call", self._answer_denied)
        return client

    def _answer_denied(self, model: Any, context: dict[str, Any],
                       **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        """`before-call` hook: a non-None answer stands for the service's response (as botocore's Stubber's)."""
        service = model.service_model.service_name
        denial = self.check_call(service, model.name, context.get(_PARAMS_KEY, {}))
        if denial is None:
            return None
        parsed = _denied_response(service, denial)
        return AWSResponse(None, parsed["ResponseMetadata"]["HTTPStatusCode"], {}, None), parsed


def _keep_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    """`before-parameter-build` hook: `before-call` sees only the serialized request, so keep the parameters."""
    context[_PARAMS_KEY] = dict(params)


def _denied_response(service: str, denial: Denial) -> dict[str, Any]:
    code, status = ACCESS_DENIED.get(service, ("AccessDeniedException", 403))
    return {"Error": {"Code": code, "Message": denial.message, "Type": "Sender"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RequestId": "local-iam"}}
