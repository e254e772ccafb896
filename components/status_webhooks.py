"""StatusWebhooks: status events delivered to producers' HTTPS endpoints, by EventBridge API destinations.

A producer whose backend is outside AWS cannot write an EventBridge rule; it gives a URL. For each
endpoint this component declares what EventBridge needs to call it, and no delivery function:

- a `Connection` holding the endpoint's authorization (an API key header, basic auth, or OAuth
  client credentials), whose secret EventBridge keeps in Secrets Manager;
- an `ApiDestination`: the URL, `POST`, and an invocation rate limit the endpoint can take;
- a rule on the pipeline's bus taking the status events the endpoint asked for (by status and by
  producer source), whose target is the destination, with a retry policy and a dead-letter queue;
- a role EventBridge assumes for that rule alone, allowed `events:InvokeApiDestination` on that
  destination alone.

The payload is the status event itself (README, "Delivery status"): the EventBridge envelope
with `detail` as the status contract, so the `statusId` in it drops repeats (EventBridge delivers
at least once). What EventBridge does with the endpoint's answers (EventBridge User Guide, "API
destinations", "API destination error codes"): a 2xx is delivered; 401, 407, 409, 429, 5xx and a
timeout (5 seconds) are retried with backoff and jitter, honouring `Retry-After`, up to the retry
policy; any other answer goes to the dead-letter queue at once. A dead letter carries EventBridge's
`ERROR_CODE`, `ERROR_MESSAGE`, `RULE_ARN`, `TARGET_ARN` and `EXHAUSTED_RETRY_CONDITION` attributes.

Given an alarm topic (`Monitoring`'s), each endpoint gets four alarms (`webhook_alarms`): retrying
(an endpoint failing now, before anything is dead-lettered), dead-lettered, lost, and waiting in
its dead-letter queue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from .checks import Problem, raise_if_any
from .handlers.shared.status_names import STATUS_DETAIL_TYPE, STATUS_SOURCE
from .iam import allow
from .name_limits import NameLimit, name_problems
from .queues import events_may_send, failure_queue
from .signals import FIVE_MINUTES

TYPE_TOKEN = "email-pipeline:index:StatusWebhooks"
#: Every status a webhook may ask for (`handlers.delivery_status.ses_events.Status`).
STATUSES = ("delayed", "delivered", "complained", "bounced", "rejected", "rendering_failed", "suppressed",
            "unsubscribed", "resubscribed")
AUTH_KINDS = {"apiKey": "API_KEY", "basic": "BASIC", "oauth": "OAUTH_CLIENT_CREDENTIALS"}
#: botocore's events model: RetryPolicy's MaximumRetryAttempts (0-185) and MaximumEventAgeInSeconds (60-86400).
RETRY_ATTEMPTS = range(0, 186)
EVENT_AGE_SECONDS = range(60, 86_401)
#: ApiDestinationInvocationRateLimitPerSecond: at least 1; EventBridge's quota is 300 per destination
#: by default (EventBridge User Guide, "Quotas": invocation rate per API destination).
RATE_LIMITS = range(1, 301)
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
#: The header an API key goes in: an HTTP token (RFC 9110), as EventBridge's AuthHeaderParameters allows.
_HEADER = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
#: Retries in five minutes that make an endpoint "failing": one slow answer is not news, a run of them is.
RETRY_ALARM_THRESHOLD = 5


@dataclass(frozen=True)
class WebhookAuth:
    """How EventBridge authorizes to the endpoint; the secret (key, password or client secret) is the webhook's.

    Args:
        kind: `apiKey` (the secret in the header `header`), `basic` (`username` and the secret as
            password) or `oauth` (client credentials: EventBridge gets a token from `token_url` with
            `client_id` and the secret, and sends it as a bearer token, renewing it when refused).
        scope: OAuth only: the scope to ask for, if the token endpoint wants one.
    """

    kind: str
    header: str = ""
    username: str = ""
    token_url: str = ""
    client_id: str = ""
    scope: str = ""


@dataclass(frozen=True)
class Webhook:
    """One endpoint and what it hears.

    Args:
        name: names its resources (`<component>-<name>-...`): lower case, digits and dashes.
        url: the HTTPS endpoint EventBridge POSTs each status event to.
        auth: how EventBridge authorizes.
        secret: the API key, password or client secret: a Pulumi secret (`pulumi config set --secret`).
        statuses: which statuses it hears (none listed: all of them).
        sources: which producers' statuses it hears, by event source (none listed: all).
        rate_limit_per_second: the most calls a second EventBridge makes; more wait (and age).
        max_retry_attempts, max_event_age_seconds: the retry policy before the dead-letter queue.
    """

    name: str
    url: str
    auth: WebhookAuth
    secret: pulumi.Input[str]
    statuses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    rate_limit_per_second: int = 10
    max_retry_attempts: int = 185
    max_event_age_seconds: int = 86_400

    def problems(self, at: str) -> list[Problem]:
        found = []
        if not _NAME.match(self.name):
            found.append(Problem(f"{at}.name", "must be 1-32 lower-case letters, digits and dashes"))
        if not self.url.startswith("https://") or len(self.url) > 2048:
            found.append(Problem(f"{at}.url", "must be an https:// URL of at most 2048 characters (EventBridge calls "
                                              "only HTTPS endpoints: botocore's events model, HttpsEndpoint)"))
        unknown = sorted(set(self.statuses) - set(STATUSES))
        if unknown:
            found.append(Problem(f"{at}.statuses", f"{', '.join(unknown)} not a status; statuses: {', '.join(STATUSES)}"))
        for label, value, allowed in (("rate_limit_per_second", self.rate_limit_per_second, RATE_LIMITS),
                                      ("max_retry_attempts", self.max_retry_attempts, RETRY_ATTEMPTS),
                                      ("max_event_age_seconds", self.max_event_age_seconds, EVENT_AGE_SECONDS)):
            if value not in allowed:
                found.append(Problem(f"{at}.{label}", f"{value} must be between {allowed.start} and {allowed.stop - 1}"))
        return found + _auth_problems(self.auth, f"{at}.auth")


def _auth_problems(auth: WebhookAuth, at: str) -> list[Problem]:
    if auth.kind not in AUTH_KINDS:
        return [Problem(f"{at}.type", f"must be one of {', '.join(AUTH_KINDS)}")]
    needs = {"apiKey": ("header",), "basic": ("username",), "oauth": ("token_url", "client_id")}[auth.kind]
    found = [Problem(f"{at}.{name}", f"is required for {auth.kind}") for name in needs if not getattr(auth, name)]
    if auth.kind == "apiKey" and auth.header and not _HEADER.match(auth.header):
        found.append(Problem(f"{at}.header", "must be an HTTP header name (letters, digits and - _ . ! # ...)"))
    if auth.kind == "oauth" and auth.token_url and not auth.token_url.startswith("https://"):
        found.append(Problem(f"{at}.token_url", "must be an https:// URL"))
    return found


@dataclass
class StatusWebhooksArgs:
    """Inputs of a StatusWebhooks.

    Args:
        bus_name, bus_arn: the pipeline's bus, where the status events are.
        webhooks: the endpoints.
        alarm_topic_arn: where the webhooks' alarms notify (Monitoring's topic); no alarms when None.
        dead_letter_retention_seconds: how long undelivered status events wait for an operator.
        tags: applied to every taggable resource.
    """

    bus_name: pulumi.Input[str]
    bus_arn: pulumi.Input[str]
    webhooks: Sequence[Webhook]
    alarm_topic_arn: pulumi.Input[str] | None = None
    dead_letter_retention_seconds: int = 1_209_600
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = [problem for index, hook in enumerate(self.webhooks) for problem in hook.problems(f"webhooks[{index}]")]
        names = [hook.name for hook in self.webhooks]
        problems += [Problem("webhooks", f"the name {name!r} is used twice") for name in sorted(set(names))
                     if names.count(name) > 1]
        if not self.webhooks:
            problems.append(Problem("webhooks", "is empty; leave the component out instead"))
        raise_if_any("StatusWebhooksArgs", problems)


class StatusWebhooks(pulumi.ComponentResource):
    """Status events POSTed to HTTPS endpoints, with retries, a dead-letter queue and alarms per endpoint.

    Outputs (each by webhook name): `rule_names`, `dead_letter_queue_names`, `dead_letter_queue_urls`,
    `api_destination_arns`.
    """

    rule_names: dict[str, pulumi.Output[str]]
    dead_letter_queue_names: dict[str, pulumi.Output[str]]
    dead_letter_queue_urls: dict[str, pulumi.Output[str]]
    api_destination_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: StatusWebhooksArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        raise_if_any(f"StatusWebhooks {name!r}", name_problems(name, name_limits(name, args.webhooks)))
        super().__init__(TYPE_TOKEN, name, None, opts)
        self.rule_names, self.dead_letter_queue_names, self.dead_letter_queue_urls = {}, {}, {}
        self.api_destination_arns = {}
        for hook in args.webhooks:
            self._declare(f"{name}-{hook.name}", hook, args)
        self.register_outputs({"rule_names": self.rule_names, "dead_letter_queue_names": self.dead_letter_queue_names,
                               "dead_letter_queue_urls": self.dead_letter_queue_urls,
                               "api_destination_arns": self.api_destination_arns})

    def _declare(self, label: str, hook: Webhook, args: StatusWebhooksArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        connection = aws.cloudwatch.EventConnection(
            f"{label}-connection", name=label, description=f"Authorization for webhook {hook.name}",
            authorization_type=AUTH_KINDS[hook.auth.kind], auth_parameters=auth_parameters(hook.auth, hook.secret),
            opts=child)
        destination = aws.cloudwatch.EventApiDestination(
            f"{label}-destination", name=label, description=f"Status events for webhook {hook.name}",
            connection_arn=connection.arn, http_method="POST", invocation_endpoint=hook.url,
            invocation_rate_limit_per_second=hook.rate_limit_per_second, opts=child)
        rule = aws.cloudwatch.EventRule(
            f"{label}-statuses", event_bus_name=args.bus_name,
            description=f"Status events webhook {hook.name} hears",
            event_pattern=pulumi.Output.json_dumps(webhook_pattern(hook)), tags=dict(args.tags), opts=child)
        dlq = failure_queue(f"{label}-undelivered", retention_seconds=args.dead_letter_retention_seconds,
                            tags=args.tags, parent=self,
                            grants=lambda arn: [events_may_send(arn, rule.arn, sid="WebhookRule")])
        role = aws.iam.Role(
            f"{label}-invoker",
            description=f"EventBridge calling webhook {hook.name}, for its rule only",
            assume_role_policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole",
                # Only this rule may have EventBridge act as this role (the confused deputy: IAM
                # User Guide, "Cross-service confused deputy prevention").
                "Condition": {"ArnEquals": {"aws:SourceArn": rule.arn}}}]}),
            tags=dict(args.tags), opts=child)
        policy = aws.iam.RolePolicy(
            f"{label}-invoker-policy", role=role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [
                allow(["events:InvokeApiDestination"], [destination.arn])]}),
            opts=child)
        aws.cloudwatch.EventTarget(
            f"{label}-target", rule=rule.name, event_bus_name=args.bus_name, arn=destination.arn, role_arn=role.arn,
            retry_policy={"maximum_retry_attempts": hook.max_retry_attempts,
                          "maximum_event_age_in_seconds": hook.max_event_age_seconds},
            dead_letter_config={"arn": dlq.queue.arn},
            # EventBridge may call before the role's policy exists, or dead-letter before the queue
            # accepts it: either loses the event.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, dlq.policy]))
        if args.alarm_topic_arn is not None:
            for alarm in webhook_alarms(label, hook.name, rule.name, args.bus_name, dlq.queue.name):
                aws.cloudwatch.MetricAlarm(
                    alarm.name, name=alarm.name, alarm_description=alarm.description, namespace=alarm.namespace,
                    metric_name=alarm.metric_name, statistic=alarm.statistic, dimensions=alarm.dimensions,
                    period=FIVE_MINUTES, evaluation_periods=1, comparison_operator="GreaterThanOrEqualToThreshold",
                    threshold=alarm.threshold, treat_missing_data="notBreaching",
                    alarm_actions=[args.alarm_topic_arn], ok_actions=[args.alarm_topic_arn], tags=dict(args.tags),
                    opts=child)
        self.rule_names[hook.name] = rule.name
        self.dead_letter_queue_names[hook.name] = dlq.queue.name
        self.dead_letter_queue_urls[hook.name] = dlq.queue.url
        self.api_destination_arns[hook.name] = destination.arn


@dataclass(frozen=True)
class WebhookAlarm:
    """One alarm on a webhook's deliveries."""

    name: str
    description: str
    namespace: str
    metric_name: str
    statistic: str
    dimensions: Mapping[str, pulumi.Input[str]]
    threshold: float


def webhook_alarms(label: str, hook: str, rule_name: pulumi.Input[str], bus_name: pulumi.Input[str],
                   dead_letter_queue_name: pulumi.Input[str]) -> list[WebhookAlarm]:
    """Retrying, dead-lettered, lost, and waiting in the dead-letter queue (EventBridge User Guide,
    "Monitoring Amazon EventBridge": `InvocationsSentToDlq` counts what went to the target's DLQ,
    `InvocationsFailedToBeSentToDlq` what could not)."""
    rule = {"RuleName": rule_name, "EventBusName": bus_name}
    return [
        WebhookAlarm(f"{label}-retrying", (
            f"Webhook {hook} failed {RETRY_ALARM_THRESHOLD}+ times in 5 minutes and EventBridge is retrying: the "
            "endpoint is down, slow (over 5 s) or refusing the credentials. Statuses wait, then go to its "
            "dead-letter queue."), "AWS/Events", "RetryInvocationAttempts", "SampleCount", rule, RETRY_ALARM_THRESHOLD),
        WebhookAlarm(f"{label}-undelivered", (
            f"Webhook {hook} refused status events (a 4xx other than 401/407/409/429) or retries ran out: they are "
            "in its dead-letter queue with EventBridge's ERROR_CODE. Fix the endpoint, then redrive the queue."),
            "AWS/Events", "InvocationsSentToDlq", "Sum", rule, 1),
        WebhookAlarm(f"{label}-lost", (
            f"Webhook {hook}'s status events could reach neither the endpoint nor its dead-letter queue: they are "
            "lost (replay them from the bus archive). Check the queue's policy."),
            "AWS/Events", "InvocationsFailedToBeSentToDlq", "Sum", rule, 1),
        WebhookAlarm(f"{label}-dlq-waiting", (
            f"Status events for webhook {hook} wait in its dead-letter queue: `email-pipeline dlq list` shows "
            "why, and they expire after the queue's retention."),
            "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", {"QueueName": dead_letter_queue_name}, 1),
    ]


def webhook_pattern(hook: Webhook) -> dict[str, Any]:
    """The bus pattern for the status events one webhook hears."""
    detail: dict[str, Any] = {}
    if hook.statuses:
        detail["status"] = list(hook.statuses)
    if hook.sources:
        detail["source"] = list(hook.sources)
    pattern: dict[str, Any] = {"source": [STATUS_SOURCE], "detail-type": [STATUS_DETAIL_TYPE]}
    return {**pattern, "detail": detail} if detail else pattern


def auth_parameters(auth: WebhookAuth, secret: pulumi.Input[str]) -> dict[str, Any]:
    """The Connection's `auth_parameters` for one kind of authorization (pulumi-aws's EventConnectionAuthParametersArgs)."""
    if auth.kind == "apiKey":
        return {"api_key": {"key": auth.header, "value": secret}}
    if auth.kind == "basic":
        return {"basic": {"username": auth.username, "password": secret}}
    http: dict[str, Any] = {}
    if auth.scope:
        http["bodies"] = [{"key": "scope", "value": auth.scope, "is_value_secret": False}]
    return {"oauth": {"authorization_endpoint": auth.token_url, "http_method": "POST",
                      "client_parameters": {"client_id": auth.client_id, "client_secret": secret},
                      "oauth_http_parameters": http}}


def name_limits(name: str, webhooks: Sequence[Webhook]) -> list[NameLimit]:
    """The physical names a StatusWebhooks derives, with AWS's limits (botocore's events model: 64)."""
    limits = []
    for hook in webhooks:
        label = f"{name}-{hook.name}"
        limits += [NameLimit(label, 64, "EventBridge connection and API destination"),
                   NameLimit.autonamed(f"{label}-statuses", 64, "EventBridge rule"),
                   NameLimit.autonamed(f"{label}-invoker", 64, "IAM role"),
                   NameLimit(f"{label}-undelivered", 80, "SQS queue")]
    return limits


__all__ = ["StatusWebhooks", "StatusWebhooksArgs", "Webhook", "WebhookAuth"]
