"""EmailSender: the component that turns a queued event into a sent email, and triggers the daily report.

It declares the resources and wires them; what they are made of lives beside it: the lanes and
their sizing (`lanes`), the arguments and their checks (`sender_args`), the SES identity,
templates and configuration set (`ses_setup`), the report's schedule (`report_schedule`), the
functions (`functions`) and the IAM statements of their roles (`iam`). The role statements each
function gets are listed here, in `_build_lane`, `_build_report` and `_build_function`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from . import contact_list, ses_setup
from .checks import raise_if_any
from .event_router import TYPE_TOKEN as EVENT_ROUTER_TYPE
from .functions import ARCHITECTURE, RUNTIME, HandlerRuntime, handler_function, sha256_base64
from .handlers.shared import catalog
from .handlers.shared.settings import Env
from .handlers.shared.simulator import SIMULATOR_DOMAIN
from .iam import (
    METRIC_DATA_STATEMENT,
    SES_ACCOUNT_STATEMENT,
    allow,
    recipient_identity_arns,
    ses_send_statement,
    state_table_statement,
)
# Some of these are imported from here too (bench/burst.py, tests/handlers): see `__all__`.
from .lanes import (
    BATCH_OVERHEAD_SECONDS,
    DEFAULT_LANES,
    HANDLER_MAX_RETRY_DELAY_SECONDS,
    LaneConfig,
    idempotency_ttl,
    lane_max_concurrency,
    visibility_timeout,
)
from .name_limits import NameLimit, name_problems
from .packaging import build_layer_zip
from .queues import failure_queue
from .report_schedule import ReportSchedule, report_schedule
from .report_schedule import name_limits as report_schedule_name_limits
from .sender_args import EmailSenderArgs
from .sender_args import _bundled as _bundled  # noqa: F401  (tests/test_package.py imports it from here)
from .template_check import check_templates
from .template_files import TemplateFiles, deployed_catalog, discover

TYPE_TOKEN = "email-pipeline:index:EmailSender"
REPORT_HANDLER = "handlers.report.handler"


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
    - the daily report function, with a failure destination queue for failed invocations, and
      (unless `report_schedule` is None) the EventBridge Scheduler schedule that invokes it with
      its scheduled time, its dead-letter queue and the role Scheduler assumes;
    - the stack's state table (send claims and batch records, the send schedule, status
      records: logical name `<name>-idempotency`, its first role), and, when
      `handlers/requirements.txt` lists a dependency (it lists none: the handlers need only the
      runtime's botocore), one dependency layer shared by the functions.
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
    report_schedule_name: pulumi.Output[str | None]
    report_schedule_dead_letter_queue_name: pulumi.Output[str | None]
    state_table_name: pulumi.Output[str]

    def __init__(self, name: str, args: EmailSenderArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        """Declare the sender.

        Args:
            name: prefix of every child's logical and physical name; it should carry the stack.
            args: the sender's settings, already checked (`EmailSenderArgs`).
            opts: standard Pulumi resource options.

        Raises:
            InvalidArgs: a physical name derived from `name` is longer than AWS allows. Raised
                before anything is declared.
        """
        template_files = discover(Path(args.templates_dir))
        raise_if_any(f"EmailSender {name!r}", name_problems(name, _name_limits(name, args, template_files)))
        super().__init__(TYPE_TOKEN, name, None, opts)
        for warning in (p for p in check_templates(Path(args.templates_dir)) if p.severity == "warning"):
            pulumi.log.warn(str(warning), resource=self)  # errors stopped EmailSenderArgs already
        self._name = name
        self._args = args
        self._tags = dict(args.tags)
        self._child = pulumi.ResourceOptions(parent=self)
        self._account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self)).account_id
        self._region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self)).region
        self._partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self)).partition

        default_bus = pulumi.Output.concat(
            "arn:", self._partition, ":events:", self._region, ":", self._account, ":event-bus/default")
        shared = _Shared(
            identity=ses_setup.email_identity(name, args.identity, tags=self._tags, parent=self),
            config_set=ses_setup.configuration_set(name, default_bus_arn=default_bus,
                                                   log_retention_days=args.log_retention_days, tags=self._tags,
                                                   parent=self),
            templates=ses_setup.templates(name, template_files, parent=self),
            template_catalog=catalog.to_json(deployed_catalog(template_files, name)),
            table=self._build_state_table(),
            layer=self._build_layer(),
        )
        #: What another component needs to add a function of this stack (`DeliveryStatus`).
        self.runtime = HandlerRuntime(
            stack=name, handlers_dir=Path(args.handlers_dir), build_dir=Path(args.build_dir),
            layer_arn=shared.layer.arn if shared.layer is not None else None,
            table_arn=shared.table.arn, table_name=shared.table.name,
            environment=self._common_environment(shared), timeout_seconds=args.function_timeout_seconds,
            memory_mb=args.memory_mb, log_retention_days=args.log_retention_days, tracing=args.tracing,
            tags=self._tags, account_send_rate=args.account_send_rate, account_concurrency=args.account_concurrency,
            concurrency_in_use=sum(args.lane_concurrency(lane) for lane in args.lanes))
        #: The contact list the lanes' topic sends name (None: the stack has no topics).
        self.contact_list_name: str | None = (args.contact_list or name) if args.topics else None
        if self.contact_list_name and args.manage_contact_list:
            contact_list.declare(name, self.contact_list_name, args.topics, self._tags, self)
        lanes = {lane.name: self._build_lane(lane, shared) for lane in args.lanes}
        report = self._build_report(shared, lanes)
        schedule = self._build_report_schedule(report, opts)
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
        self.report_schedule_name = schedule.schedule.name if schedule else pulumi.Output.from_input(None)
        self.report_schedule_dead_letter_queue_name = (
            schedule.dead_letter_queue.name if schedule else pulumi.Output.from_input(None))
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
            "report_schedule_name": self.report_schedule_name,
            "report_schedule_dead_letter_queue_name": self.report_schedule_dead_letter_queue_name,
            "state_table_name": self.state_table_name,
        })

    # --- shared runtime pieces ---------------------------------------------------------------

    @property
    def idempotency_table_name(self) -> pulumi.Output[str]:
        """The state table's name under its first name (it held only send claims then); use `state_table_name`."""
        return self.state_table_name

    def _build_state_table(self) -> aws.dynamodb.Table:
        """The stack's one table; its logical name is still its first role's, since renaming it would replace it."""
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

    def _build_layer(self) -> aws.lambda_.LayerVersion | None:
        """The handlers' dependency layer, when `handlers/requirements.txt` lists any (it lists none now)."""
        archive = build_layer_zip(Path(self._args.handlers_dir) / "requirements.txt", Path(self._args.build_dir))
        if archive is None:
            return None
        return aws.lambda_.LayerVersion(
            f"{self._name}-dependencies",
            layer_name=f"{self._name}-dependencies",
            code=pulumi.FileArchive(str(archive)),
            source_code_hash=sha256_base64(archive),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            opts=self._child,
        )

    # --- lanes, the report and their functions -----------------------------------------------

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
        if self.contact_list_name:
            environment[Env.CONTACT_LIST] = self.contact_list_name
            environment[Env.TOPICS] = contact_list.lane_settings(self._args.topics)
        statements = [
            allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                   "sqs:ChangeMessageVisibility"], [queue.arn]),
            allow(["sqs:SendMessage"], [dlq.arn]),
            self._ses_send(shared, list(shared.templates.values())),
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
            self._ses_send(shared, report_templates),
            METRIC_DATA_STATEMENT,
            allow(["sqs:SendMessage"], [failures.arn]),
        ]
        function, log_group, role_policy = self._build_function(
            "report", REPORT_HANDLER, shared, environment, statements)
        aws.lambda_.FunctionEventInvokeConfig(
            f"{self._name}-report-async",
            function_name=function.name,
            maximum_retry_attempts=2,
            destination_config={"on_failure": {"destination": failures.arn}},
            # Lambda checks the role can send to the destination when the config is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role_policy]),
        )
        return _Report(function, log_group, failures)

    def _build_report_schedule(self, report: _Report, opts: pulumi.ResourceOptions | None) -> ReportSchedule | None:
        """The daily trigger of the report function (`report_schedule`), unless the stack triggers it itself.

        Its resources were an `EventRouter`'s, and keep that router's URN as an alias: the router
        named like this sender and declared beside it (`opts.parent`), as `__main__.py` declares
        them. Under a router named otherwise the old schedule is deleted and this one created;
        their physical names differ, so both can exist in between.
        """
        args = self._args
        if args.report_schedule is None:
            return None
        router_urn = pulumi.create_urn(self._name, EVENT_ROUTER_TYPE, parent=opts.parent if opts else None)
        return report_schedule(
            self._name, function_arn=report.function.arn, expression=args.report_schedule,
            timezone=args.report_timezone, account_id=self._account,
            dead_letter_retention_seconds=args.dead_letter_retention_seconds, tags=self._tags, parent=self,
            previous_parent=router_urn,
        )

    def _build_function(
        self, label: str, handler: str, shared: _Shared, environment: Mapping[str, pulumi.Input[str]],
        statements: list[Mapping[str, Any]], reserved: int | None = None,
    ) -> tuple[aws.lambda_.Function, aws.cloudwatch.LogGroup, aws.iam.RolePolicy]:
        common = [state_table_statement(shared.table.arn), SES_ACCOUNT_STATEMENT]
        built = handler_function(f"{self._name}-{label}", handler, self.runtime, environment=environment,
                                 statements=common + statements, parent=self, reserved=reserved)
        return built.function, built.log_group, built.role_policy

    def _ses_send(self, shared: _Shared, templates: Sequence[aws.ses.Template]) -> dict[str, Any]:
        """SendEmail as this sender, through its configuration set, with `templates`, to the sandbox's recipients."""
        return ses_send_statement(shared.identity.arn, shared.config_set.arn, [t.arn for t in templates],
                                  self._recipient_identity_arns())

    def _recipient_identity_arns(self) -> list[pulumi.Output[str]]:
        """The identities of everyone a sandbox stack may send to (allowlist and report recipients).

        A production stack has no allowlist and needs none (`iam.recipient_identity_arns`).
        """
        if not self._args.recipient_allowlist:
            return []
        # SES's mailbox simulator passes the sandbox and every allowlist (`handlers.shared.simulator`); its
        # domain is named too, in case IAM checks its identity as it checks the others'.
        return recipient_identity_arns(
            [*self._args.recipient_allowlist, *self._args.report_recipients, SIMULATOR_DOMAIN],
            partition=self._partition, region=self._region, account=self._account)

    def _failure_queue(self, name: str) -> aws.sqs.Queue:
        """Kept longer than any work queue so nothing expires first; the functions write with their roles."""
        return failure_queue(name, retention_seconds=self._args.dead_letter_retention_seconds, tags=self._tags,
                             parent=self).queue

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
    layer: aws.lambda_.LayerVersion | None  # only when `handlers/requirements.txt` lists a dependency


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


def _name_limits(name: str, args: EmailSenderArgs, template_files: Sequence[TemplateFiles]) -> list[NameLimit]:
    """The physical names an EmailSender derives from `name`, with AWS's limits."""
    limits = [NameLimit(name, 64, "SES configuration set"), NameLimit(f"{name}-dependencies", 140, "Lambda layer"),
              *(NameLimit.autonamed(f"{name}-ses-{kind.label}", 64, "EventBridge rule")
                for kind in ses_setup.SES_FEEDBACK_KINDS.values()),
              NameLimit(f"{name}-report-failures", 80, "SQS queue")]
    for label in [lane.name for lane in args.lanes] + ["report"]:
        limits += [NameLimit(f"{name}-{label}", 64, "Lambda function"),
                   NameLimit.autonamed(f"{name}-{label}-role", 64, "IAM role")]
    for lane in args.lanes:
        limits += [NameLimit(f"{name}-{lane.name}-queue", 80, "SQS queue"),
                   NameLimit(f"{name}-{lane.name}-dlq", 80, "SQS queue")]
    limits += [NameLimit(template.deployed_name(name), 64, "SES template") for template in template_files]
    if args.report_schedule is not None:
        limits += report_schedule_name_limits(name)
    return limits


__all__ = [
    "BATCH_OVERHEAD_SECONDS", "DEFAULT_LANES", "EmailSender", "EmailSenderArgs", "LaneConfig", "idempotency_ttl",
    "lane_max_concurrency", "visibility_timeout",
]
