"""The burst benchmark's deployment: one account's emulated services, and the two lanes as EmailSender deploys them.

Each lane gets its queue and dead-letter queue, the environment `components/email_sender.py` gives
its function, and one handler per instance its event source mapping may run
(`lane_max_concurrency`, sized with the emulated SES latency). Settings come from
`EmailSenderArgs`' defaults, so the bench cannot drift from what a stack deploys.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from bench.burst_dynamodb import FakeDynamoDb
from bench.burst_ses import SES_SEND_LATENCY, FakeSes
from bench.burst_sqs import FakeSqs
from local.lambda_context import LambdaContext
from ses_email_pipeline.email_sender import (
    DEFAULT_LANES, EmailSenderArgs, LaneConfig, idempotency_ttl, lane_max_concurrency, visibility_timeout)
from ses_email_pipeline.handlers import priority, templated
from ses_email_pipeline.handlers.clients import Clients
from ses_email_pipeline.handlers.entry import Handler
from ses_email_pipeline.handlers.sending import lane
from ses_email_pipeline.handlers.shared import table_keys
from ses_email_pipeline.handlers.shared.settings import Env

#: The deployed defaults, read from the component's Args so the bench cannot drift from them.
_ARGS_DEFAULTS = {arg.name: arg.default for arg in dataclasses.fields(EmailSenderArgs)}
FUNCTION_TIMEOUT_SECONDS: int = _ARGS_DEFAULTS["function_timeout_seconds"]
MEMORY_MB: int = _ARGS_DEFAULTS["memory_mb"]
REPLAY_WINDOW_DAYS: int = _ARGS_DEFAULTS["replay_window_days"]
#: The functions' X-Ray mode. With PassThrough only invocations whose messages carry a sampled trace
#: header are traced; the bench's producers trace nothing, so none are (Active's figure is printed).
TRACING: str = _ARGS_DEFAULTS["tracing"]
STACK = "bench"
#: Idempotency items (send claims, batch records) live under each lane's claim prefix; any other
#: item the lanes touch (the send schedule) is coordination (`handlers.shared.table_keys`).
CLAIM_PREFIXES = tuple(f"{table_keys.claim_prefix(STACK, config.name)}#" for config in DEFAULT_LANES)
ONCALL = "oncall@example.com"
ACCOUNT = "123456789012"
COMPOSERS = {"normal": templated.compose, "priority": priority.compose}


@dataclass
class Aws:
    """One scenario's emulated services, shared by every instance, as one account's are."""

    sqs: FakeSqs
    dynamodb: FakeDynamoDb
    ses: FakeSes
    state_table: str = f"email-{STACK}-idempotency"

    @property
    def clients(self) -> Clients:
        return Clients(ses=self.ses, dynamodb=self.dynamodb, sqs=self.sqs)


@dataclass
class LaneRig:
    """One deployed lane: its config, queues and one handler per concurrent instance."""

    config: LaneConfig
    concurrency: int
    handlers: list[Handler] = field(default_factory=list)

    @property
    def function_name(self) -> str:
        return f"email-{STACK}-{self.config.name}"

    @property
    def queue_url(self) -> str:
        return f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/email-{STACK}-{self.config.name}"

    @property
    def dead_letter_url(self) -> str:
        return f"{self.queue_url}-dlq"

    @property
    def queue_arn(self) -> str:
        return f"arn:aws:sqs:eu-west-1:{ACCOUNT}:email-{STACK}-{self.config.name}"

    def context(self) -> LambdaContext:
        """A new invocation's context: its own request id, the function's timeout counting down from now."""
        return LambdaContext(self.function_name, aws_request_id=str(uuid.uuid4()), memory_limit_in_mb=MEMORY_MB,
                             deadline=time.monotonic() + FUNCTION_TIMEOUT_SECONDS)


def lane_concurrency(rate: int, config: LaneConfig) -> int:
    """The lane's maximum concurrency as EmailSender derives it, sized for the emulated SES latency."""
    return lane_max_concurrency(rate, config, SES_SEND_LATENCY)


def lane_environment(rig: LaneRig, rate: int, aws: Aws, templates: str) -> dict[str, str]:
    """The variables EmailSender gives this lane's function (components/email_sender.py)."""
    config = rig.config
    return {
        Env.STACK: STACK, Env.SENDER: "Notifications <no-reply@mail.example.com>",
        Env.CONFIGURATION_SET: f"email-{STACK}", Env.RECIPIENT_HASH_KEY: "bench-key", Env.TEMPLATES: templates,
        Env.RECIPIENT_ALLOWLIST: "@example.com", Env.ONCALL_RECIPIENTS: ONCALL,
        Env.ACCOUNT_SEND_RATE: str(rate), Env.STATE_TABLE: aws.state_table,
        Env.LANE: config.name, Env.QUEUE_URL: rig.queue_url, Env.DEAD_LETTER_QUEUE_URL: rig.dead_letter_url,
        Env.MAX_RECEIVE_COUNT: str(config.max_receive_count),
        Env.LANE_RATE_SHARE: str(config.rate_share), Env.LANE_MAX_CONCURRENCY: str(rig.concurrency),
        Env.LANE_DELIVERY: config.delivery.value, Env.LANE_URGENT: "true" if config.urgent else "false",
        Env.RECORD_TTL_SECONDS: str(idempotency_ttl(FUNCTION_TIMEOUT_SECONDS, config.max_receive_count,
                                                    REPLAY_WINDOW_DAYS)),
    }


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set variables for the duration; os.environ is process-wide, so only while no instance runs."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def deploy(rate: int, aws: Aws, templates: str) -> dict[str, LaneRig]:
    """Create each lane's queues and one handler per instance, each built under its lane's environment.

    `entry_point` reads its settings on the first invocation; an empty batch makes that happen
    here, while this lane's variables are set, before any instance thread starts.

    Args:
        rate: the account's send rate R, which sizes each lane's concurrency.
        aws: the scenario's emulated services.
        templates: the deployed template catalog, as JSON (`Env.TEMPLATES`).

    Returns:
        The lanes by name: `normal`, `priority`.
    """
    rigs: dict[str, LaneRig] = {}
    for config in DEFAULT_LANES:
        rig = LaneRig(config, lane_concurrency(rate, config))
        aws.sqs.create_queue(rig.dead_letter_url, visibility_timeout(FUNCTION_TIMEOUT_SECONDS))
        aws.sqs.create_queue(rig.queue_url, visibility_timeout(FUNCTION_TIMEOUT_SECONDS), rig.dead_letter_url,
                             config.max_receive_count)
        with environment(lane_environment(rig, rate, aws, templates)):
            for _ in range(rig.concurrency):
                handler = lane.entry_point(COMPOSERS[config.name], aws.clients)
                handler({"Records": []}, rig.context())
                rig.handlers.append(handler)
        rigs[config.name] = rig
    return rigs
