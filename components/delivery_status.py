"""DeliveryStatus: SES's events for a stack's messages, turned into status events producers subscribe to.

SES publishes delivery, bounce, complaint, reject, delay and rendering-failure events only to the
account's default bus. This component takes a stack's (those tagged with its configuration set)
into a queue, and a function (`handlers.status`) publishes one `Email Status Changed` event per
recipient outcome on the pipeline's own bus and keeps a status record per message in the
idempotency table. See README, "Delivery status", for the event contract and what it costs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from .email_sender import VISIBILITY_TIMEOUT_FACTOR
from .functions import HandlerRuntime, allow, handler_function
from .handlers.ses_events import KINDS, SES_SOURCE
from .handlers.settings import Env
from .handlers.status_names import STATUS_DETAIL_TYPE, STATUS_LANE, STATUS_SOURCE, record_id
from .queues import deny_insecure_transport, failure_queue, policy_document

TYPE_TOKEN = "email-pipeline:index:DeliveryStatus"
STATUS_HANDLER = "handlers.status.handler"
#: SES events that are worth a status: what the status handler reads (`ses_events.KINDS`).
STATUS_DETAIL_TYPES = tuple(KINDS)
#: Receives of one SES event before its queue dead-letters it (the handler keeps it only when the
#: table or the bus failed; a few tries ride that out).
MAX_RECEIVE_COUNT = 5
_BATCH_SIZES = range(1, 11)
_SECONDS_PER_DAY = 86_400


@dataclass
class DeliveryStatusArgs:
    """Inputs of a DeliveryStatus.

    Args:
        runtime: the stack's handler runtime (`EmailSender.runtime`): code, layer, table, settings.
        configuration_set_name: the SES configuration set whose events are read.
        bus_name, bus_arn: the pipeline's bus, where status events go.
        publish_events: publish a status event per recipient outcome.
        keep_records: keep a status record per message (what `trace` reads).
        include_addresses: put the recipient's address in status events (only the keyed hash and
            the domain otherwise); the bus's archive then keeps addresses for its retention.
        record_days: how long a status record outlives its message's last SES event.
        batch_size: SES events per invocation (1-10).
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
    dead_letter_retention_seconds: int = 1_209_600
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse a component that would do nothing, or settings AWS would refuse.

        Raises:
            ValueError: naming the argument and what to do.
        """
        if not (self.publish_events or self.keep_records):
            raise ValueError("DeliveryStatusArgs: publish_events and keep_records are both off; leave the "
                             "component out instead")
        if self.include_addresses and not self.publish_events:
            raise ValueError("DeliveryStatusArgs: include_addresses needs publish_events (addresses only ever "
                             "appear in status events)")
        if self.batch_size not in _BATCH_SIZES:
            raise ValueError(f"DeliveryStatusArgs: batch_size {self.batch_size} must be between 1 and 10 (SQS)")
        if not 1 <= self.record_days <= 365:
            raise ValueError(f"DeliveryStatusArgs: record_days {self.record_days} must be between 1 and 365")


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
        dlq = self._failure_queue(f"{label}-dlq")
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
            policy=policy_document(_rule_may_send(queue.arn, rule.arn), deny_insecure_transport(queue.arn)),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{label}-ses-events-target",
            rule=rule.name,
            arn=queue.arn,
            retry_policy={"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": _SECONDS_PER_DAY},
            dead_letter_config={"arn": rule_dlq.arn},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
        )

        statements = [
            allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], [queue.arn]),
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
            # access control": dynamodb:LeadingKeys is the item's partition key).
            statements.append({**allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [runtime.table_arn]),
                               "Condition": {"ForAllValues:StringLike": {
                                   "dynamodb:LeadingKeys": [record_id(name, "*")]}}})
        environment: dict[str, pulumi.Input[str]] = {
            Env.LANE: STATUS_LANE,
            Env.QUEUE_URL: queue.url,
            Env.DEAD_LETTER_QUEUE_URL: dlq.url,
            Env.STATUS_BUS: args.bus_name,
            Env.STATUS_EVENTS: _flag(args.publish_events),
            Env.STATUS_RECORDS: _flag(args.keep_records),
            Env.STATUS_ADDRESSES: _flag(args.include_addresses),
            Env.IDEMPOTENCY_TTL_SECONDS: str(args.record_days * _SECONDS_PER_DAY),
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
            # Lambda checks the role can receive from the queue when the mapping is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[built.role_policy]),
        )

        self.function_name = built.function.name
        self.log_group_name = built.log_group.name
        self.queue_name = queue.name
        self.queue_url = queue.url
        self.dead_letter_queue_url = dlq.url
        self.dead_letter_queue_name = dlq.name
        self.rule_dead_letter_queue_name = rule_dlq.name
        self.rule_name = rule.name
        self.register_outputs({
            "function_name": self.function_name, "log_group_name": self.log_group_name,
            "queue_name": self.queue_name, "dead_letter_queue_name": self.dead_letter_queue_name,
            "queue_url": self.queue_url, "dead_letter_queue_url": self.dead_letter_queue_url,
            "rule_dead_letter_queue_name": self.rule_dead_letter_queue_name, "rule_name": self.rule_name,
        })

    def _failure_queue(self, name: str, grant_rule: pulumi.Input[str] | None = None) -> aws.sqs.Queue:
        grants = (lambda arn: [_rule_may_send(arn, grant_rule)]) if grant_rule is not None else None
        return failure_queue(name, retention_seconds=self._args.dead_letter_retention_seconds,
                             tags=self._args.tags, parent=self, grants=grants).queue


def status_rule_pattern(configuration_set_name: pulumi.Input[str]) -> dict[str, object]:
    """The default-bus pattern for a configuration set's SES events that carry a status.

    SES tags every event with its configuration set (`ses:configuration-set`, SES Developer Guide,
    "Contents of event data that Amazon SES publishes"); other stacks' events never match.
    """
    return {"source": [SES_SOURCE], "detail-type": list(STATUS_DETAIL_TYPES),
            "detail": {"mail": {"tags": {"ses:configuration-set": [configuration_set_name]}}}}


def _rule_may_send(queue_arn: pulumi.Input[str], rule_arn: pulumi.Input[str]) -> dict[str, object]:
    return {"Sid": "StatusRule", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}


def _flag(value: bool) -> str:
    return json.dumps(value)


__all__ = ["DeliveryStatus", "DeliveryStatusArgs"]
