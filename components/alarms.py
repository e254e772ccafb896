"""The pipeline's alarms as pure data: per failure, the metric that moves, when to page, and what to do.

`alarm_specs(args)` lists every alarm `Monitoring` declares, from the same arguments; the
component turns each `AlarmSpec` into a `MetricAlarm` notifying its topic. Like the dashboard
(`dashboard`), the list needs no Pulumi runtime: values may be Pulumi outputs or plain strings.
Thresholds and periods come from `signals`, which the dashboard draws from too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from .handlers.shared.metrics import LANE_DIMENSION
from .signals import (
    DAILY_QUOTA_METRIC,
    FIVE_MINUTES,
    MINUTE,
    NOT_AUTHORIZED_METRIC,
    OUTCOME_UNKNOWN_METRIC,
    SEND_FAILED_METRIC,
    SENDING_PAUSED_METRIC,
    SES_REPUTATION_PERIOD,
    SES_REVIEW_BOUNCE_RATE,
    SES_REVIEW_COMPLAINT_RATE,
    rule_dimensions,
)

if TYPE_CHECKING:
    from .monitoring import MonitoringArgs, WatchedLane

_AT_LEAST = "GreaterThanOrEqualToThreshold"


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: `suffix` names it (`<monitoring name>-<suffix>`), the rest is its condition and its words.

    Every alarm pages on ALARM and on recovery, evaluates one period, and treats missing data
    as healthy (most of these metrics only exist when something happens): `Monitoring` adds that.
    """

    suffix: str
    description: str
    namespace: str
    metric_name: str
    statistic: str
    period: int
    comparison_operator: str
    threshold: float
    dimensions: Mapping[str, pulumi.Input[str]] | None = None

    def condition(self) -> dict[str, Any]:
        """The `MetricAlarm` arguments of the condition (no `dimensions` for an account-wide metric)."""
        condition: dict[str, Any] = {
            "namespace": self.namespace, "metric_name": self.metric_name, "statistic": self.statistic,
            "period": self.period, "comparison_operator": self.comparison_operator, "threshold": self.threshold,
        }
        if self.dimensions is not None:
            condition["dimensions"] = self.dimensions
        return condition


def alarm_specs(args: MonitoringArgs) -> list[AlarmSpec]:
    """Every alarm of a pipeline, in a stable order (the order of `Monitoring.alarm_names`)."""
    return [*function_alarms(args), *queue_alarms(args), *rule_alarms(args), *ses_alarms(args),
            *lane_log_alarms(args)]


def function_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """Any error or throttle: the handlers report per-record failures, so an error is a bug."""
    return [
        AlarmSpec(
            f"{function.label}-{metric.lower()}",
            description=f"Function {function.label} {why}. See its log group.",
            namespace="AWS/Lambda", metric_name=metric, dimensions={"FunctionName": function.name},
            statistic="Sum", period=MINUTE, comparison_operator=_AT_LEAST, threshold=1,
        )
        for function in args.functions
        for metric, why in (
            ("Errors", "raised or timed out; its batch will be retried and may reach the DLQ"),
            ("Throttles", "was throttled; check reserved concurrency against the event source"),
        )
    ]


def queue_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """Dead letters (mail nobody will retry) and stuck lanes (mail not moving)."""
    alarms = []
    for lane in args.lanes:
        alarms.append(dead_letter_alarm(f"{lane.name}-dlq-not-empty", lane.dead_letter_queue_name,
                                        what=f"Lane {lane.name}'s dead-letter queue"))
        alarms.append(AlarmSpec(
            f"{lane.name}-oldest-message-age",
            description=(f"Lane {lane.name} has held a message for over {lane.max_message_age_seconds} s: "
                         "its function is failing, throttled or paused. Check the sending-paused and "
                         "quota alarms, then the function's logs."),
            namespace="AWS/SQS", metric_name="ApproximateAgeOfOldestMessage",
            dimensions={"QueueName": lane.queue_name}, statistic="Maximum", period=MINUTE,
            comparison_operator="GreaterThanThreshold", threshold=lane.max_message_age_seconds,
        ))
    for label, queue_name in args.extra_dead_letter_queue_names.items():
        alarms.append(dead_letter_alarm(f"{label}-not-empty", queue_name, what=f"Queue {label}"))
    return alarms


def dead_letter_alarm(suffix: str, queue_name: pulumi.Input[str], *, what: str) -> AlarmSpec:
    """A DLQ holding even one message: each one is an email that will not be sent on its own."""
    return AlarmSpec(
        suffix,
        description=(f"{what} holds messages: emails that will not be retried. Read the reason "
                     "attributes, fix the cause, then redrive."),
        namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
        dimensions={"QueueName": queue_name}, statistic="Maximum", period=MINUTE,
        comparison_operator="GreaterThanThreshold", threshold=0,
    )


def rule_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """Events a rule matched but could not deliver to its target.

    Every target here has a dead-letter queue, so an undelivered event is counted in
    `DeadLetterInvocations` (and `InvocationsSentToDlq`), not `FailedInvocations`, which leaves
    out what went to a DLQ; one that could not reach the DLQ either is lost and counted in
    `InvocationsFailedToBeSentToDlq` (EventBridge User Guide, "Monitoring Amazon EventBridge").
    """
    alarms = []
    for label, rule_name in args.rule_names.items():
        dimensions = rule_dimensions(rule_name, args.event_bus_name)
        alarms.append(AlarmSpec(
            f"rule-{label}-undelivered",
            description=(f"Rule {label} could not deliver events to its lane after retries; they are in "
                         "the route's dead-letter queue. Check the lane queue's policy and that it exists."),
            namespace="AWS/Events", metric_name="DeadLetterInvocations", dimensions=dimensions,
            statistic="Sum", period=MINUTE, comparison_operator=_AT_LEAST, threshold=1,
        ))
        alarms.append(events_lost_alarm(label, dimensions, (
            f"Rule {label} could deliver events neither to its lane nor to its dead-letter queue: they are "
            "lost (only the archive keeps them). Check the DLQ's policy, then replay the window from the archive.")))
    for label, rule_name in args.default_bus_rule_names.items():
        alarms.append(events_lost_alarm(label, rule_dimensions(rule_name, None), (
            f"Rule {label} on the default bus could deliver events neither to its target nor to its dead-letter "
            "queue: they are lost (the default bus keeps no archive here). Check both queues' policies.")))
    return alarms


def events_lost_alarm(label: str, dimensions: Mapping[str, pulumi.Input[str]], description: str) -> AlarmSpec:
    """Events a rule could deliver neither to its target nor to the target's dead-letter queue."""
    return AlarmSpec(
        f"rule-{label}-events-lost", description=description,
        namespace="AWS/Events", metric_name="InvocationsFailedToBeSentToDlq", dimensions=dimensions,
        statistic="Sum", period=MINUTE, comparison_operator=_AT_LEAST, threshold=1,
    )


def ses_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """Account reputation, the basis on which SES reviews or pauses the whole account.

    The defaults (2.5% bounces, 0.05% complaints) are half of SES's review thresholds (5%,
    0.1%), leaving time to stop a bad send before SES steps in.
    """
    return [
        AlarmSpec(
            "ses-bounce-rate",
            description=(f"SES account bounce rate reached {args.bounce_rate_threshold:.2%}; SES reviews the "
                         f"account at {SES_REVIEW_BOUNCE_RATE:.0%}. Find the source of bad addresses."),
            namespace="AWS/SES", metric_name="Reputation.BounceRate", statistic="Maximum",
            period=SES_REPUTATION_PERIOD, comparison_operator=_AT_LEAST, threshold=args.bounce_rate_threshold,
        ),
        AlarmSpec(
            "ses-complaint-rate",
            description=(f"SES account complaint rate reached {args.complaint_rate_threshold:.2%}; SES reviews "
                         f"the account at {SES_REVIEW_COMPLAINT_RATE:.1%}. Check who receives what."),
            namespace="AWS/SES", metric_name="Reputation.ComplaintRate", statistic="Maximum",
            period=SES_REPUTATION_PERIOD, comparison_operator=_AT_LEAST, threshold=args.complaint_rate_threshold,
        ),
    ]


def lane_log_alarms(args: MonitoringArgs) -> list[AlarmSpec]:
    """Per lane, from the handlers' own log lines: paused, out of quota, or failing to send.

    One alarm per lane on the `Lane` dimension rather than a `SUM(SEARCH(...))` expression: the
    lanes are known at deploy time, plain alarms need no metric math, and the alarm names the
    lane that saw it.
    """
    alarms = []
    for lane in args.lanes:
        alarms.append(_lane_metric_alarm(
            args, lane, "sending-paused", SENDING_PAUSED_METRIC, period=MINUTE, threshold=1,
            description=(f"SES refused to send for lane {lane.name}: sending is paused for the account or "
                         "configuration set. Mail waits in the queue; see the SES console.")))
        alarms.append(_lane_metric_alarm(
            args, lane, "daily-quota-exhausted", DAILY_QUOTA_METRIC, period=MINUTE, threshold=1,
            description=(f"Lane {lane.name} hit the SES 24-hour sending quota. Mail waits in the queue "
                         "until the quota frees up; request a higher quota if this recurs.")))
        alarms.append(_lane_metric_alarm(
            args, lane, "sending-not-authorized", NOT_AUTHORIZED_METRIC, period=MINUTE, threshold=1,
            description=(f"SES refused lane {lane.name}'s sends as unauthorized (IAM denied, or the MAIL FROM "
                         "domain is unverified): the lane stopped and keeps its mail. Fix the function's role "
                         "or the identity; in the sandbox, verify the recipient.")))
        alarms.append(_lane_metric_alarm(
            args, lane, "outcome-unknown", OUTCOME_UNKNOWN_METRIC, period=MINUTE, threshold=1,
            description=(f"Lane {lane.name} could not tell whether SES sent an email (no answer, or a "
                         "function died mid-send). At-most-once lanes dead-lettered it as OutcomeUnknown: "
                         "check the recipient's mail (or SES events), then redrive to send it again.")))
        alarms.append(_lane_metric_alarm(
            args, lane, "send-failures", SEND_FAILED_METRIC, period=FIVE_MINUTES,
            threshold=args.send_failure_threshold,
            description=(f"Lane {lane.name} logged {args.send_failure_threshold}+ retryable SES send "
                         "failures in 5 minutes. Run the failures-by-error-code saved query.")))
    return alarms


def _lane_metric_alarm(args: MonitoringArgs, lane: WatchedLane, suffix: str, metric: str, *, period: int,
                       threshold: float, description: str) -> AlarmSpec:
    """An alarm on one of the log-derived metrics for one lane."""
    return AlarmSpec(
        f"{lane.name}-{suffix}", description=description,
        namespace=args.metrics_namespace, metric_name=metric,
        dimensions={LANE_DIMENSION: lane.name}, statistic="Sum", period=period,
        comparison_operator=_AT_LEAST, threshold=threshold,
    )
