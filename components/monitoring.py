"""Monitoring: the alarms, log-derived metrics, dashboard and saved queries of the email pipeline.

The component watches what it is given (function, log group, queue and rule names) and never
reaches into the components that own them, so the same class can watch any stack's pipeline.
What it declares is data kept beside it: the alarms (`alarms`), the dashboard (`dashboard`) and
the saved queries (`queries`); this module checks the arguments and declares the resources.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from .alarms import AlarmSpec, alarm_specs
from .checks import Problem, raise_if_any
from .dashboard import DashboardBody
from .handlers.shared.metrics import DEFAULT_NAMESPACE, LANE_DIMENSION, LANE_METRICS
from .queries import FAILURES_BY_ERROR_CODE_QUERY, PACING_QUERY, find_send_query
from .signals import SES_REVIEW_BOUNCE_RATE, SES_REVIEW_COMPLAINT_RATE

TYPE_TOKEN = "email-pipeline:index:Monitoring"

#: What the account root may do with the alarm key: administer it, never use it. Listed one by one
#: (no `kms:*`), so no IAM policy in the account can be widened into decrypting with this key.
KEY_ADMIN_ACTIONS = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:ListKeyPolicies",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ListKeyRotations",
    "kms:RotateKeyOnDemand",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:ListGrants",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
)
#: What an alarm needs to publish to a KMS-encrypted topic: SNS asks KMS for a data key on the
#: publisher's behalf (GenerateDataKey) and decrypts it (Decrypt). AWS's SNS guide writes the first
#: as `kms:GenerateDataKey*`; the exact action is named instead, since no policy here uses wildcards.
KEY_PUBLISHER_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")

_DASHBOARD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class WatchedFunction:
    """A Lambda function to alarm on and whose log group feeds the pipeline's metrics.

    Args:
        name: the Lambda function name (the `FunctionName` dimension).
        log_group_name: the function's log group, where its JSON log lines land.
        label: short stable label used in child resource names, e.g. `normal`, `report`.
        lane_metrics: its log lines are the send handlers' (`handlers.shared.metrics.LANE_METRICS`), so
            its log group gets their metric filters; off for a function that never sends.
    """

    name: pulumi.Input[str]
    log_group_name: pulumi.Input[str]
    label: str
    lane_metrics: bool = True


@dataclass(frozen=True)
class WatchedLane:
    """An SQS lane and its dead-letter queue.

    Args:
        name: the lane's name, also the `Lane` dimension value in the handlers' metrics.
        queue_name: the lane queue's name (the `QueueName` dimension).
        dead_letter_queue_name: the lane DLQ's name.
        max_message_age_seconds: alarm when the lane's oldest message is older than this.
    """

    name: str
    queue_name: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    max_message_age_seconds: int = 900


@dataclass
class MonitoringArgs:
    """Inputs of a Monitoring component.

    Args:
        functions: the functions to alarm on; their log groups get the metric filters and queries.
        lanes: the lanes to alarm on and chart.
        metrics_namespace: CloudWatch namespace for the log-derived metrics (the handlers' table);
            the default is `EmailSenderArgs`' own, so both match unless you change one.
        alarm_email: subscribe this address to the alarm topic (it must confirm the subscription).
        event_bus_name: the bus `rule_names` live on; None for rules on the default bus.
        rule_names: label -> an EventBridge rule whose undelivered events should page. Alarms are
            named by the label, so adding or reordering rules never renames (replaces) them.
        default_bus_rule_names: label -> a rule on the account's default bus (DeliveryStatus's takes
            SES's events there), alarmed when it loses an event: one its target refused and its
            dead-letter queue could not take either. Its DLQ belongs in `extra_dead_letter_queue_names`.
        extra_dead_letter_queue_names: label -> another queue that must stay empty (rule targets'
            DLQs, the schedule's, the unrouted queue); alarms are named by the label.
        configuration_set_name: the SES configuration set, charted beside the account reputation.
        bounce_rate_threshold: alarm at this SES bounce rate (0-1), below SES's review rate.
        complaint_rate_threshold: alarm at this SES complaint rate (0-1), below SES's review rate.
        send_failure_threshold: alarm when a lane logs this many retryable send failures in 5 min.
        tags: tags for every taggable child.

    Raises:
        InvalidArgs: duplicate lane names or labels, labels that cannot name alarms, or thresholds
            that cannot work, all at once.
    """

    functions: Sequence[WatchedFunction]
    lanes: Sequence[WatchedLane]
    metrics_namespace: str = DEFAULT_NAMESPACE
    alarm_email: str | None = None
    event_bus_name: pulumi.Input[str] | None = None
    rule_names: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    default_bus_rule_names: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    extra_dead_letter_queue_names: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    configuration_set_name: pulumi.Input[str] | None = None
    bounce_rate_threshold: float = 0.025
    complaint_rate_threshold: float = 0.0005
    send_failure_threshold: int = 10
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse labels that cannot name alarms, and thresholds that cannot work, all at once.

        Raises:
            InvalidArgs: listing each problem with the argument it is about.
        """
        raise_if_any("MonitoringArgs", [*self._label_problems(), *self._threshold_problems()])

    def _label_problems(self) -> list[Problem]:
        """Labels name child resources and alarms: each must be unique, non-empty and usable in a name."""
        problems = [
            *_unique_problems("functions", "function label", [f.label for f in self.functions]),
            *_unique_problems("lanes", "lane name", [lane.name for lane in self.lanes]),
            *_unique_problems("rule_names", "rule label", [*self.rule_names, *self.default_bus_rule_names]),
        ]
        for argument, what, labels in (("rule_names", "rule label", self.rule_names),
                                       ("default_bus_rule_names", "rule label", self.default_bus_rule_names),
                                       ("extra_dead_letter_queue_names", "queue label",
                                        self.extra_dead_letter_queue_names)):
            problems += [Problem(argument, f"{what} {label!r} names alarms: use 1-64 characters of A-Z a-z 0-9 _ -")
                         for label in labels if not _LABEL.match(label)]
        if not self.functions:
            problems.append(Problem("functions", "Monitoring needs at least one WatchedFunction: its log groups feed "
                                                 "the metrics"))
        return problems

    def _threshold_problems(self) -> list[Problem]:
        problems = []
        if not self.metrics_namespace or self.metrics_namespace.startswith("AWS/"):
            problems.append(Problem("metrics_namespace", (
                f"{self.metrics_namespace!r} is invalid: use the handlers' namespace, which must be non-empty and "
                "outside the reserved AWS/ prefix")))
        if not 0 < self.bounce_rate_threshold < SES_REVIEW_BOUNCE_RATE:
            problems.append(Problem("bounce_rate_threshold", (
                f"{self.bounce_rate_threshold} must be a fraction between 0 and SES's review rate "
                f"{SES_REVIEW_BOUNCE_RATE}, or it fires after SES has acted")))
        if not 0 < self.complaint_rate_threshold < SES_REVIEW_COMPLAINT_RATE:
            problems.append(Problem("complaint_rate_threshold", (
                f"{self.complaint_rate_threshold} must be a fraction between 0 and SES's review rate "
                f"{SES_REVIEW_COMPLAINT_RATE}, or it fires after SES has acted")))
        if self.send_failure_threshold < 1:
            problems.append(Problem("send_failure_threshold", f"must be at least 1, got {self.send_failure_threshold}"))
        problems += [Problem(f"lanes.{lane.name}.max_message_age_seconds",
                             f"must be positive, got {lane.max_message_age_seconds}")
                     for lane in self.lanes if lane.max_message_age_seconds < 1]
        return problems


class Monitoring(pulumi.ComponentResource):
    """Tells a human when mail is stuck, failing or hurting the SES reputation, and where to look.

    Creates:
    - a KMS key (rotated) and an SNS alarm topic encrypted with it. CloudWatch cannot publish to a
      topic under the AWS-managed `alias/aws/sns` key (its policy cannot grant CloudWatch), so the
      key policy grants `cloudwatch.amazonaws.com` use of this key for this account only; a topic
      policy lets this account's alarms publish; and an email subscription when `alarm_email` is
      set. Test delivery with `aws cloudwatch set-alarm-state`, which publishes as CloudWatch;
    - per function log group, one metric filter per entry of `handlers.shared.metrics.LANE_METRICS`, with
      the lane as a dimension: the pipeline's own counters, shared with the daily report;
    - alarms (alarm and OK actions to the topic; missing data is healthy, since most of these
      metrics only exist when something happens): function errors and throttles; a lane DLQ or any
      extra queue holding a message (mail that will not be retried); a lane's oldest message too
      old (mail stuck); per rule, events it could not deliver and events it lost; SES bounce and
      complaint rates; and per lane, SES sending paused or not authorized, the daily quota
      exhausted, an email whose outcome is unknown, and a burst of send failures;
    - a dashboard: events in, per-lane outcomes, queue depth and age, DLQs, Lambda health and SES
      reputation against the alarm thresholds;
    - two Logs Insights saved queries over every function's log group: every line about one
      recipient hash, and failures grouped by error code.
    """

    alarm_topic_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]
    alarm_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        """Declare the monitoring.

        Args:
            name: prefix of every child's name, and the dashboard's name; it should carry the stack.
            args: what to watch, already checked (`MonitoringArgs`).
            opts: standard Pulumi resource options.

        Raises:
            InvalidArgs: `name` cannot name a dashboard. Raised before anything is declared.
        """
        raise_if_any(f"Monitoring {name!r}", [] if _DASHBOARD_NAME.match(name) else [Problem("name", (
            "is also the dashboard name: use at most 255 characters of A-Z a-z 0-9 _ -"))])
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._name = name
        self._args = args
        self._tags = dict(args.tags)
        self._child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        self._account = aws.get_caller_identity_output(opts=invoke).account_id
        self._region = aws.get_region_output(opts=invoke).region
        self._partition = aws.get_partition_output(opts=invoke).partition

        topic, topic_policy = self._build_alarm_topic()
        self._build_metric_filters()
        alarms = [self._build_alarm(spec, topic, topic_policy) for spec in alarm_specs(args)]
        dashboard = self._build_dashboard()
        self._build_saved_queries()

        self.alarm_topic_arn = topic.arn
        self.dashboard_name = dashboard.dashboard_name
        self.alarm_names = pulumi.Output.all(*[alarm.name for alarm in alarms])
        self.register_outputs({
            "alarm_topic_arn": self.alarm_topic_arn,
            "dashboard_name": self.dashboard_name,
            "alarm_names": self.alarm_names,
        })

    # --- alarm topic -----------------------------------------------------------------------------

    def _build_alarm_topic(self) -> tuple[aws.sns.Topic, aws.sns.TopicPolicy]:
        """The encrypted topic every alarm notifies, its key, policy and optional email subscriber."""
        root = pulumi.Output.concat("arn:", self._partition, ":iam::", self._account, ":root")
        key = aws.kms.Key(
            f"{self._name}-alarm-key",
            description=f"Encrypts the {self._name} alarm topic; lets CloudWatch alarms publish to it",
            enable_key_rotation=True,
            # In a key policy "Resource": "*" means this key and nothing else.
            policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AccountAdministersKey",
                        "Effect": "Allow",
                        "Principal": {"AWS": root},
                        "Action": list(KEY_ADMIN_ACTIONS),
                        "Resource": "*",
                    },
                    {
                        "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": list(KEY_PUBLISHER_ACTIONS),
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": self._account}},
                    },
                ],
            }),
            tags=self._tags,
            opts=self._child,
        )
        topic = aws.sns.Topic(
            f"{self._name}-alarms",
            kms_master_key_id=key.arn,
            tags=self._tags,
            opts=self._child,
        )
        alarms_here = pulumi.Output.concat(
            "arn:", self._partition, ":cloudwatch:", self._region, ":", self._account, ":alarm:*")
        policy = aws.sns.TopicPolicy(
            f"{self._name}-alarms-policy",
            arn=topic.arn,
            policy=pulumi.Output.json_dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "CloudWatchAlarmsOfThisAccountPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic.arn,
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": self._account},
                        "ArnLike": {"aws:SourceArn": alarms_here},
                    },
                }],
            }),
            opts=self._child,
        )
        if self._args.alarm_email:
            aws.sns.TopicSubscription(
                f"{self._name}-alarm-email",
                topic=topic.arn,
                protocol="email",
                endpoint=self._args.alarm_email,
                opts=self._child,
            )
        return topic, policy

    # --- log-derived metrics ---------------------------------------------------------------------

    def _build_metric_filters(self) -> None:
        """One counter per handler log event and log group, dimensioned by the line's lane."""
        for function in (f for f in self._args.functions if f.lane_metrics):
            for metric, event in LANE_METRICS.items():
                aws.cloudwatch.LogMetricFilter(
                    f"{self._name}-{function.label}-{_kebab(metric)}",
                    log_group_name=function.log_group_name,
                    pattern=event_pattern(event),
                    metric_transformation={
                        "name": metric,
                        "namespace": self._args.metrics_namespace,
                        "value": "1",
                        "unit": "Count",
                        # No default_value: CloudWatch rejects it beside dimensions.
                        "dimensions": {LANE_DIMENSION: "$.lane"},
                    },
                    opts=self._child,
                )

    # --- alarms ----------------------------------------------------------------------------------

    def _build_alarm(self, spec: AlarmSpec, topic: aws.sns.Topic,
                     topic_policy: aws.sns.TopicPolicy) -> aws.cloudwatch.MetricAlarm:
        """An alarm (`alarms`) that notifies the topic on ALARM and on recovery; no data counts as healthy."""
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{spec.suffix}",
            alarm_description=spec.description,
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            treat_missing_data="notBreaching",
            evaluation_periods=1,
            tags=self._tags,
            # An alarm already in ALARM when created (a DLQ that holds messages) would otherwise
            # notify a topic that still refuses CloudWatch.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[topic_policy]),
            **spec.condition(),
        )

    # --- dashboard -------------------------------------------------------------------------------

    def _build_dashboard(self) -> aws.cloudwatch.Dashboard:
        """One page from event in to email out, with alarm thresholds drawn where they apply."""
        body = DashboardBody(self._name, self._region, self._args).as_dict()
        return aws.cloudwatch.Dashboard(
            f"{self._name}-dashboard",
            dashboard_name=self._name,
            dashboard_body=pulumi.Output.json_dumps(body),
            opts=self._child,
        )

    # --- saved queries ---------------------------------------------------------------------------

    def _build_saved_queries(self) -> None:
        """Queries an operator would otherwise retype during an incident, over every log group."""
        log_groups = [function.log_group_name for function in self._args.functions]
        # (logical name's suffix, the name operators see, the query)
        for resource, name, query in (("find-send-query", "find-send-by-recipient-hash", find_send_query()),
                                      ("failures-query", "failures-by-error-code", FAILURES_BY_ERROR_CODE_QUERY),
                                      ("pacing-query", "pacing-by-lane", PACING_QUERY)):
            aws.cloudwatch.QueryDefinition(f"{self._name}-{resource}", name=f"{self._name}/{name}",
                                           log_group_names=log_groups, query_string=query, opts=self._child)


def event_pattern(event: str) -> str:
    """The metric filter pattern matching the JSON log lines of one handler event."""
    return '{ $.event = "' + event + '" }'


def _kebab(metric: str) -> str:
    """`EmailsSent` -> `emails-sent`, for child resource names."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", metric).lower()


def _unique_problems(argument: str, what: str, values: Sequence[str]) -> list[Problem]:
    """Values that name child resources must be unique and non-empty."""
    problems = []
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        problems.append(Problem(argument, f"duplicate {what}(s) {duplicates}: child resource names need each to be "
                                          "unique"))
    if any(not value for value in values):
        problems.append(Problem(argument, f"every {what} must be non-empty: it names child resources"))
    return problems
