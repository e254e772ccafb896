"""DeliveryStatus: SES's events for a stack's messages, turned into status events producers subscribe to.

SES publishes delivery, bounce, complaint, reject, delay and rendering-failure events only to the
account's default bus. This component takes a stack's (those tagged with its configuration set)
into a queue, and a function (`handlers.status`) publishes one `Email Status Changed` event per
recipient outcome on the pipeline's own bus and keeps a status record per message in the
state table. See README, "Delivery status", for the event contract and what it costs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from .checks import Problem, raise_if_any
from .functions import HandlerRuntime, handler_function
from .handlers.shared.settings import Env
from .handlers.shared.status_names import (
    SES_SOURCE,
    SES_STATUS_DETAIL_TYPES,
    STATUS_DETAIL_TYPE,
    STATUS_LANE,
    STATUS_SOURCE,
    record_id,
)
from .iam import allow
from .lanes import BATCH_SIZES, MIN_EVENT_SOURCE_CONCURRENCY, VISIBILITY_TIMEOUT_FACTOR
from .name_limits import NameLimit, name_problems
from .queues import FailureQueue, deny_insecure_transport, events_may_send, failure_queue, policy_document

TYPE_TOKEN = "email-pipeline:index:DeliveryStatus"
STATUS_HANDLER = "handlers.status.handler"
#: SES events that are worth a status: what the status handler reads (`handlers.delivery_status.ses_events.KINDS`).
STATUS_DETAIL_TYPES = SES_STATUS_DETAIL_TYPES
#: Receives of one SES event before its queue dead-letters it (the handler keeps it only when the
#: table or the bus failed; a few tries ride that out).
MAX_RECEIVE_COUNT = 5
_SECONDS_PER_DAY = 86_400
#: SES events per email sent, with room: `bench/status_cost.py` measured 1.04 (a delivery each,
#: plus the bounces, complaints and automatic replies of the mailbox simulator's mix).
SES_EVENTS_PER_EMAIL = 1.1
#: The status handler's time per SES event: a strongly consistent read, a PutEvents and a
#: conditional write, each a few milliseconds from Lambda, with room for a retry.
SECONDS_PER_SES_EVENT = 0.05


def status_max_concurrency(account_send_rate: float) -> int:
    """How many status handlers may run at once: enough to keep up with the SES events of R emails/s.

    SES publishes about `SES_EVENTS_PER_EMAIL` events per email, each taking the handler about
    `SECONDS_PER_SES_EVENT`; one more instance absorbs a burst, and the queue the rest. Statuses
    are not urgent: a cap keeps a burst of SES events from taking the concurrency the sending
    lanes need (an account starts with 10 executions), at the price of statuses arriving later.
    """
    busy = account_send_rate * SES_EVENTS_PER_EMAIL * SECONDS_PER_SES_EVENT
    return max(MIN_EVENT_SOURCE_CONCURRENCY, 1 + math.ceil(busy))


@dataclass
class DeliveryStatusArgs:
    """Inputs of a DeliveryStatus.

    Args:
        runtime: the stack's handler runtime (`EmailSender.runtime`): code, layer if any, table, settings.
        configuration_set_name: the SES configuration set whose events are read.
        bus_name, bus_arn: the pipeline's bus, where status events go.
        publish_events: publish a status event per recipient outcome.
        keep_records: keep a status record per message (what `trace` reads).
        include_addresses: put the recipient's address in status events (only the keyed hash and
            the domain otherwise); the bus's archive then keeps addresses for its retention.
        record_days: how long a status record outlives its message's last SES event.
        batch_size: SES events per invocation (1-10).
        max_concurrency: status handlers running at once at most; derived from the stack's send
            rate (`status_max_concurrency`) unless given. Counted against the account's concurrency
            with the lanes'.
        dead_letter_retention_seconds: how long unreadable SES events wait for an operator.
        tags: applied to every taggable resource.
    """

    runtime: HandlerRuntime
    configuration_set_name: pulumi.Input[str]
    bus_name: pulumi.Input[str]
    bus_arn: pulumi.Input[str]
    publish_events: bool = True
    keep_records: bool = True
    include_addresses: bool = False
    record_days: int = 30
    batch_size: int = 10
    max_concurrency: int | None = None
    dead_letter_retention_seconds: int = 1_209_600
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse a component that would do nothing, or settings AWS would refuse, all at once.

        Raises:
            InvalidArgs: listing each problem with the argument it is about.
        """
        problems = []
        if not (self.publish_events or self.keep_records):
            problems.append(Problem("publish_events", "publish_events and keep_records are both off; leave the "
                                                      "component out instead"))
        if self.include_addresses and not self.publish_events:
            problems.append(Problem("include_addresses", "needs publish_events (addresses only ever appear in "
                                                         "status events)"))
        if self.batch_size not in BATCH_SIZES:
            problems.append(Problem("batch_size", f"{self.batch_size} must be between 1 and 10 (SQS)"))
        if not 1 <= self.record_days <= 365:
            problems.append(Problem("record_days", f"{self.record_days} must be between 1 and 365"))
        if self.max_concurrency is not None and self.max_concurrency < MIN_EVENT_SOURCE_CONCURRENCY:
            problems.append(Problem("max_concurrency", f"{self.max_concurrency} is below the "
                                                       f"{MIN_EVENT_SOURCE_CONCURRENCY} an SQS event source accepts"))
        raise_if_any("DeliveryStatusArgs", problems)

    def concurrency(self) -> int:
        """The handler's maximum concurrency: as given, or derived from the runtime's send rate."""
        if self.max_concurrency is not None:
            return self.max_concurrency
        return status_max_concurrency(self.runtime.account_send_rate)


class DeliveryStatus(pulumi.ComponentResource):
    """Status events and records from SES's events.

    Creates:
    - a rule on the default bus taking this configuration set's delivered, bounced, complaint,
      rejected, delayed and rendering-failed events, with a dead-letter queue for what it cannot
      deliver;
    - the status queue (encrypted; redrive to a DLQ after 5 receives) and its policy: only the rule
      may send to it;
    - the status function (`handlers.status`), its log group and a role allowed exactly: polling the
      status queue, sending to its DLQ, `events:PutEvents` on the pipeline's bus (when events are
      on), `dynamodb:GetItem`/`UpdateItem` on the table (when records are on);
    - the event source mapping, with partial batch responses.
    """

    function_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    queue_name: pulumi.Output[str]
    queue_url: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]
    dead_letter_queue_name: pulumi.Output[str]
    rule_dead_letter_queue_name: pulumi.Output[str]
    rule_name: pulumi.Output[str]

    def __init__(self, name: str, args: DeliveryStatusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        raise_if_any(f"DeliveryStatus {name!r}", [*name_problems(name, name_limits(name)), *concurrency_problems(args)])
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        runtime = args.runtime
        label = f"{name}-status"

        rule = aws.cloudwatch.EventRule(
            f"{label}-ses-events",
            description="SES events of this stack's messages, for the status handler",
            event_pattern=pulumi.Output.json_dumps(status_rule_pattern(args.configuration_set_name)),
            tags=dict(args.tags),
            opts=child,
        )
        rule_dlq = self._failure_queue(f"{label}-undelivered", grant_rule=rule.arn)
        dlq = self._failure_queue(f"{label}-dlq").queue
        queue = aws.sqs.Queue(
            f"{label}-queue",
            name=f"{label}-queue",
            sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * runtime.timeout_seconds,
            redrive_policy=pulumi.Output.json_dumps({"deadLetterTargetArn": dlq.arn,
                                                     "maxReceiveCount": MAX_RECEIVE_COUNT}),
            tags=dict(args.tags),
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{label}-queue-policy",
            queue_url=queue.url,
            policy=policy_document(events_may_send(queue.arn, rule.arn, sid="StatusRule"),
                                   deny_insecure_transport(queue.arn)),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{label}-ses-events-target",
            rule=rule.name,
            arn=queue.arn,
            retry_policy={"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": _SECONDS_PER_DAY},
            dead_letter_config={"arn": rule_dlq.queue.arn},
            # Both queues must accept the rule before it delivers: an event it could deliver to
            # neither would be lost (counted only in InvocationsFailedToBeSentToDlq).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy, rule_dlq.policy]),
        )

        statements = [
            # ChangeMessageVisibility: an SES event kept for a retry comes back after a growing
            # delay (`handlers.sqs_batch`), not the queue's whole visibility timeout.
            allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                   "sqs:ChangeMessageVisibility"], [queue.arn]),
            allow(["sqs:SendMessage"], [dlq.arn]),
        ]
        if args.publish_events:
            # Only status events: a role that could put any source on the bus could put a
            # "Email Notification Request" there and send mail (EventBridge User Guide, "Using IAM
            # policy conditions": events:source and events:detail-type apply to PutEvents).
            statements.append({**allow(["events:PutEvents"], [args.bus_arn]), "Condition": {"StringEquals": {
                "events:source": [STATUS_SOURCE], "events:detail-type": [STATUS_DETAIL_TYPE]}}})
        if args.keep_records:
            # Only the status records: the table also holds the send claims, which this role must
            # never touch (DynamoDB Developer Guide, "Using IAM policy conditions for fine-grained
            # access control": dynamodb:LeadingKeys is the item's partition key). The keys are the
            # handler's, under the stack name it is given (`EMAIL_STACK`), whatever this component's name.
            statements.append({**allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [runtime.table_arn]),
                               "Condition": {"ForAllValues:StringLike": {
                                   "dynamodb:LeadingKeys": [record_id(runtime.stack, "*")]}}})
        environment: dict[str, pulumi.Input[str]] = {
            Env.LANE: STATUS_LANE,
            Env.QUEUE_URL: queue.url,
            Env.DEAD_LETTER_QUEUE_URL: dlq.url,
            Env.MAX_RECEIVE_COUNT: str(MAX_RECEIVE_COUNT),
            Env.STATUS_BUS: args.bus_name,
            Env.STATUS_EVENTS: _flag(args.publish_events),
            Env.STATUS_RECORDS: _flag(args.keep_records),
            Env.STATUS_ADDRESSES: _flag(args.include_addresses),
            Env.RECORD_TTL_SECONDS: str(args.record_days * _SECONDS_PER_DAY),
        }
        built = handler_function(label, STATUS_HANDLER, runtime, environment=environment, statements=statements,
                                 parent=self)
        aws.lambda_.EventSourceMapping(
            f"{label}-source",
            event_source_arn=queue.arn,
            function_name=built.function.arn,
            batch_size=args.batch_size,
            maximum_batching_window_in_seconds=1,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": args.concurrency()},
            # Lambda checks the role can receive from the queue when the mapping is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[built.role_policy]),
        )

        self.function_name = built.function.name
        self.log_group_name = built.log_group.name
        self.queue_name = queue.name
        self.queue_url = queue.url
        self.dead_letter_queue_url = dlq.url
        self.dead_letter_queue_name = dlq.name
        self.rule_dead_letter_queue_name = rule_dlq.queue.name
        self.rule_name = rule.name
        self.register_outputs({
            "function_name": self.function_name, "log_group_name": self.log_group_name,
            "queue_name": self.queue_name, "dead_letter_queue_name": self.dead_letter_queue_name,
            "queue_url": self.queue_url, "dead_letter_queue_url": self.dead_letter_queue_url,
            "rule_dead_letter_queue_name": self.rule_dead_letter_queue_name, "rule_name": self.rule_name,
        })

    def _failure_queue(self, name: str, grant_rule: pulumi.Input[str] | None = None) -> FailureQueue:
        grants = (lambda arn: [events_may_send(arn, grant_rule, sid="StatusRule")]) if grant_rule is not None else None
        return failure_queue(name, retention_seconds=self._args.dead_letter_retention_seconds,
                             tags=self._args.tags, parent=self, grants=grants)


def name_limits(name: str) -> list[NameLimit]:
    """The physical names a DeliveryStatus derives from its name, with AWS's limits."""
    label = f"{name}-status"
    return [NameLimit.autonamed(f"{label}-ses-events", 64, "EventBridge rule"),
            NameLimit(label, 64, "Lambda function"), NameLimit.autonamed(f"{label}-role", 64, "IAM role"),
            *(NameLimit(f"{label}-{queue}", 80, "SQS queue") for queue in ("queue", "dlq", "undelivered"))]


def concurrency_problems(args: DeliveryStatusArgs) -> list[Problem]:
    """The handler's instances and the stack's others must fit the account's Lambda concurrency."""
    runtime, mine = args.runtime, args.concurrency()
    total = runtime.concurrency_in_use + mine
    if total <= runtime.account_concurrency:
        return []
    return [Problem("max_concurrency", (
        f"the status handler's {mine} instances and the stack's other {runtime.concurrency_in_use} make {total}, "
        f"more than the account's {runtime.account_concurrency}; request a higher Lambda concurrency quota (and "
        "tell the stack: accountConcurrency), or set max_concurrency lower"))]


def status_rule_pattern(configuration_set_name: pulumi.Input[str]) -> dict[str, object]:
    """The default-bus pattern for a configuration set's SES events that carry a status.

    SES tags every event with its configuration set (`ses:configuration-set`, SES Developer Guide,
    "Contents of event data that Amazon SES publishes"); other stacks' events never match.
    """
    return {"source": [SES_SOURCE], "detail-type": list(STATUS_DETAIL_TYPES),
            "detail": {"mail": {"tags": {"ses:configuration-set": [configuration_set_name]}}}}


def _flag(value: bool) -> str:
    return json.dumps(value)


__all__ = ["DeliveryStatus", "DeliveryStatusArgs"]
