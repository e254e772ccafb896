"""EventRouter: the pipeline's own EventBridge bus, routing application events to the SQS lanes.

Routes are data (`Route`): adding a kind of event is one more `Route` in the list, and the rule,
its target, the target's dead-letter queue and the lane queue's policy all follow from it. What
the routes leave of the (source, detail-type) pairs they accept goes to an "unrouted" queue
(`route_coverage`), so no pipeline event is accepted by the bus and then lost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from .queues import FailureQueue, deny_insecure_transport, failure_queue, policy_document
from .route_coverage import Unrouted, unrouted_patterns

TYPE_TOKEN = "email-pipeline:index:EventRouter"

#: The Scheduler context attribute the report handler derives its report day from, so a retried
#: trigger for the same day is recognised and the report is sent once.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"

#: A daily report is worth a few quick retries; after an hour it is late enough to be a dead letter.
SCHEDULE_MAX_RETRY_ATTEMPTS = 3
#: The report schedule's key among the router's dead-letter queues (route names cannot collide:
#: `_validate` refuses a route of that name).
SCHEDULE_LABEL = "daily-report"
SCHEDULE_MAX_EVENT_AGE_SECONDS = 3_600

# AWS limits, checked at preview time rather than failing half-way through an update.
_TARGET_RETRY_RANGE = range(0, 186)
_TARGET_EVENT_AGE_RANGE = range(60, 86_401)
_QUEUE_RETENTION_RANGE = range(60, 1_209_601)
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:\S+$")
_NAME_PART = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Route:
    """A route declared as data: events matching `event_pattern` go to lane `lane`."""

    name: str
    event_pattern: Mapping[str, Any]
    lane: str


@dataclass(frozen=True)
class LaneQueue:
    """The SQS queue of one lane, as its owner exposes it."""

    arn: pulumi.Input[str]
    url: pulumi.Input[str]


DEFAULT_ROUTES: tuple[Route, ...] = (
    Route(
        "email-notification",
        {"source": ["custom.application"], "detail-type": ["Email Notification Request"]},
        "normal",
    ),
    # Priorities match in any case ("HIGH" is high). An alert that is not high or critical (low,
    # normal, missing, or a value the contract refuses) is still mail someone asked for: the
    # normal lane sends it as ordinary mail, or dead-letters it with the reason.
    Route(
        "priority-alert",
        {
            "source": ["custom.application"],
            "detail-type": ["Priority Alert"],
            "detail": {"priority": [{"equals-ignore-case": "high"}, {"equals-ignore-case": "critical"}]},
        },
        "priority",
    ),
    Route(
        "priority-alert-routine",
        {
            "source": ["custom.application"],
            "detail-type": ["Priority Alert"],
            "detail": {"priority": [{"anything-but": {"equals-ignore-case": ["critical", "high"]}},
                                    {"exists": False}]},
        },
        "normal",
    ),
)


@dataclass
class EventRouterArgs:
    """Inputs of `EventRouter`.

    Attributes:
        lane_queues: lane name -> its SQS queue. The router takes over these queues' policies.
        report_function_arn: when set, a daily schedule invokes this function.
        routes: which events go to which lane.
        allowed_principals: extra AWS account ids or IAM principal ARNs allowed to PutEvents on the
            bus (the bus's own account is always allowed).
        archive_retention_days: how long events stay replayable.
        report_schedule: Scheduler expression of the daily report.
        report_timezone: IANA time zone the report schedule is read in.
        target_max_retry_attempts: EventBridge retries per event before dead-lettering (0-185).
        target_max_event_age_seconds: age after which EventBridge stops retrying (60-86400).
        dead_letter_retention_seconds: how long dead letters wait for an operator (60-1209600).
        tags: applied to every taggable resource.
    """

    lane_queues: Mapping[str, LaneQueue]
    report_function_arn: pulumi.Input[str] | None = None
    routes: Sequence[Route] = DEFAULT_ROUTES
    allowed_principals: Sequence[str] = ()
    archive_retention_days: int = 30
    report_schedule: str = "cron(0 9 * * ? *)"
    report_timezone: str = "UTC"
    target_max_retry_attempts: int = 185
    target_max_event_age_seconds: int = 86_400
    dead_letter_retention_seconds: int = 1_209_600
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse what AWS would refuse mid-update, or routes that would send events nowhere.

        Raises:
            ValueError: naming the route, principal or setting and what to do.
        """
        _validate(self)


def event_pattern_json(pattern: Mapping[str, Any]) -> str:
    """Serialize an event pattern deterministically, so a second preview shows no diff."""
    return json.dumps(pattern, sort_keys=True, separators=(",", ":"), default=_plain_mapping)


def _plain_mapping(value: object) -> dict[str, Any]:
    """Let read-only mappings (e.g. `MappingProxyType`) appear in patterns; json only knows dict."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"event patterns hold mappings, lists and scalars, not {type(value).__name__}")


@dataclass(frozen=True)
class _RouteResources:
    route: Route
    rule: aws.cloudwatch.EventRule
    dead_letter_queue: aws.sqs.Queue


class EventRouter(pulumi.ComponentResource):
    """A custom EventBridge bus that routes application events to the SQS lanes.

    Resources, and why:
        * `EventBus` `{name}-bus`: the pipeline's own bus, so its rules, policy and archive do not
          mix with the account's default bus.
        * `EventBusPolicy`: only the bus's own account and `allowed_principals` may PutEvents.
        * `EventArchive`: keeps events for `archive_retention_days` so they can be replayed after
          an incident.
        * Per route, an `EventRule` with the route's pattern, and an `EventTarget` to the lane
          queue with a retry policy and a dead-letter `sqs.Queue` (plus its `QueuePolicy` letting
          only that rule write to it): an event EventBridge cannot deliver is kept, not dropped.
        * Per lane fed by a route, one `sqs.QueuePolicy` on the lane queue letting
          `events.amazonaws.com` send only on behalf of that lane's rules. An SQS queue has exactly
          one policy, so the router owns the lane queues' policies.
        * With `report_function_arn`: a Scheduler `Schedule` invoking the report function daily
          with its scheduled time, a dead-letter `sqs.Queue` for invocations that keep failing, and
          an `iam.Role` plus inline `iam.RolePolicy` Scheduler assumes to invoke the function and
          to dead-letter.

    Outputs:
        bus_name, bus_arn, archive_arn: the bus and its archive.
        rule_names: route name -> its rule's name (keyed by name, so alarms on them keep their
            names when routes are added or reordered).
        target_dead_letter_queue_names: route name -> its target's dead-letter queue, and
            `daily-report` -> the report schedule's, for alarms.
        schedule_name: the daily report schedule, or None without `report_function_arn`.
        unrouted_queue_name, unrouted_queue_url: where events of an accepted source and
            detail-type that no route takes wait (14 days), in the same shape a lane receives,
            so they can be moved to a lane once a route takes them. Alarm on it.
        unrouted_dead_letter_queue_name: where EventBridge puts what it cannot deliver there.
        unrouted_rule_names: the catch-all rules feeding the unrouted queue (none when the routes
            take every event of the pairs they accept).
    """

    bus_name: pulumi.Output[str]
    bus_arn: pulumi.Output[str]
    archive_arn: pulumi.Output[str]
    rule_names: pulumi.Output[dict[str, str]]
    target_dead_letter_queue_names: pulumi.Output[dict[str, str]]
    schedule_name: pulumi.Output[str | None]
    unrouted_queue_name: pulumi.Output[str]
    unrouted_queue_url: pulumi.Output[str]
    unrouted_dead_letter_queue_name: pulumi.Output[str]
    unrouted_rule_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: EventRouterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        """Declare the router.

        Args:
            name: prefix of every child's logical and physical name; it should carry the stack.
            args: lanes, routes and settings.
            opts: standard Pulumi resource options.

        Raises:
            ValueError: a route names an unknown lane, route names repeat or are not usable in
                resource names, a principal is neither an account id nor an IAM ARN, or a setting
                is outside the range AWS accepts. Raised before anything is declared.
        """
        _check_name_lengths(name, args)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._name = name
        self._args = args
        self._tags = dict(args.tags)
        self._account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        self._partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self)).partition

        bus = self._build_bus()
        archive = self._build_archive(bus)
        routed = [self._build_route(bus, route) for route in args.routes]
        lane_policies = self._build_lane_policies(routed)
        for item in routed:
            self._build_target(bus, item, lane_policies[item.route.lane])
        schedule_dlq, schedule = self._build_report_schedule()
        unrouted_queue, unrouted_dlq, unrouted_rules = self._build_unrouted(bus)

        dead_letter_queues = {item.route.name: item.dead_letter_queue for item in routed}
        if schedule_dlq:
            dead_letter_queues[SCHEDULE_LABEL] = schedule_dlq
        self.bus_name = bus.name
        self.bus_arn = bus.arn
        self.archive_arn = archive.arn
        self.rule_names = pulumi.Output.all(**{item.route.name: item.rule.name for item in routed})
        self.target_dead_letter_queue_names = pulumi.Output.all(
            **{label: queue.name for label, queue in dead_letter_queues.items()})
        self.schedule_name = schedule.name if schedule else pulumi.Output.from_input(None)
        self.unrouted_queue_name = unrouted_queue.name
        self.unrouted_queue_url = unrouted_queue.url
        self.unrouted_dead_letter_queue_name = unrouted_dlq.name
        self.unrouted_rule_names = pulumi.Output.all(*[rule.name for rule in unrouted_rules])
        self.register_outputs(
            {
                "bus_name": self.bus_name,
                "bus_arn": self.bus_arn,
                "archive_arn": self.archive_arn,
                "rule_names": self.rule_names,
                "target_dead_letter_queue_names": self.target_dead_letter_queue_names,
                "schedule_name": self.schedule_name,
                "unrouted_queue_name": self.unrouted_queue_name,
                "unrouted_queue_url": self.unrouted_queue_url,
                "unrouted_dead_letter_queue_name": self.unrouted_dead_letter_queue_name,
                "unrouted_rule_names": self.unrouted_rule_names,
            }
        )

    def _child(self, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)

    def _build_bus(self) -> aws.cloudwatch.EventBus:
        """The bus, and a policy naming exactly who may put events on it."""
        bus = aws.cloudwatch.EventBus(
            f"{self._name}-bus",
            name=f"{self._name}-bus",
            description="Application events routed to the email pipeline's lanes",
            tags=self._tags,
            opts=self._child(),
        )
        principals = [pulumi.Output.format("arn:{0}:iam::{1}:root", self._partition, self._account_id)]
        principals += [self._principal_arn(principal) for principal in self._args.allowed_principals]
        aws.cloudwatch.EventBusPolicy(
            f"{self._name}-bus-policy",
            event_bus_name=bus.name,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AllowedPublishers",
                            "Effect": "Allow",
                            "Principal": {"AWS": principals},
                            "Action": "events:PutEvents",
                            "Resource": bus.arn,
                        }
                    ],
                }
            ),
            opts=self._child(),
        )
        return bus

    def _principal_arn(self, principal: str) -> pulumi.Input[str]:
        """An account id becomes its root principal; an IAM ARN is used as given."""
        if _ACCOUNT_ID.match(principal):
            return pulumi.Output.format("arn:{0}:iam::{1}:root", self._partition, principal)
        return principal

    def _build_archive(self, bus: aws.cloudwatch.EventBus) -> aws.cloudwatch.EventArchive:
        """Every event on the bus, kept so that it can be replayed after a failed delivery."""
        return aws.cloudwatch.EventArchive(
            f"{self._name}-archive",
            name=f"{self._name}-archive",
            event_source_arn=bus.arn,
            retention_days=self._args.archive_retention_days,
            description="Replayable copy of every event on the bus",
            opts=self._child(),
        )

    def _build_route(self, bus: aws.cloudwatch.EventBus, route: Route) -> _RouteResources:
        """The route's rule, and the dead-letter queue its target falls back to."""
        prefix = f"{self._name}-{route.name}"
        rule = aws.cloudwatch.EventRule(
            prefix,
            name=prefix,
            event_bus_name=bus.name,
            event_pattern=event_pattern_json(route.event_pattern),
            state="ENABLED",
            description=f"Route {route.name} to lane {route.lane}",
            tags=self._tags,
            opts=self._child(),
        )
        dlq = self._failure_queue(f"{prefix}-dlq", [rule.arn]).queue
        return _RouteResources(route, rule, dlq)

    def _build_lane_policies(self, routed: Sequence[_RouteResources]) -> dict[str, aws.sqs.QueuePolicy]:
        """One policy per fed lane: only that lane's rules may send to it."""
        rules_by_lane: dict[str, list[aws.cloudwatch.EventRule]] = {}
        for item in routed:
            rules_by_lane.setdefault(item.route.lane, []).append(item.rule)
        policies: dict[str, aws.sqs.QueuePolicy] = {}
        for lane, rules in rules_by_lane.items():
            queue = self._args.lane_queues[lane]
            policies[lane] = aws.sqs.QueuePolicy(
                f"{self._name}-{lane}-lane-policy",
                queue_url=queue.url,
                policy=policy_document(_events_send(queue.arn, [rule.arn for rule in rules]),
                                       deny_insecure_transport(queue.arn)),
                opts=self._child(),
            )
        return policies

    def _build_target(
        self, bus: aws.cloudwatch.EventBus, item: _RouteResources, lane_policy: aws.sqs.QueuePolicy
    ) -> aws.cloudwatch.EventTarget:
        """Deliver the rule's events to its lane; after the retries, to the route's dead-letter queue."""
        return aws.cloudwatch.EventTarget(
            f"{self._name}-{item.route.name}-target",
            rule=item.rule.name,
            event_bus_name=bus.name,
            target_id=f"lane-{item.route.lane}",
            arn=self._args.lane_queues[item.route.lane].arn,
            retry_policy={
                "maximum_retry_attempts": self._args.target_max_retry_attempts,
                "maximum_event_age_in_seconds": self._args.target_max_event_age_seconds,
            },
            dead_letter_config={"arn": item.dead_letter_queue.arn},
            # Without the queue policies in place the first events would fail straight to the DLQ.
            opts=self._child(depends_on=[lane_policy]),
        )

    def _build_unrouted(
        self, bus: aws.cloudwatch.EventBus
    ) -> tuple[aws.sqs.Queue, aws.sqs.Queue, list[aws.cloudwatch.EventRule]]:
        """The unrouted queue, and one catch-all rule per accepted pair its routes do not fully take."""
        prefix = f"{self._name}-unrouted"
        named = {f"{prefix}-{unrouted.key}": unrouted for unrouted in unrouted_patterns(self._args.routes)}
        rules = {name: self._build_unrouted_rule(bus, name, unrouted) for name, unrouted in named.items()}
        rule_arns = [rule.arn for rule in rules.values()]
        queue, policy = self._failure_queue(prefix, rule_arns)
        dlq = self._failure_queue(f"{prefix}-dlq", rule_arns).queue
        for name, rule in rules.items():
            aws.cloudwatch.EventTarget(
                f"{name}-target",
                rule=rule.name,
                event_bus_name=bus.name,
                target_id="unrouted",
                arn=queue.arn,
                retry_policy={
                    "maximum_retry_attempts": self._args.target_max_retry_attempts,
                    "maximum_event_age_in_seconds": self._args.target_max_event_age_seconds,
                },
                dead_letter_config={"arn": dlq.arn},
                opts=self._child(depends_on=[policy]),
            )
        return queue, dlq, list(rules.values())

    def _build_unrouted_rule(self, bus: aws.cloudwatch.EventBus, name: str,
                             unrouted: Unrouted) -> aws.cloudwatch.EventRule:
        """A catch-all rule; `name` carries a hash of its pair, so adding or reordering routes never renames it."""
        return aws.cloudwatch.EventRule(
            name,
            name=name,
            event_bus_name=bus.name,
            event_pattern=event_pattern_json(unrouted.pattern),
            state="ENABLED",
            description=f"{unrouted.source} / {unrouted.detail_type} events no route takes"[:512],
            tags=self._tags,
            opts=self._child(),
        )

    def _build_report_schedule(self) -> tuple[aws.sqs.Queue | None, aws.scheduler.Schedule | None]:
        """The daily report trigger, its dead-letter queue and the role Scheduler acts as."""
        function_arn = self._args.report_function_arn
        if function_arn is None:
            return None, None
        prefix = f"{self._name}-daily-report"
        dlq = self._failure_queue(f"{prefix}-dlq", []).queue  # Scheduler sends to it with its role
        role = aws.iam.Role(
            f"{prefix}-scheduler",
            name=f"{prefix}-scheduler",
            description="Assumed by EventBridge Scheduler to trigger the daily report",
            assume_role_policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "scheduler.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            # Only schedules of this account may use the role (confused deputy).
                            "Condition": {"StringEquals": {"aws:SourceAccount": self._account_id}},
                        }
                    ],
                }
            ),
            tags=self._tags,
            opts=self._child(),
        )
        role_policy = aws.iam.RolePolicy(
            f"{prefix}-scheduler-policy",
            role=role.name,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "InvokeReport",
                            "Effect": "Allow",
                            "Action": "lambda:InvokeFunction",
                            "Resource": function_arn,
                        },
                        {"Sid": "DeadLetter", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dlq.arn},
                    ],
                }
            ),
            opts=self._child(),
        )
        schedule = aws.scheduler.Schedule(
            prefix,
            name=prefix,
            description="Triggers the daily email pipeline report",
            schedule_expression=self._args.report_schedule,
            schedule_expression_timezone=self._args.report_timezone,
            flexible_time_window={"mode": "OFF"},
            state="ENABLED",
            target={
                "arn": function_arn,
                "role_arn": role.arn,
                "input": json.dumps({"scheduledTime": SCHEDULED_TIME}),
                "retry_policy": {
                    "maximum_retry_attempts": SCHEDULE_MAX_RETRY_ATTEMPTS,
                    "maximum_event_age_in_seconds": SCHEDULE_MAX_EVENT_AGE_SECONDS,
                },
                "dead_letter_config": {"arn": dlq.arn},
            },
            # Scheduler checks the role when the schedule is created and when it fires.
            opts=self._child(depends_on=[role_policy]),
        )
        return dlq, schedule

    def _failure_queue(self, name: str, sending_rules: Sequence[pulumi.Input[str]]) -> FailureQueue:
        """A failure queue only `sending_rules` may write to through EventBridge (none: only its refusal of HTTP)."""
        grants = (lambda arn: [_events_send(arn, sending_rules)]) if sending_rules else None
        return failure_queue(name, retention_seconds=self._args.dead_letter_retention_seconds, tags=self._tags,
                             parent=self, grants=grants)


def _events_send(queue_arn: pulumi.Input[str], rule_arns: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """Let EventBridge send to `queue_arn` only on behalf of `rule_arns`."""
    return {
        "Sid": "EventBridgeRules",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": list(rule_arns)}},
    }


def _validate(args: EventRouterArgs) -> None:
    """Reject arguments AWS would reject mid-update, or that would route events nowhere."""
    lanes = sorted(args.lane_queues)
    seen: set[str] = set()
    for route in args.routes:
        if route.lane not in args.lane_queues:
            raise ValueError(
                f"route {route.name!r} names lane {route.lane!r}, which is not in lane_queues; "
                f"known lanes: {lanes}. Add the lane's queue or fix the route."
            )
        for label, value in (("route name", route.name), ("lane name", route.lane)):
            if not _NAME_PART.match(value):
                raise ValueError(f"{label} {value!r} must use only letters, digits, '-' and '_'")
        if route.name in seen or route.name == SCHEDULE_LABEL:
            raise ValueError(f"route name {route.name!r} is used twice (or is the report schedule's "
                             f"{SCHEDULE_LABEL!r}); route names must be unique")
        seen.add(route.name)
        if not route.event_pattern:
            raise ValueError(f"route {route.name!r} has an empty event pattern; it must match something specific")
    for principal in args.allowed_principals:
        if not (_ACCOUNT_ID.match(principal) or _IAM_ARN.match(principal)):
            raise ValueError(
                f"allowed principal {principal!r} is neither a 12-digit account id nor an IAM principal ARN"
            )
    unrouted_patterns(args.routes)  # raises, naming the route, when what it leaves cannot be caught
    _check_range("target_max_retry_attempts", args.target_max_retry_attempts, _TARGET_RETRY_RANGE)
    _check_range("target_max_event_age_seconds", args.target_max_event_age_seconds, _TARGET_EVENT_AGE_RANGE)
    _check_range("dead_letter_retention_seconds", args.dead_letter_retention_seconds, _QUEUE_RETENTION_RANGE)


def _check_name_lengths(name: str, args: EventRouterArgs) -> None:
    """Physical names derive from `name`; AWS caps them, so a long stack name fails here, not mid-deploy."""
    limits = [(f"{name}-archive", 48), (f"{name}-unrouted-00000000", 64), (f"{name}-unrouted-dlq", 80)]
    for route in args.routes:
        limits += [(f"{name}-{route.name}", 64), (f"{name}-{route.name}-dlq", 80)]
    if args.report_function_arn is not None:
        limits += [(f"{name}-daily-report-scheduler", 64), (f"{name}-daily-report-dlq", 80)]
    for physical, limit in limits:
        if len(physical) > limit:
            raise ValueError(f"name {physical!r} is longer than the {limit} characters AWS allows; shorten {name!r}")


def _check_range(setting: str, value: int, allowed: range) -> None:
    if value not in allowed:
        raise ValueError(f"{setting}={value} is outside what AWS accepts ({allowed.start}..{allowed.stop - 1})")
