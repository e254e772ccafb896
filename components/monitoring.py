"""Monitoring: the alarms, log-derived metrics, dashboard and saved queries of the email pipeline.

The component watches what it is given (function, log group, queue and rule names) and never
reaches into the components that own them, so the same class can watch any stack's pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from .dashboard import DashboardBody
from .queries import FAILURES_BY_ERROR_CODE_QUERY, find_send_query
from .handlers.shared.metrics import DEFAULT_NAMESPACE, LANE_DIMENSION, LANE_METRICS
from .signals import (
    DAILY_QUOTA_METRIC,
    FIVE_MINUTES as _FIVE_MINUTES,
    MINUTE as _MINUTE,
    NOT_AUTHORIZED_METRIC,
    OUTCOME_UNKNOWN_METRIC,
    SEND_FAILED_METRIC,
    SENDING_PAUSED_METRIC,
    SES_REPUTATION_PERIOD as _SES_REPUTATION_PERIOD,
    SES_REVIEW_BOUNCE_RATE,
    SES_REVIEW_COMPLAINT_RATE,
    rule_dimensions,
)

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
        ValueError: duplicate lane names or function labels, or a threshold that cannot work.
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
        _require_unique("function label", [f.label for f in self.functions])
        _require_unique("lane name", [lane.name for lane in self.lanes])
        _require_unique("rule label", [*self.rule_names, *self.default_bus_rule_names])
        for what, labels in (("rule label", self.rule_names), ("rule label", self.default_bus_rule_names),
                             ("queue label", self.extra_dead_letter_queue_names)):
            for label in labels:
                if not _LABEL.match(label):
                    raise ValueError(f"{what} {label!r} names alarms: use 1-64 characters of A-Z a-z 0-9 _ -")
        if not self.functions:
            raise ValueError("Monitoring needs at least one WatchedFunction: its log groups feed the metrics")
        if not self.metrics_namespace or self.metrics_namespace.startswith("AWS/"):
            raise ValueError(
                f"metrics_namespace {self.metrics_namespace!r} is invalid: use the handlers' namespace, "
                "which must be non-empty and outside the reserved AWS/ prefix"
            )
        if not 0 < self.bounce_rate_threshold < SES_REVIEW_BOUNCE_RATE:
            raise ValueError(
                f"bounce_rate_threshold {self.bounce_rate_threshold} must be a fraction between 0 and "
                f"SES's review rate {SES_REVIEW_BOUNCE_RATE}, or it fires after SES has acted"
            )
        if not 0 < self.complaint_rate_threshold < SES_REVIEW_COMPLAINT_RATE:
            raise ValueError(
                f"complaint_rate_threshold {self.complaint_rate_threshold} must be a fraction between 0 and "
                f"SES's review rate {SES_REVIEW_COMPLAINT_RATE}, or it fires after SES has acted"
            )
        if self.send_failure_threshold < 1:
            raise ValueError(f"send_failure_threshold must be at least 1, got {self.send_failure_threshold}")
        for lane in self.lanes:
            if lane.max_message_age_seconds < 1:
                raise ValueError(
                    f"lane {lane.name!r}: max_message_age_seconds must be positive, got {lane.max_message_age_seconds}"
                )


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
        if not _DASHBOARD_NAME.match(name):
            raise ValueError(
                f"Monitoring name {name!r} is also the dashboard name: use at most 255 characters of "
                "A-Z a-z 0-9 _ -"
            )
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
        # Alarms wait for the topic policy: an alarm already in ALARM when created (a DLQ that
        # holds messages) would otherwise notify a topic that still refuses CloudWatch.
        alarm_opts = pulumi.ResourceOptions(parent=self, depends_on=[topic_policy])
        alarms = [
            *self._build_function_alarms(topic, alarm_opts),
            *self._build_queue_alarms(topic, alarm_opts),
            *self._build_rule_alarms(topic, alarm_opts),
            *self._build_ses_alarms(topic, alarm_opts),
            *self._build_lane_log_alarms(topic, alarm_opts),
        ]
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

    def _alarm(self, suffix: str, topic: aws.sns.Topic, opts: pulumi.ResourceOptions, *,
               description: str, **condition: Any) -> aws.cloudwatch.MetricAlarm:
        """An alarm that notifies the topic on ALARM and on recovery; no data counts as healthy."""
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{suffix}",
            alarm_description=description,
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            treat_missing_data="notBreaching",
            evaluation_periods=1,
            tags=self._tags,
            opts=opts,
            **condition,
        )

    def _build_function_alarms(self, topic: aws.sns.Topic,
                               opts: pulumi.ResourceOptions) -> list[aws.cloudwatch.MetricAlarm]:
        """Any error or throttle: the handlers report per-record failures, so an error is a bug."""
        alarms = []
        for function in self._args.functions:
            for metric, why in (
                ("Errors", "raised or timed out; its batch will be retried and may reach the DLQ"),
                ("Throttles", "was throttled; check reserved concurrency against the event source"),
            ):
                alarms.append(self._alarm(
                    f"{function.label}-{metric.lower()}", topic, opts,
                    description=f"Function {function.label} {why}. See its log group.",
                    namespace="AWS/Lambda", metric_name=metric, dimensions={"FunctionName": function.name},
                    statistic="Sum", period=_MINUTE,
                    comparison_operator="GreaterThanOrEqualToThreshold", threshold=1,
                ))
        return alarms

    def _build_queue_alarms(self, topic: aws.sns.Topic,
                            opts: pulumi.ResourceOptions) -> list[aws.cloudwatch.MetricAlarm]:
        """Dead letters (mail nobody will retry) and stuck lanes (mail not moving)."""
        alarms = []
        for lane in self._args.lanes:
            alarms.append(self._dead_letter_alarm(
                f"{lane.name}-dlq-not-empty", lane.dead_letter_queue_name, topic, opts,
                what=f"Lane {lane.name}'s dead-letter queue"))
            alarms.append(self._alarm(
                f"{lane.name}-oldest-message-age", topic, opts,
                description=(f"Lane {lane.name} has held a message for over {lane.max_message_age_seconds} s: "
                             "its function is failing, throttled or paused. Check the sending-paused and "
                             "quota alarms, then the function's logs."),
                namespace="AWS/SQS", metric_name="ApproximateAgeOfOldestMessage",
                dimensions={"QueueName": lane.queue_name}, statistic="Maximum", period=_MINUTE,
                comparison_operator="GreaterThanThreshold", threshold=lane.max_message_age_seconds,
            ))
        for label, queue_name in self._args.extra_dead_letter_queue_names.items():
            alarms.append(self._dead_letter_alarm(
                f"{label}-not-empty", queue_name, topic, opts, what=f"Queue {label}"))
        return alarms

    def _dead_letter_alarm(self, suffix: str, queue_name: pulumi.Input[str], topic: aws.sns.Topic,
                           opts: pulumi.ResourceOptions, *, what: str) -> aws.cloudwatch.MetricAlarm:
        """A DLQ holding even one message: each one is an email that will not be sent on its own."""
        return self._alarm(
            suffix, topic, opts,
            description=(f"{what} holds messages: emails that will not be retried. Read the reason "
                         "attributes, fix the cause, then redrive."),
            namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": queue_name}, statistic="Maximum", period=_MINUTE,
            comparison_operator="GreaterThanThreshold", threshold=0,
        )

    def _build_rule_alarms(self, topic: aws.sns.Topic,
                           opts: pulumi.ResourceOptions) -> list[aws.cloudwatch.MetricAlarm]:
        """Events a rule matched but could not deliver to its target.

        Every target here has a dead-letter queue, so an undelivered event is counted in
        `DeadLetterInvocations` (and `InvocationsSentToDlq`), not `FailedInvocations`, which leaves
        out what went to a DLQ; one that could not reach the DLQ either is lost and counted in
        `InvocationsFailedToBeSentToDlq` (EventBridge User Guide, "Monitoring Amazon EventBridge").
        """
        alarms = []
        for label, rule_name in self._args.rule_names.items():
            dimensions = rule_dimensions(rule_name, self._args.event_bus_name)
            alarms.append(self._alarm(
                f"rule-{label}-undelivered", topic, opts,
                description=(f"Rule {label} could not deliver events to its lane after retries; they are in "
                             "the route's dead-letter queue. Check the lane queue's policy and that it exists."),
                namespace="AWS/Events", metric_name="DeadLetterInvocations", dimensions=dimensions,
                statistic="Sum", period=_MINUTE, comparison_operator="GreaterThanOrEqualToThreshold", threshold=1,
            ))
            alarms.append(self._events_lost_alarm(label, dimensions, topic, opts, (
                f"Rule {label} could deliver events neither to its lane nor to its dead-letter queue: they are "
                "lost (only the archive keeps them). Check the DLQ's policy, then replay the window from the archive.")))
        for label, rule_name in self._args.default_bus_rule_names.items():
            alarms.append(self._events_lost_alarm(label, rule_dimensions(rule_name, None), topic, opts, (
                f"Rule {label} on the default bus could deliver events neither to its target nor to its dead-letter "
                "queue: they are lost (the default bus keeps no archive here). Check both queues' policies.")))
        return alarms

    def _events_lost_alarm(self, label: str, dimensions: Mapping[str, pulumi.Input[str]], topic: aws.sns.Topic,
                           opts: pulumi.ResourceOptions, description: str) -> aws.cloudwatch.MetricAlarm:
        return self._alarm(
            f"rule-{label}-events-lost", topic, opts, description=description,
            namespace="AWS/Events", metric_name="InvocationsFailedToBeSentToDlq", dimensions=dimensions,
            statistic="Sum", period=_MINUTE, comparison_operator="GreaterThanOrEqualToThreshold", threshold=1,
        )

    def _build_ses_alarms(self, topic: aws.sns.Topic,
                          opts: pulumi.ResourceOptions) -> list[aws.cloudwatch.MetricAlarm]:
        """Account reputation, the basis on which SES reviews or pauses the whole account.

        The defaults (2.5% bounces, 0.05% complaints) are half of SES's review thresholds (5%,
        0.1%), leaving time to stop a bad send before SES steps in.
        """
        args = self._args
        return [
            self._alarm(
                "ses-bounce-rate", topic, opts,
                description=(f"SES account bounce rate reached {args.bounce_rate_threshold:.2%}; SES reviews the "
                             f"account at {SES_REVIEW_BOUNCE_RATE:.0%}. Find the source of bad addresses."),
                namespace="AWS/SES", metric_name="Reputation.BounceRate", statistic="Maximum",
                period=_SES_REPUTATION_PERIOD,
                comparison_operator="GreaterThanOrEqualToThreshold", threshold=args.bounce_rate_threshold,
            ),
            self._alarm(
                "ses-complaint-rate", topic, opts,
                description=(f"SES account complaint rate reached {args.complaint_rate_threshold:.2%}; SES reviews "
                             f"the account at {SES_REVIEW_COMPLAINT_RATE:.1%}. Check who receives what."),
                namespace="AWS/SES", metric_name="Reputation.ComplaintRate", statistic="Maximum",
                period=_SES_REPUTATION_PERIOD,
                comparison_operator="GreaterThanOrEqualToThreshold", threshold=args.complaint_rate_threshold,
            ),
        ]

    def _build_lane_log_alarms(self, topic: aws.sns.Topic,
                               opts: pulumi.ResourceOptions) -> list[aws.cloudwatch.MetricAlarm]:
        """Per lane, from the handlers' own log lines: paused, out of quota, or failing to send.

        One alarm per lane on the `Lane` dimension rather than a `SUM(SEARCH(...))` expression: the
        lanes are known at deploy time, plain alarms need no metric math, and the alarm names the
        lane that saw it.
        """
        args = self._args
        alarms = []
        for lane in args.lanes:
            alarms.append(self._lane_metric_alarm(
                lane, "sending-paused", SENDING_PAUSED_METRIC, topic, opts, period=_MINUTE, threshold=1,
                description=(f"SES refused to send for lane {lane.name}: sending is paused for the account or "
                             "configuration set. Mail waits in the queue; see the SES console.")))
            alarms.append(self._lane_metric_alarm(
                lane, "daily-quota-exhausted", DAILY_QUOTA_METRIC, topic, opts, period=_MINUTE, threshold=1,
                description=(f"Lane {lane.name} hit the SES 24-hour sending quota. Mail waits in the queue "
                             "until the quota frees up; request a higher quota if this recurs.")))
            alarms.append(self._lane_metric_alarm(
                lane, "sending-not-authorized", NOT_AUTHORIZED_METRIC, topic, opts, period=_MINUTE, threshold=1,
                description=(f"SES refused lane {lane.name}'s sends as unauthorized (IAM denied, or the MAIL FROM "
                             "domain is unverified): the lane stopped and keeps its mail. Fix the function's role "
                             "or the identity; in the sandbox, verify the recipient.")))
            alarms.append(self._lane_metric_alarm(
                lane, "outcome-unknown", OUTCOME_UNKNOWN_METRIC, topic, opts, period=_MINUTE, threshold=1,
                description=(f"Lane {lane.name} could not tell whether SES sent an email (no answer, or a "
                             "function died mid-send). At-most-once lanes dead-lettered it as OutcomeUnknown: "
                             "check the recipient's mail (or SES events), then redrive to send it again.")))
            alarms.append(self._lane_metric_alarm(
                lane, "send-failures", SEND_FAILED_METRIC, topic, opts, period=_FIVE_MINUTES,
                threshold=args.send_failure_threshold,
                description=(f"Lane {lane.name} logged {args.send_failure_threshold}+ retryable SES send "
                             "failures in 5 minutes. Run the failures-by-error-code saved query.")))
        return alarms

    def _lane_metric_alarm(self, lane: WatchedLane, suffix: str, metric: str, topic: aws.sns.Topic,
                           opts: pulumi.ResourceOptions, *, period: int, threshold: float,
                           description: str) -> aws.cloudwatch.MetricAlarm:
        """An alarm on one of the log-derived metrics for one lane."""
        return self._alarm(
            f"{lane.name}-{suffix}", topic, opts,
            description=description,
            namespace=self._args.metrics_namespace, metric_name=metric,
            dimensions={LANE_DIMENSION: lane.name}, statistic="Sum", period=period,
            comparison_operator="GreaterThanOrEqualToThreshold", threshold=threshold,
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
        aws.cloudwatch.QueryDefinition(
            f"{self._name}-find-send-query",
            name=f"{self._name}/find-send-by-recipient-hash",
            log_group_names=log_groups,
            query_string=find_send_query(),
            opts=self._child,
        )
        aws.cloudwatch.QueryDefinition(
            f"{self._name}-failures-query",
            name=f"{self._name}/failures-by-error-code",
            log_group_names=log_groups,
            query_string=FAILURES_BY_ERROR_CODE_QUERY,
            opts=self._child,
        )


def event_pattern(event: str) -> str:
    """The metric filter pattern matching the JSON log lines of one handler event."""
    return '{ $.event = "' + event + '" }'


def _kebab(metric: str) -> str:
    """`EmailsSent` -> `emails-sent`, for child resource names."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", metric).lower()


def _require_unique(what: str, values: Sequence[str]) -> None:
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        raise ValueError(f"duplicate {what}(s) {duplicates}: child resource names need each to be unique")
    if any(not value for value in values):
        raise ValueError(f"every {what} must be non-empty: it names child resources")
