"""The email pipeline, per stack: EmailSender, EventRouter and Monitoring wired from stack config.

This is the only module that reads `pulumi.Config`. Settings are parsed and checked first
(`ses_email_pipeline.stack_config.parse`): a bad config stops the program before any resource exists.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_random as random
from pulumi.runtime import config as runtime_config

from ses_email_pipeline import (
    DeliveryStatus,
    DeliveryStatusArgs,
    EmailSender,
    EventRouter,
    EventRouterArgs,
    LaneQueue,
    Monitoring,
    MonitoringArgs,
    StatusWebhooks,
    StatusWebhooksArgs,
    WatchedFunction,
    WatchedLane,
)
from ses_email_pipeline.checks import InvalidArgs
from ses_email_pipeline.config_keys import key_problems
from ses_email_pipeline.handlers.shared.metrics import DEFAULT_NAMESPACE
from ses_email_pipeline import topic_webhook_config
from ses_email_pipeline.stack_config import ConfigErrors, parse

config = pulumi.Config()
# Each setting read with its type from Pulumi.yaml's schema; parse() checks the values.
readers = {
    "sender": config.get, "identity": config.get, "alarmEmail": config.get, "reportSchedule": config.get,
    "reportTimezone": config.get, "production": config.get_bool,
    "reservePriorityConcurrency": config.get_bool, "accountSendRate": config.get_float,
    "sesSendLatencyMs": config.get_int, "accountConcurrency": config.get_int, "tracing": config.get,
    "statusEvents": config.get_bool, "statusRecords": config.get_bool, "statusAddresses": config.get_bool,
    "maxReceiveCount": config.get_int, "functionTimeoutSeconds": config.get_int,
    "logRetentionDays": config.get_int, "archiveRetentionDays": config.get_int,
    "laneShares": config.get_object, "batchSizes": config.get_object, "laneDelivery": config.get_object,
    "reportRecipients": config.get_object,
    "oncallRecipients": config.get_object, "recipientAllowlist": config.get_object,
    "allowedPublishers": config.get_object, "routes": config.get_object, "tags": config.get_object,
    "topics": config.get_object, "contactList": config.get, "manageContactList": config.get_bool,
    "webhooks": config.get_object,
}
raw = {key: read(key) for key, read in readers.items()}
prefix = f"{pulumi.get_project()}-{pulumi.get_stack()}"
# Every key the stack was given: what the CLI passes in PULUMI_CONFIG, or what a test or the
# Automation API set (the SDK's `runtime.config.get_config` reads the same two places). The CLI
# does not refuse an undeclared key of the project's namespace, so the program does.
given_keys = {*runtime_config.get_config_env(), *runtime_config.CONFIG.get()}
problems = key_problems(sorted(given_keys), project=pulumi.get_project(),
                        settings=[*readers, "recipientHashKey", "webhookSecrets"],
                        namespaces=("aws", "random", "pulumi"))  # the providers' and the engine's own keys
# The key of the recipient hashes in logs: the stack's own secret, or one generated per stack and
# kept (as a secret) in its state, so a fresh `pulumi stack init` + `pulumi up` needs no hand step.
hash_key = config.get_secret("recipientHashKey") or random.RandomPassword(
    f"{prefix}-recipient-hash-key", length=64, special=False).result
# Each webhook's secret (API key, password or client secret), kept a secret: `webhookSecrets.<name>`.
# Which names it holds is read from the raw config (the values never leave the secret Output).
webhook_secret_names = topic_webhook_config.secret_names(
    runtime_config.get_config(f"{pulumi.get_project()}:webhookSecrets"), problems)
webhook_secrets = config.get_secret_object("webhookSecrets") if webhook_secret_names else None
try:
    settings = parse({k: v for k, v in raw.items() if v is not None}, recipient_hash_key=hash_key,
                     webhook_secret_names=webhook_secret_names)
except ConfigErrors as errors:
    problems += errors.problems
if problems:
    raise SystemExit(str(ConfigErrors(problems)))

tags = {"project": pulumi.get_project(), "stack": pulumi.get_stack(), **settings.tags}
namespace = f"{DEFAULT_NAMESPACE}/{pulumi.get_stack()}"

sender = EmailSender(prefix, dataclasses.replace(settings.sender_args, metrics_namespace=namespace, tags=tags))

router = EventRouter(prefix, EventRouterArgs(
    lane_queues={
        lane.name: LaneQueue(arn=sender.lane_queue_arns[lane.name], url=sender.lane_queue_urls[lane.name])
        for lane in settings.lanes
    },
    routes=settings.routes,
    allowed_principals=settings.allowed_publishers,
    archive_retention_days=settings.archive_retention_days,
    tags=tags,
))

# SES's events for this stack's messages, as status events on the bus and records `trace` reads.
status = DeliveryStatus(prefix, DeliveryStatusArgs(
    runtime=sender.runtime,
    configuration_set_name=sender.configuration_set_name,
    bus_name=router.bus_name,
    bus_arn=router.bus_arn,
    publish_events=settings.status_events,
    keep_records=settings.status_records,
    include_addresses=settings.status_addresses,
    # As long as the archive can replay the events that sent them (0 keeps them for ever: a year).
    record_days=min(settings.archive_retention_days or 365, 365),
    tags=tags,
)) if settings.delivery_status else None

monitoring = Monitoring(prefix, MonitoringArgs(
    functions=[
        WatchedFunction(name=sender.function_names[label], log_group_name=sender.log_group_names[label], label=label)
        for label in [lane.name for lane in settings.lanes] + ["report"]
    ] + ([WatchedFunction(name=status.function_name, log_group_name=status.log_group_name, label="status",
                         lane_metrics=False)]
         if status else []),
    lanes=[
        WatchedLane(name=lane.name, queue_name=sender.lane_queue_names[lane.name],
                    dead_letter_queue_name=sender.lane_dead_letter_queue_names[lane.name])
        for lane in settings.lanes
    ],
    metrics_namespace=namespace,
    alarm_email=settings.alarm_email,
    event_bus_name=router.bus_name,
    rule_names={route.name: router.rule_names[route.name] for route in settings.routes},
    default_bus_rule_names={"status-ses-events": status.rule_name} if status else {},
    extra_dead_letter_queue_names={
        "report-failures": sender.report_failure_queue_name,
        **{f"route-{route.name}-dlq": router.target_dead_letter_queue_names[route.name] for route in settings.routes},
        "daily-report-dlq": sender.report_schedule_dead_letter_queue_name,
        "unrouted": router.unrouted_queue_name,
        "unrouted-dlq": router.unrouted_dead_letter_queue_name,
        **({"status-dlq": status.dead_letter_queue_name, "status-undelivered": status.rule_dead_letter_queue_name}
           if status else {}),
    },
    configuration_set_name=sender.configuration_set_name,
    tags=tags,
))

# Status events POSTed to producers' HTTPS endpoints (EventBridge API destinations), with their alarms.
webhooks = StatusWebhooks(prefix, StatusWebhooksArgs(
    bus_name=router.bus_name, bus_arn=router.bus_arn, alarm_topic_arn=monitoring.alarm_topic_arn, tags=tags,
    webhooks=[dataclasses.replace(hook, secret=pulumi.Output.secret(
        webhook_secrets.apply(lambda secrets, name=hook.name: str(secrets[name]))))
        for hook in settings.webhooks],
)) if settings.webhooks and webhook_secrets is not None else None

pulumi.export("busName", router.bus_name)
pulumi.export("busArn", router.bus_arn)


def with_status(lanes: pulumi.Output[dict[str, str]], status_value: pulumi.Output[str] | None) -> pulumi.Output:
    """The lanes' map, plus the status queue's as lane `status` (the operator tool reads its DLQ too)."""
    if status_value is None:
        return lanes
    return pulumi.Output.all(lanes, status_value).apply(lambda both: {**both[0], "status": both[1]})


pulumi.export("laneQueueUrls", with_status(sender.lane_queue_urls, status.queue_url if status else None))
pulumi.export("laneDeadLetterQueueUrls", with_status(sender.lane_dead_letter_queue_urls,
                                                     status.dead_letter_queue_url if status else None))
pulumi.export("unroutedQueueUrl", router.unrouted_queue_url)
pulumi.export("functionNames", with_status(sender.function_names, status.function_name if status else None))
# Where the sending functions log `email_sent` with each recipient's hash: `trace --recipient` queries them.
pulumi.export("logGroupNames", sender.log_group_names)
pulumi.export("dashboardName", monitoring.dashboard_name)
pulumi.export("configurationSetName", sender.configuration_set_name)
pulumi.export("stateTableName", sender.state_table_name)
# The same name under the output's first name, for operators' saved `pulumi stack output` files.
pulumi.export("idempotencyTableName", sender.state_table_name)
pulumi.export("dkimTokens", sender.dkim_tokens)
# The webhooks' dead-letter queues by webhook name: what `email-pipeline dlq` lists beside the lanes'.
pulumi.export("webhookDeadLetterQueueUrls", webhooks.dead_letter_queue_urls if webhooks else {})
pulumi.export("contactListName", sender.contact_list_name)
pulumi.export("recipientHashKey", pulumi.Output.secret(hash_key))  # `--show-secrets` to hash an address
