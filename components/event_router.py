"""EventRouter: the pipeline's own EventBridge bus, routing application events to the SQS lanes.

Routes are data (`routes.Route`): adding a kind of event is one more `Route` in the list, and
the rule, its target, the target's dead-letter queue and the lane queue's policy all follow from
it. What the routes leave of the (source, detail-type) pairs they accept goes to an "unrouted"
queue (`route_coverage`), so no pipeline event is accepted by the bus and then lost. The router
only routes: the daily report's schedule belongs to the report's owner (`report_schedule`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from .checks import Problem, raise_if_any
from .name_limits import NameLimit, name_problems
from .queues import FailureQueue, deny_insecure_transport, events_may_send, failure_queue, policy_document
from .route_coverage import Unrouted, unrouted_patterns
from .routes import DEFAULT_ROUTES, Route, event_pattern_json, route_problems

TYPE_TOKEN = "email-pipeline:index:EventRouter"

# AWS limits, checked at preview time rather than failing half-way through an update.
_TARGET_RETRY_RANGE = range(0, 186)
_TARGET_EVENT_AGE_RANGE = range(60, 86_401)
_QUEUE_RETENTION_RANGE = range(60, 1_209_601)
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_IAM_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:\S+$")


@dataclass(frozen=True)
class LaneQueue:
    """The SQS queue of one lane, as its owner exposes it."""

    arn: pulumi.Input[str]
    url: pulumi.Input[str]


@dataclass
class EventRouterArgs:
    """Inputs of `EventRouter`.

    Attributes:
        lane_queues: lane name -> its SQS queue. The router takes over these queues' policies.
        routes: which events go to which lane.
        allowed_principals: extra AWS account ids or IAM principal ARNs allowed to PutEvents on the
            bus (the bus's own account is always allowed).
        archive_retention_days: how long events stay replayable.
        target_max_retry_attempts: EventBridge retries per event before dead-lettering (0-185).
        target_max_event_age_seconds: age after which EventBridge stops retrying (60-86400).
        dead_letter_retention_seconds: how long dead letters wait for an operator (60-1209600).
        tags: applied to every taggable resource.
    """

    lane_queues: Mapping[str, LaneQueue]
    routes: Sequence[Route] = DEFAULT_ROUTES
    allowed_principals: Sequence[str] = ()
    archive_retention_days: int = 30
    target_max_retry_attempts: int = 185
    target_max_event_age_seconds: int = 86_400
    dead_letter_retention_seconds: int = 1_209_600
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse what AWS would refuse mid-update, or routes that would send events nowhere, all at once.

        Raises:
            InvalidArgs: listing each problem with the argument it is about (the route, principal
                or setting) and what to do.
        """
        raise_if_any("EventRouterArgs", [*route_problems(self.routes, self.lane_queues), *_principal_problems(self),
                                         *_range_problems(self)])


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
        * An "unrouted" `sqs.Queue`, its dead-letter queue, and per accepted (source, detail-type)
          pair its routes do not fully take, a catch-all `EventRule` and `EventTarget` feeding it.

    Outputs:
        bus_name, bus_arn, archive_arn: the bus and its archive.
        rule_names: route name -> its rule's name (keyed by name, so alarms on them keep their
            names when routes are added or reordered).
        target_dead_letter_queue_names: route name -> its target's dead-letter queue, for alarms.
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
            InvalidArgs: a physical name derived from `name` is longer than AWS allows. Raised
                before anything is declared (`EventRouterArgs` checks the rest when it is made).
        """
        raise_if_any(f"EventRouter {name!r}", name_problems(name, _name_limits(name, args)))
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
        unrouted_queue, unrouted_dlq, unrouted_rules = self._build_unrouted(bus)

        self.bus_name = bus.name
        self.bus_arn = bus.arn
        self.archive_arn = archive.arn
        self.rule_names = pulumi.Output.all(**{item.route.name: item.rule.name for item in routed})
        self.target_dead_letter_queue_names = pulumi.Output.all(
            **{item.route.name: item.dead_letter_queue.name for item in routed})
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

    def _failure_queue(self, name: str, sending_rules: Sequence[pulumi.Input[str]]) -> FailureQueue:
        """A failure queue only `sending_rules` may write to through EventBridge (none: only its refusal of HTTP)."""
        grants = (lambda arn: [_events_send(arn, sending_rules)]) if sending_rules else None
        return failure_queue(name, retention_seconds=self._args.dead_letter_retention_seconds, tags=self._tags,
                             parent=self, grants=grants)


def _events_send(queue_arn: pulumi.Input[str], rule_arns: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """Let EventBridge send to `queue_arn` only on behalf of `rule_arns`."""
    return events_may_send(queue_arn, list(rule_arns), sid="EventBridgeRules")


def _principal_problems(args: EventRouterArgs) -> list[Problem]:
    """Publishers that are neither an account (its root principal is allowed) nor an IAM principal."""
    return [Problem("allowed_principals", f"{principal!r} is neither a 12-digit account id nor an IAM principal ARN")
            for principal in args.allowed_principals
            if not (_ACCOUNT_ID.match(principal) or _IAM_ARN.match(principal))]


def _range_problems(args: EventRouterArgs) -> list[Problem]:
    """Settings outside what AWS accepts."""
    return [Problem(setting, f"{value} is outside what AWS accepts ({allowed.start}..{allowed.stop - 1})")
            for setting, value, allowed in (
                ("target_max_retry_attempts", args.target_max_retry_attempts, _TARGET_RETRY_RANGE),
                ("target_max_event_age_seconds", args.target_max_event_age_seconds, _TARGET_EVENT_AGE_RANGE),
                ("dead_letter_retention_seconds", args.dead_letter_retention_seconds, _QUEUE_RETENTION_RANGE))
            if value not in allowed]


def _name_limits(name: str, args: EventRouterArgs) -> list[NameLimit]:
    """The physical names an EventRouter derives from `name`, with AWS's limits."""
    limits = [NameLimit(f"{name}-archive", 48, "EventBridge archive"),
              NameLimit(f"{name}-unrouted-00000000", 64, "EventBridge rule"),
              NameLimit(f"{name}-unrouted-dlq", 80, "SQS queue")]
    for route in args.routes:
        limits += [NameLimit(f"{name}-{route.name}", 64, "EventBridge rule"),
                   NameLimit(f"{name}-{route.name}-dlq", 80, "SQS queue")]
    return limits


# `Route`, `DEFAULT_ROUTES` and `event_pattern_json` live in `routes`; importable from here too, beside the router.
__all__ = ["DEFAULT_ROUTES", "EventRouter", "EventRouterArgs", "LaneQueue", "Route", "event_pattern_json"]
