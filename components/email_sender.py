"""EmailSender: the SES identity, templates, lanes and Lambda functions that send the mail."""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from .handlers.shared.metrics import DEFAULT_NAMESPACE
from .handlers.shared.settings import DEFAULT_MAX_RECEIVE_COUNT, Delivery, Env
from .functions import ARCHITECTURE, RUNTIME, HandlerRuntime, allow as _allow, handler_function, sha256_base64
from .packaging import build_handler_zip, build_layer_zip
from .queues import failure_queue
from .checks import Problem, address_problems, raise_if_any, sender_problems
from .handlers.shared import catalog
from .handlers.shared.simulator import SIMULATOR_DOMAIN
from .handlers.shared.timeouts import SEND_RESERVE_SECONDS
from .template_files import TemplateFiles, deployed_catalog, discover

#: The lane handler that adds the on-call list to every email (the batch check charges for it).
PRIORITY_HANDLER = "handlers.priority.handler"
#: Retention periods CloudWatch Logs accepts (PutRetentionPolicy).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
_LANE_NAME = re.compile(r"^[a-z0-9-]{1,20}$")
#: Names a lane cannot take: the stack's other functions are named like lanes (`<stack>-<lane>`),
#: and the stack outputs list the status queue as lane `status`.
RESERVED_LANE_NAMES = {"report": "the daily report's function", "status": "the status handler (DeliveryStatus)"}
#: SQS allows batches of 1-10 messages for a standard queue's event source mapping.
_BATCH_SIZES = range(1, 11)
#: Receives a message needs to ride out a 10-minute throttle (see `handlers.sending.lane.retry_delay`).
MIN_MAX_RECEIVE_COUNT = 5
#: SES SendEmail's latency from a function in the same region, as `email_sent` lines report it
#: (`ses_ms`); the stack setting `sesSendLatencyMs` replaces it with a stack's measured p90.
DEFAULT_SEND_LATENCY_MS = 100
#: What a batch costs an instance besides its slots and the SES call: the idempotency claim and
#: record, the booking, Lambda's receive and delete. Measured with bench/burst.py (bench/README.md).
BATCH_OVERHEAD_SECONDS = 0.05
#: Lambda's X-Ray tracing modes (TracingConfig.Mode).
TRACING_MODES = ("PassThrough", "Active")
#: The smallest maximum concurrency an SQS event source mapping accepts.
MIN_EVENT_SOURCE_CONCURRENCY = 2
#: Visibility timeout = 6 x function timeout, AWS's guidance for SQS event sources: it covers the
#: invocation, Lambda's own retries of a throttled invocation, and the batching window.
VISIBILITY_TIMEOUT_FACTOR = 6
#: The handlers' longest deliberate delay before a retry (halt and quota), in seconds.
HANDLER_MAX_RETRY_DELAY_SECONDS = 900
SES_EVENT_TYPES = ("SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT", "RENDERING_FAILURE", "DELIVERY_DELAY")
#: SES events worth keeping beside the send logs: everything that means a message did not arrive.
FORWARDED_SES_DETAIL_TYPES = ("Email Bounced", "Email Complaint Received", "Email Rejected", "Email Rendering Failed")
#: What of an SES event reaches the feedback log group: nothing that carries an address (SES's
#: `mail.destination`, `mail.headers`, `bounce.bouncedRecipients` and `complaint.complainedRecipients`
#: all do), only what ties the event to a send and says what happened.
SES_FEEDBACK_FIELDS: Mapping[str, str] = {
    "eventType": "$.detail.eventType",
    "sesMessageId": "$.detail.mail.messageId",
    "sentAt": "$.detail.mail.timestamp",
    "bounceType": "$.detail.bounce.bounceType",
    "bounceSubType": "$.detail.bounce.bounceSubType",
    "complaintFeedbackType": "$.detail.complaint.complaintFeedbackType",
    "lane": "$.detail.mail.tags.lane[0]",
    "template": "$.detail.mail.tags.template[0]",
    "stack": "$.detail.mail.tags.stack[0]",
    # The pipeline event that sent it (`handlers.shared.correlation`); never the producer's correlationId,
    # which is the producer's value, not the pipeline's.
    "eventId": "$.detail.mail.tags.event_id[0]",
}


@dataclass(frozen=True)
class LaneConfig:
    """One SQS lane and the function that drains it.

    Args:
        name: the lane's name (`normal`, `priority`); routes target it by this name.
        handler: the Lambda handler, e.g. `handlers.templated.handler`.
        rate_share: the lane's share of the account's SES send rate when the stack's send schedule
            is out of reach (0-1; the lanes' shares sum to at most 1). With the schedule, any lane
            uses whatever rate the others leave idle (`handlers.scheduling.schedule`).
        urgent: the lane books send slots ahead of every lane that is not urgent (alerts).
        reserved: reserve the lane's concurrency, so other functions can never starve it.
        delivery: what the lane does with an email whose outcome is unknown (SES never answered,
            or a function died mid-send): dead-letter it (at most once) or send it again (at
            least once). See `handlers.shared.settings.Delivery`.
    """

    name: str
    handler: str
    rate_share: float
    batch_size: int = 10
    batching_window_seconds: int = 1
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    reserved: bool = False
    delivery: Delivery = Delivery.AT_MOST_ONCE
    urgent: bool = False


DEFAULT_LANES: tuple[LaneConfig, ...] = (
    LaneConfig("normal", "handlers.templated.handler", rate_share=0.7),
    # An on-call alert twice beats none; a receipt twice is a complaint.
    LaneConfig("priority", PRIORITY_HANDLER, rate_share=0.3, batch_size=5, batching_window_seconds=0,
               reserved=True, delivery=Delivery.AT_LEAST_ONCE, urgent=True),
)


def lane_max_concurrency(account_send_rate: float, lane: LaneConfig, send_latency_seconds: float) -> int:
    """How many instances a lane may run: enough for it alone to use the whole send rate R.

    An instance sends its batch in parallel, each email at its slot, so it handles `batch_size`
    emails every batch_size / R + latency + overhead seconds; n instances keep up with R when
    n >= 1 + R x (latency + overhead) / batch_size. Never below the SQS minimum of 2. More would
    only wait for slots, and Lambda bills the wait.
    """
    busy = send_latency_seconds + BATCH_OVERHEAD_SECONDS
    needed = 1 + math.ceil(account_send_rate * busy / lane.batch_size)
    return max(MIN_EVENT_SOURCE_CONCURRENCY, needed)


def visibility_timeout(function_timeout_seconds: int) -> int:
    """The lane queue's visibility timeout for a function timeout (see VISIBILITY_TIMEOUT_FACTOR)."""
    return VISIBILITY_TIMEOUT_FACTOR * function_timeout_seconds


def idempotency_ttl(function_timeout_seconds: int, max_receive_count: int, replay_window_days: int) -> int:
    """Seconds to remember a sent event: longer than any way it can come back.

    A message can return up to `max_receive_count` times, each after at most the longer of the
    visibility timeout and the handlers' own retry delay; an archive replay can bring back events
    from the whole retention window. One day of margin on top.
    """
    redelivery = max(visibility_timeout(function_timeout_seconds), HANDLER_MAX_RETRY_DELAY_SECONDS) * max_receive_count
    return max(redelivery, replay_window_days * 86_400) + 86_400


@dataclass
class EmailSenderArgs:
    """Inputs of an EmailSender.

    Args:
        sender: the From header, e.g. `Acme <no-reply@mail.acme.com>`.
        identity: the SES identity to create: a domain (Easy DKIM) or a single address (sandbox).
        recipient_hash_key: per-stack secret keying the recipient hashes in logs.
        account_send_rate: the SES account's max send rate (emails per second) that lanes share.
            The handlers follow the live rate (GetAccount); this one sizes the lanes' concurrency.
        send_latency_ms: SES SendEmail's latency, which the lanes' concurrency is derived from.
        account_concurrency: the account's Lambda concurrency limit; the stack's functions must fit.
        tracing: the functions' X-Ray mode. `PassThrough` traces what producers trace (a message
            whose trace header is sampled); `Active` samples every function (the first invocation
            each second and 5% of the rest), about 9% more infrastructure cost at 14 emails/s.
        protect_state_table: DynamoDB deletion protection on the stack's table; turn it
            off on stacks you destroy and recreate freely.
        reserve_concurrency: reserve the concurrency of lanes marked `reserved` (the priority lane).
            AWS keeps 100 executions unreserved per account, so new accounts, whose limit is
            often 10, must turn this off.
    """

    sender: str
    identity: str
    recipient_hash_key: pulumi.Input[str]
    account_send_rate: float = 1.0
    send_latency_ms: int = DEFAULT_SEND_LATENCY_MS
    account_concurrency: int = 1000
    tracing: str = "PassThrough"
    lanes: Sequence[LaneConfig] = DEFAULT_LANES
    report_recipients: Sequence[str] = ()
    oncall_recipients: Sequence[str] = ()
    recipient_allowlist: Sequence[str] = ()
    reply_to: Sequence[str] = ()
    default_template: str = "notification"
    templates_dir: str = field(default_factory=lambda: _bundled("templates"))
    handlers_dir: str = field(default_factory=lambda: _bundled("handlers"))
    build_dir: str = "build"
    function_timeout_seconds: int = 60
    memory_mb: int = 256
    log_retention_days: int = 30
    queue_retention_seconds: int = 345_600
    dead_letter_retention_seconds: int = 1_209_600
    replay_window_days: int = 30
    reserve_concurrency: bool = True
    protect_state_table: bool = True
    metrics_namespace: str = DEFAULT_NAMESPACE
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check every argument AWS or the handlers would refuse later, all at once.

        Raises:
            InvalidArgs: listing each problem with the argument it is about.
        """
        raise_if_any("EmailSenderArgs", [
            *sender_problems(self.sender, self.identity),
            *address_problems("report_recipients", self.report_recipients),
            *address_problems("oncall_recipients", self.oncall_recipients),
            *address_problems("reply_to", self.reply_to),
            *self._number_problems(),
            *_lane_problems(self),
            *self._template_problems(),
        ])

    def lane_concurrency(self, lane: LaneConfig) -> int:
        """The lane's maximum concurrency (see `lane_max_concurrency`)."""
        return lane_max_concurrency(self.account_send_rate, lane, self.send_latency_ms / 1000)

    def _number_problems(self) -> list[Problem]:
        problems = []
        if self.account_send_rate <= 0:
            problems.append(Problem("account_send_rate", "must be a positive number (emails per second)"))
        if self.tracing not in TRACING_MODES:
            problems.append(Problem("tracing", f"must be one of {', '.join(TRACING_MODES)} (Lambda's X-Ray modes)"))
        if not 1 <= self.send_latency_ms <= 15_000:
            problems.append(Problem("send_latency_ms", "must be between 1 and 15000 (SendEmail's worst case)"))
        if self.log_retention_days not in RETENTION_DAYS:
            problems.append(Problem("log_retention_days", f"{self.log_retention_days} is not a CloudWatch "
                                                          f"retention; use one of {RETENTION_DAYS}"))
        if not 1 <= self.function_timeout_seconds <= 900:
            problems.append(Problem("function_timeout_seconds", "must be between 1 and 900 (Lambda's limit)"))
        if self.dead_letter_retention_seconds <= self.queue_retention_seconds:
            problems.append(Problem("dead_letter_retention_seconds",
                                    "must exceed queue_retention_seconds, or dead letters expire before their lane"))
        return problems

    def _template_problems(self) -> list[Problem]:
        """The default template and the report's must ship, or sends fail at runtime, not at preview."""
        try:
            names = {template.name for template in discover(Path(self.templates_dir))}
        except (FileNotFoundError, OSError) as exc:
            return [Problem("templates_dir", str(exc))]
        return [Problem("templates_dir", f"has no {needed!r} template folder ({role}); add "
                                         f"templates/{needed}/v1/ or copy it from the package")
                for needed, role in ((self.default_template, "default_template"),
                                     (catalog.REPORT_TEMPLATE, "the daily report"))
                if needed not in names]


class EmailSender(pulumi.ComponentResource):
    """Everything that turns a queued event into a sent email.

    Creates:
    - the SES v2 email identity (domain with Easy DKIM, or one address for sandbox stacks);
    - a configuration set (reputation metrics, TLS required, BOUNCE and COMPLAINT suppression)
      publishing send, delivery, bounce, complaint, reject and rendering-failure events to the
      default EventBridge bus (the only bus SES publishes to), and a rule there forwarding the
      failures to a log group, where they sit beside the send logs;
    - one SES template per version under `templates/`, stack-prefixed so stacks never collide;
    - per lane: an encrypted SQS queue and DLQ (redrive after `max_receive_count`), a function,
      its log group and role, and an event source mapping with partial batch responses and a
      maximum concurrency derived from the lane's share of the send rate;
    - the daily report function, with a failure destination queue for failed invocations;
    - the stack's state table (send claims and batch records, the send schedule, status
      records: logical name `<name>-idempotency`, its first role), and one dependency layer shared
      by the functions.
    """

    identity_arn: pulumi.Output[str]
    configuration_set_name: pulumi.Output[str]
    dkim_tokens: pulumi.Output[list[str]]
    lane_queue_arns: pulumi.Output[dict[str, str]]
    lane_queue_urls: pulumi.Output[dict[str, str]]
    lane_queue_names: pulumi.Output[dict[str, str]]
    lane_dead_letter_queue_urls: pulumi.Output[dict[str, str]]
    lane_dead_letter_queue_names: pulumi.Output[dict[str, str]]
    function_names: pulumi.Output[dict[str, str]]
    log_group_names: pulumi.Output[dict[str, str]]
    report_function_arn: pulumi.Output[str]
    report_failure_queue_name: pulumi.Output[str]
    state_table_name: pulumi.Output[str]

    def __init__(self, name: str, args: EmailSenderArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        template_files = discover(Path(args.templates_dir))
        _check_name_lengths(name, args, template_files)
        super().__init__("email-pipeline:index:EmailSender", name, None, opts)
        self._name = name
        self._args = args
        self._tags = dict(args.tags)
        self._child = pulumi.ResourceOptions(parent=self)
        self._account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        self._region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        self._partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self)).partition

        shared = _Shared(
            identity=self._build_identity(),
            config_set=self._build_configuration_set(),
            templates=self._build_templates(template_files),
            template_catalog=catalog.to_json(deployed_catalog(template_files, name)),
            table=self._build_state_table(),
            layer=self._build_layer(),
            code=self._build_code_archive(),
        )
        #: What another component needs to add a function of this stack (`DeliveryStatus`).
        self.runtime = HandlerRuntime(
            stack=name, code=shared.code, layer_arn=shared.layer.arn, table_arn=shared.table.arn, table_name=shared.table.name,
            environment=self._common_environment(shared), timeout_seconds=args.function_timeout_seconds,
            memory_mb=args.memory_mb, log_retention_days=args.log_retention_days, tracing=args.tracing,
            tags=self._tags, account_send_rate=args.account_send_rate, account_concurrency=args.account_concurrency,
            concurrency_in_use=sum(args.lane_concurrency(lane) for lane in args.lanes))
        lanes = {lane.name: self._build_lane(lane, shared) for lane in args.lanes}
        report = self._build_report(shared, lanes)
        identity, config_set, table = shared.identity, shared.config_set, shared.table

        self.identity_arn = identity.arn
        self.configuration_set_name = config_set.configuration_set_name
        self.dkim_tokens = identity.dkim_signing_attributes.apply(lambda d: list(d.tokens or []) if d else [])
        self.lane_queue_arns = pulumi.Output.all(**{n: lane.queue.arn for n, lane in lanes.items()})
        self.lane_queue_urls = pulumi.Output.all(**{n: lane.queue.url for n, lane in lanes.items()})
        self.lane_queue_names = pulumi.Output.all(**{n: lane.queue.name for n, lane in lanes.items()})
        self.lane_dead_letter_queue_urls = pulumi.Output.all(**{n: lane.dlq.url for n, lane in lanes.items()})
        self.lane_dead_letter_queue_names = pulumi.Output.all(**{n: lane.dlq.name for n, lane in lanes.items()})
        self.function_names = pulumi.Output.all(
            **{n: lane.function.name for n, lane in lanes.items()}, report=report.function.name)
        self.log_group_names = pulumi.Output.all(
            **{n: lane.log_group.name for n, lane in lanes.items()}, report=report.log_group.name)
        self.report_function_arn = report.function.arn
        self.report_failure_queue_name = report.failure_queue.name
        self.state_table_name = table.name
        self.register_outputs({
            "identity_arn": self.identity_arn,
            "configuration_set_name": self.configuration_set_name,
            "dkim_tokens": self.dkim_tokens,
            "lane_queue_arns": self.lane_queue_arns,
            "lane_queue_urls": self.lane_queue_urls,
            "lane_queue_names": self.lane_queue_names,
            "lane_dead_letter_queue_urls": self.lane_dead_letter_queue_urls,
            "lane_dead_letter_queue_names": self.lane_dead_letter_queue_names,
            "function_names": self.function_names,
            "log_group_names": self.log_group_names,
            "report_function_arn": self.report_function_arn,
            "report_failure_queue_name": self.report_failure_queue_name,
            "state_table_name": self.state_table_name,
        })

    # --- SES ---------------------------------------------------------------------------------

    def _build_identity(self) -> aws.sesv2.EmailIdentity:
        is_domain = "@" not in self._args.identity
        return aws.sesv2.EmailIdentity(
            f"{self._name}-identity",
            email_identity=self._args.identity,
            dkim_signing_attributes={"next_signing_key_length": "RSA_2048_BIT"} if is_domain else None,
            tags=self._tags,
            opts=self._child,
        )

    def _build_configuration_set(self) -> aws.sesv2.ConfigurationSet:
        config_set = aws.sesv2.ConfigurationSet(
            f"{self._name}-config-set",
            configuration_set_name=self._name,
            reputation_options={"reputation_metrics_enabled": True},
            delivery_options={"tls_policy": "REQUIRE"},
            suppression_options={"suppressed_reasons": ["BOUNCE", "COMPLAINT"]},
            sending_options={"sending_enabled": True},
            tags=self._tags,
            opts=self._child,
        )
        default_bus = pulumi.Output.concat(
            "arn:", self._partition, ":events:", self._region, ":", self._account, ":event-bus/default")
        aws.sesv2.ConfigurationSetEventDestination(
            f"{self._name}-ses-events",
            configuration_set_name=config_set.configuration_set_name,
            event_destination_name="eventbridge",
            event_destination={
                "enabled": True,
                "matching_event_types": list(SES_EVENT_TYPES),
                "event_bridge_destination": {"event_bus_arn": default_bus},
            },
            opts=self._child,
        )
        self._forward_ses_failures(config_set)
        return config_set

    def _forward_ses_failures(self, config_set: aws.sesv2.ConfigurationSet) -> None:
        """Keep SES's bounce, complaint, reject and rendering-failure events, queryable by message id."""
        log_group = self._log_group(f"{self._name}-ses-feedback-logs", f"/aws/events/{self._name}-ses-feedback")
        rule = aws.cloudwatch.EventRule(
            f"{self._name}-ses-feedback",
            description="SES events of this stack that mean a message did not arrive",
            event_pattern=pulumi.Output.json_dumps({
                "source": ["aws.ses"],
                "detail-type": list(FORWARDED_SES_DETAIL_TYPES),
                "detail": {"mail": {"tags": {"ses:configuration-set": [config_set.configuration_set_name]}}},
            }),
            tags=self._tags,
            opts=self._child,
        )
        # Only PutLogEvents carries the rule as its source: EventBridge creates the log stream
        # without it, so a condition on CreateLogStream refuses every delivery. AWS's own
        # EventBridge-to-CloudWatch-Logs pattern was fixed the same way (aws-samples/serverless-
        # patterns#618); it cannot be tried offline.
        streams = pulumi.Output.concat(log_group.arn, ":*")
        principal = {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]}
        aws.cloudwatch.LogResourcePolicy(
            f"{self._name}-ses-feedback-policy",
            policy_name=f"{self._name}-ses-feedback",
            policy_document=pulumi.Output.json_dumps({
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "CreateStreams", "Effect": "Allow", "Principal": principal,
                     "Action": "logs:CreateLogStream", "Resource": streams},
                    {"Sid": "PutEventsOfTheRule", "Effect": "Allow", "Principal": principal,
                     "Action": "logs:PutLogEvents", "Resource": streams,
                     "Condition": {"ArnEquals": {"aws:SourceArn": rule.arn}}},
                ],
            }),
            opts=self._child,
        )
        aws.cloudwatch.EventTarget(
            f"{self._name}-ses-feedback-target", rule=rule.name, arn=log_group.arn,
            input_transformer={"input_paths": {**SES_FEEDBACK_FIELDS, "time": "$.time"},
                               "input_template": ses_feedback_template()},
            opts=self._child)

    def _build_templates(self, template_files: Sequence[TemplateFiles]) -> dict[str, aws.ses.Template]:
        """One SES template per version folder; the handlers get the catalog in their environment."""
        return {
            template.deployed_name(self._name): aws.ses.Template(
                f"{self._name}-template-{template.name}-{template.version}",
                name=template.deployed_name(self._name),
                subject=template.subject,
                html=template.html,
                text=template.text,
                opts=self._child,
            )
            for template in template_files
        }

    # --- shared runtime pieces ---------------------------------------------------------------

    @property
    def idempotency_table_name(self) -> pulumi.Output[str]:
        """The state table's name under its first name (it held only send claims then); use `state_table_name`."""
        return self.state_table_name

    def _build_state_table(self) -> aws.dynamodb.Table:
        return aws.dynamodb.Table(
            f"{self._name}-idempotency",
            billing_mode="PAY_PER_REQUEST",
            hash_key="id",
            attributes=[{"name": "id", "type": "S"}],
            ttl={"attribute_name": "expiration", "enabled": True},
            server_side_encryption={"enabled": True},
            point_in_time_recovery={"enabled": True},
            # Losing it would forget which events were sent: a redrive or replay would send them again.
            deletion_protection_enabled=self._args.protect_state_table,
            tags=self._tags,
            opts=self._child,
        )

    def _build_layer(self) -> aws.lambda_.LayerVersion:
        archive = build_layer_zip(Path(self._args.handlers_dir) / "requirements.txt", Path(self._args.build_dir))
        return aws.lambda_.LayerVersion(
            f"{self._name}-dependencies",
            layer_name=f"{self._name}-dependencies",
            code=pulumi.FileArchive(str(archive)),
            source_code_hash=sha256_base64(archive),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            opts=self._child,
        )

    def _build_code_archive(self) -> Path:
        return build_handler_zip(Path(self._args.handlers_dir), Path(self._args.build_dir) / "handlers.zip")

    # --- lanes and functions -----------------------------------------------------------------

    def _build_lane(self, lane: LaneConfig, shared: _Shared) -> _Lane:
        label = f"{self._name}-{lane.name}"
        dlq = self._failure_queue(f"{label}-dlq")
        queue = aws.sqs.Queue(
            f"{label}-queue",
            name=f"{label}-queue",
            sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=visibility_timeout(self._args.function_timeout_seconds),
            message_retention_seconds=self._args.queue_retention_seconds,
            redrive_policy=pulumi.Output.json_dumps(
                {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": lane.max_receive_count}),
            tags=self._tags,
            opts=self._child,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{label}-dlq-redrive-allow",
            queue_url=dlq.url,
            redrive_allow_policy=pulumi.Output.json_dumps(
                {"redrivePermission": "byQueue", "sourceQueueArns": [queue.arn]}),
            opts=self._child,
        )
        concurrency = self._args.lane_concurrency(lane)
        environment = {
            Env.LANE: lane.name,
            Env.QUEUE_URL: queue.url,
            Env.DEAD_LETTER_QUEUE_URL: dlq.url,
            Env.MAX_RECEIVE_COUNT: str(lane.max_receive_count),
            Env.LANE_RATE_SHARE: str(lane.rate_share),
            Env.LANE_MAX_CONCURRENCY: str(concurrency),
            Env.LANE_DELIVERY: lane.delivery.value,
            Env.LANE_URGENT: "true" if lane.urgent else "false",
            Env.RECORD_TTL_SECONDS: str(idempotency_ttl(
                self._args.function_timeout_seconds, lane.max_receive_count, self._args.replay_window_days)),
        }
        statements = [
            _allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility"], [queue.arn]),
            _allow(["sqs:SendMessage"], [dlq.arn]),
            _ses_send(shared, list(shared.templates.values()), self._recipient_identity_arns()),
        ]
        function, log_group, role_policy = self._build_function(
            lane.name, lane.handler, shared, environment, statements,
            reserved=concurrency if lane.reserved and self._args.reserve_concurrency else None,
        )
        aws.lambda_.EventSourceMapping(
            f"{label}-source",
            event_source_arn=queue.arn,
            function_name=function.arn,
            batch_size=lane.batch_size,
            maximum_batching_window_in_seconds=lane.batching_window_seconds,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": concurrency},
            # Lambda checks the role can receive from the queue when the mapping is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        return _Lane(queue, dlq, function, log_group)

    def _build_report(self, shared: _Shared, lanes: Mapping[str, _Lane]) -> _Report:
        failures = self._failure_queue(f"{self._name}-report-failures")
        report_templates = [t for deployed, t in shared.templates.items() if "-daily-report-" in deployed]
        environment = {
            Env.LANE: "report",
            Env.RECORD_TTL_SECONDS: str(3 * 86_400),
            Env.REPORT_LANES: pulumi.Output.json_dumps([
                {"name": n, "queueUrl": lane.queue.url, "deadLetterQueueUrl": lane.dlq.url}
                for n, lane in lanes.items()
            ]),
        }
        statements = [
            _ses_send(shared, report_templates, self._recipient_identity_arns()),
            # GetMetricData has no resource-level permissions: AWS accepts only "*".
            _allow(["cloudwatch:GetMetricData"], ["*"]),
            _allow(["sqs:SendMessage"], [failures.arn]),
        ]
        function, log_group, role_policy = self._build_function(
            "report", "handlers.report.handler", shared, environment, statements)
        aws.lambda_.FunctionEventInvokeConfig(
            f"{self._name}-report-async",
            function_name=function.name,
            maximum_retry_attempts=2,
            destination_config={"on_failure": {"destination": failures.arn}},
            # Lambda checks the role can send to the destination when the config is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        return _Report(function, log_group, failures)

    def _build_function(
        self, label: str, handler: str, shared: _Shared, environment: Mapping[str, pulumi.Input[str]],
        statements: list[Mapping[str, Any]], reserved: int | None = None,
    ) -> tuple[aws.lambda_.Function, aws.cloudwatch.LogGroup, aws.iam.RolePolicy]:
        common = [
            _allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                   [shared.table.arn]),
            # GetAccount (the send rate and quota) has no resource-level permissions: only "*".
            _allow(["ses:GetAccount"], ["*"]),
        ]
        built = handler_function(f"{self._name}-{label}", handler, self.runtime, environment=environment,
                                 statements=common + statements, parent=self, reserved=reserved)
        return built.function, built.log_group, built.role_policy

    def _recipient_identity_arns(self) -> list[pulumi.Output[str]]:
        """The identities of everyone a sandbox stack may send to (allowlist and report recipients).

        In the SES sandbox, SendEmail is also authorized against each recipient's identity ARN, and
        recipients must be verified identities. AWS does not document the IAM half outright; field
        reports show it (aws/aws-sdk-js#3641: "not authorized to perform ses:SendTemplatedEmail on
        resource ...:identity/<recipient>"). A production stack has no allowlist and needs none.
        """
        if not self._args.recipient_allowlist:
            return []
        # SES's mailbox simulator passes the sandbox and every allowlist (`handlers.shared.simulator`); its
        # domain is named too, in case IAM checks its identity as it checks the others'.
        names = dict.fromkeys(entry.lower().lstrip("@") for entry in
                              [*self._args.recipient_allowlist, *self._args.report_recipients, SIMULATOR_DOMAIN])
        return [pulumi.Output.concat("arn:", self._partition, ":ses:", self._region, ":", self._account,
                                     ":identity/", name) for name in names]

    def _failure_queue(self, name: str) -> aws.sqs.Queue:
        """Kept longer than any work queue so nothing expires first; the functions write with their roles."""
        return failure_queue(name, retention_seconds=self._args.dead_letter_retention_seconds, tags=self._tags,
                             parent=self).queue

    def _log_group(self, resource_name: str, path: str) -> aws.cloudwatch.LogGroup:
        """Every log group is declared, so it has the stack's retention (not "never expire")."""
        return aws.cloudwatch.LogGroup(
            resource_name, name=path, retention_in_days=self._args.log_retention_days, tags=self._tags,
            opts=self._child,
        )

    def _common_environment(self, shared: _Shared) -> dict[str, pulumi.Input[str]]:
        args = self._args
        return {
            Env.STACK: self._name,
            Env.SENDER: args.sender,
            Env.CONFIGURATION_SET: self._name,
            Env.RECIPIENT_HASH_KEY: args.recipient_hash_key,
            Env.TEMPLATES: shared.template_catalog,
            Env.DEFAULT_TEMPLATE: args.default_template,
            Env.REPLY_TO: ",".join(args.reply_to),
            Env.RECIPIENT_ALLOWLIST: ",".join(args.recipient_allowlist),
            Env.ONCALL_RECIPIENTS: ",".join(args.oncall_recipients),
            Env.REPORT_RECIPIENTS: ",".join(args.report_recipients),
            Env.ACCOUNT_SEND_RATE: str(args.account_send_rate),
            Env.STATE_TABLE: shared.table.name,
            Env.METRICS_NAMESPACE: args.metrics_namespace,
            Env.HALT_DELAY_SECONDS: str(HANDLER_MAX_RETRY_DELAY_SECONDS),
        }


@dataclass(frozen=True)
class _Shared:
    """What every function of the sender builds on: made once, handed to each builder."""

    identity: aws.sesv2.EmailIdentity
    config_set: aws.sesv2.ConfigurationSet
    templates: Mapping[str, aws.ses.Template]  # by deployed name
    template_catalog: str  # the handlers' `EMAIL_TEMPLATES`
    table: aws.dynamodb.Table
    layer: aws.lambda_.LayerVersion
    code: Path


@dataclass(frozen=True)
class _Lane:
    queue: aws.sqs.Queue
    dlq: aws.sqs.Queue
    function: aws.lambda_.Function
    log_group: aws.cloudwatch.LogGroup


@dataclass(frozen=True)
class _Report:
    function: aws.lambda_.Function
    log_group: aws.cloudwatch.LogGroup
    failure_queue: aws.sqs.Queue


#: Pulumi's autonaming appends a dash and 7 random characters to a logical name.
_AUTONAME_SUFFIX = 8


def _lane_problems(args: EmailSenderArgs) -> list[Problem]:
    """Lanes share one send rate: names, shares, batches, receives, and whether a batch fits a call."""
    problems = []
    names = [lane.name for lane in args.lanes]
    if len(set(names)) != len(names):
        problems.append(Problem("lanes", "lane names repeat; each names a queue and a function"))
    total = sum(lane.rate_share for lane in args.lanes)
    if total > 1 + 1e-9:
        problems.append(Problem("lanes", f"shares sum to {total:g}; they split one send rate and must sum to at most 1"))
    for lane in args.lanes:
        where = f"lanes.{lane.name}"
        if not _LANE_NAME.match(lane.name):
            problems.append(Problem(f"{where}.name", "lane names use a-z, 0-9 and '-' (at most 20)"))
        if lane.name in RESERVED_LANE_NAMES:
            problems.append(Problem(f"{where}.name", f"{lane.name!r} is taken by {RESERVED_LANE_NAMES[lane.name]}, "
                                                     "whose function and queues share the lanes' names; name the lane "
                                                     "differently"))
        if lane.rate_share <= 0:
            problems.append(Problem(f"{where}.rate_share", "must be above 0, or the lane never sends"))
            continue
        if lane.batch_size not in _BATCH_SIZES:
            problems.append(Problem(f"{where}.batch_size", f"{lane.batch_size} must be between 1 and 10"))
        if lane.max_receive_count < MIN_MAX_RECEIVE_COUNT:
            problems.append(Problem(f"{where}.max_receive_count", f"{lane.max_receive_count} is too low to ride out "
                                                                  f"a 10-minute throttle; use {MIN_MAX_RECEIVE_COUNT} or more"))
        if args.account_send_rate > 0:
            problems += _batch_time_problems(args, lane)
    return problems + _concurrency_problems(args)


#: Lambda keeps this much of an account's concurrency unreserved (PutFunctionConcurrency refuses more).
UNRESERVED_MINIMUM = 100


def _concurrency_problems(args: EmailSenderArgs) -> list[Problem]:
    """The lanes' instances must fit the account's Lambda concurrency, and reservations must leave 100."""
    if args.account_send_rate <= 0 or not 1 <= args.send_latency_ms <= 15_000 or \
            any(lane.batch_size not in _BATCH_SIZES for lane in args.lanes):
        return []  # reported on their own
    problems = []
    total = sum(args.lane_concurrency(lane) for lane in args.lanes)
    if total > args.account_concurrency:
        problems.append(Problem("account_concurrency", (
            f"at {args.account_send_rate:g} emails/s the lanes run up to {total} instances, more than the account's "
            f"{args.account_concurrency}; request a higher Lambda concurrency quota and set it here")))
    reserved = sum(args.lane_concurrency(lane) for lane in args.lanes if lane.reserved) if args.reserve_concurrency \
        else 0
    if reserved and reserved > args.account_concurrency - UNRESERVED_MINIMUM:
        problems.append(Problem("reserve_concurrency", (
            f"reserving {reserved} executions leaves fewer than the {UNRESERVED_MINIMUM} Lambda keeps unreserved of "
            f"{args.account_concurrency}; turn reservation off or raise the account's concurrency")))
    return problems


def _batch_time_problems(args: EmailSenderArgs, lane: LaneConfig) -> list[Problem]:
    """A batch must be paced out within the time a call keeps for sending (its timeout less one send's worst case).

    The slowest pacing is the fallback without the send schedule: the lane's share of the rate,
    split across its instances (`handlers.scheduling.pacing`).
    """
    per_instance = args.account_send_rate * lane.rate_share / args.lane_concurrency(lane)
    # Pacing charges per recipient: at least one per event, plus the on-call list the priority lane adds.
    recipients = 1 + (len(args.oncall_recipients) if lane.handler == PRIORITY_HANDLER else 0)
    seconds = lane.batch_size * recipients / per_instance
    available = args.function_timeout_seconds - SEND_RESERVE_SECONDS
    if seconds <= available:
        return []
    return [Problem(f"lanes.{lane.name}", (
        f"at {per_instance:g} recipients/s per instance a batch of {lane.batch_size} (at least {recipients} "
        f"recipient(s) each) takes {seconds:g} s, more than the {available:g} s a {args.function_timeout_seconds} s "
        "function has for sending; raise the account send rate or the lane's share, lower its batch size, or raise "
        "the function timeout"))]


def _check_name_lengths(name: str, args: EmailSenderArgs, template_files: Sequence[TemplateFiles]) -> None:
    """Physical names derive from `name`; AWS caps them, so a long stack name fails at preview.

    Raises:
        ValueError: naming the first name that is too long, its limit, and what to shorten.
    """
    labels = [lane.name for lane in args.lanes] + ["report"]
    limits = [(name, 64, "SES configuration set"), (f"{name}-dependencies", 140, "Lambda layer"),
              (f"{name}-ses-feedback", 64 - _AUTONAME_SUFFIX, "EventBridge rule (autonamed)"),
              (f"{name}-report-failures", 80, "SQS queue")]
    for label in labels:
        limits += [(f"{name}-{label}", 64, "Lambda function"), (f"{name}-{label}-role", 64 - _AUTONAME_SUFFIX,
                                                                "IAM role (autonamed)")]
    for lane in args.lanes:
        limits += [(f"{name}-{lane.name}-queue", 80, "SQS queue"), (f"{name}-{lane.name}-dlq", 80, "SQS queue")]
    limits += [(template.deployed_name(name), 64, "SES template") for template in template_files]
    for physical, limit, kind in limits:
        if len(physical) > limit:
            raise ValueError(f"{kind} name {physical!r} is {len(physical)} characters, more than the {limit} AWS "
                             f"allows; shorten the component name {name!r} (it carries the project and stack)")


def ses_feedback_template() -> str:
    """The input template writing one SES event as a JSON log line of `SES_FEEDBACK_FIELDS` only.

    EventBridge requires `{"timestamp": ..., "message": ...}` of an input transformer whose target
    is a log group (EventBridge User Guide, "Targets": CloudWatch Logs); the message is itself
    JSON, so Logs Insights discovers its fields. Not verifiable offline: moto applies the template
    but does not check its form.
    """
    message = ",".join(f'\\"{name}\\":\\"<{name}>\\"' for name in SES_FEEDBACK_FIELDS)
    return '{"timestamp":"<time>","message":"{' + message + '}"}'


def _ses_send(
    shared: _Shared, templates: Sequence[aws.ses.Template], recipients: Sequence[pulumi.Input[str]] = ()
) -> dict[str, Any]:
    """SendEmail on exactly the identity, the configuration set, the templates used (and the sandbox's recipients).

    Naming the configuration set means a compromised function cannot send around the event
    publishing and suppression it enforces; naming the identity, that it cannot send as anyone else.
    """
    return _allow(["ses:SendEmail"],
                  [shared.identity.arn, shared.config_set.arn, *[t.arn for t in templates], *recipients])


def _bundled(subpackage: str) -> str:
    """Where the package's own handlers or templates are, installed or in this repository."""
    spec = importlib.util.find_spec(f"{__package__}.{subpackage}")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{__package__}.{subpackage} is not installed")
    return str(next(iter(spec.submodule_search_locations)))


__all__ = ["DEFAULT_LANES", "EmailSender", "EmailSenderArgs", "LaneConfig"]
