"""The burst benchmark's deployment: one account's emulated services, and the two lanes as EmailSender deploys them.

Each lane gets its queue and dead-letter queue, the environment `components/email_sender.py` gives
its function, its code archive (`packaging.build_handler_zip` for its entry module, unpacked as Lambda
unpacks it) and one instance per execution its event source mapping may run
(`lane_max_concurrency`, sized with the emulated SES latency), each a process confined to the CPU
share of the function's memory (bench/burst_lambda.py, bench/cpu_share.py). Settings come from
`EmailSenderArgs`' defaults, so the bench cannot drift from what a stack deploys.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.burst_dynamodb import FakeDynamoDb
from bench.burst_lambda import Function, Instance
from bench.burst_rpc import Endpoint
from bench.burst_ses import SES_SEND_LATENCY, FakeSes
from bench.burst_sqs import FakeSqs
from bench.cpu_share import CpuShares, vcpu_share
from ses_email_pipeline.email_sender import (
    DEFAULT_LANES, EmailSenderArgs, LaneConfig, idempotency_ttl, lane_max_concurrency, visibility_timeout)
from ses_email_pipeline.handlers.shared import table_keys
from ses_email_pipeline.handlers.shared.settings import Env
from ses_email_pipeline.packaging import build_handler_zip, build_layer_zip

ROOT = Path(__file__).resolve().parent.parent
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


@dataclass
class Aws:
    """One scenario's emulated services, shared by every instance, as one account's are, and their endpoint."""

    sqs: FakeSqs
    dynamodb: FakeDynamoDb
    ses: FakeSes
    state_table: str = f"email-{STACK}-idempotency"
    endpoint: Endpoint = field(init=False)

    def __post_init__(self) -> None:
        self.endpoint = Endpoint({"sesv2": self.ses, "dynamodb": self.dynamodb, "sqs": self.sqs})


@dataclass(frozen=True)
class Deployment:
    """How the functions run: their memory (and so CPU share), where their code comes from, and the CFS confinement.

    Attributes:
        memory_mb: each lane's memory, by lane name (the stack's default for any other).
        handlers_dir: the handler package the archives are built from (another checkout's, to compare).
        shares: the cgroups confining each instance to its share; None runs them unconfined.
    """

    memory_mb: dict[str, int] = field(default_factory=dict)
    handlers_dir: Path = ROOT / "handlers"
    shares: CpuShares | None = None

    def memory_of(self, lane: str) -> int:
        return self.memory_mb.get(lane, MEMORY_MB)


@dataclass
class LaneRig:
    """One deployed lane: its config, queues, function and instances."""

    config: LaneConfig
    concurrency: int
    memory_mb: int = MEMORY_MB
    instances: list[Instance] = field(default_factory=list)

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


def lane_concurrency(rate: int, config: LaneConfig, memory_mb: int) -> int:
    """The lane's maximum concurrency as EmailSender derives it, sized for the emulated SES latency and its memory."""
    return lane_max_concurrency(rate, config, SES_SEND_LATENCY, memory_mb)


def lane_environment(rig: LaneRig, rate: int, aws: Aws, templates: str) -> dict[str, str]:
    """The variables EmailSender gives this lane's function (components/email_sender.py), and fake credentials."""
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
        "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench", "BENCH_FUNCTION_NAME": rig.function_name,
    }


@functools.cache
def function_code(handlers_dir: Path, module: str) -> tuple[Path, ...]:
    """The function's archive and the layer (if the handlers list a dependency), unpacked once per run as Lambda
    unpacks them (`/var/task`, `/opt`)."""
    scratch = Path(tempfile.mkdtemp(prefix="email-bench-code-"))
    zipfile.ZipFile(build_handler_zip(handlers_dir, scratch / f"{module}.zip", module)).extractall(scratch / "task")
    layer = build_layer_zip(handlers_dir / "requirements.txt", ROOT / "build")
    if layer is None:
        return (scratch / "task",)
    zipfile.ZipFile(layer).extractall(scratch / "opt")
    return scratch / "task", scratch / "opt" / "python"


def deploy(rate: int, aws: Aws, templates: str, deployment: Deployment, scenario: str) -> dict[str, LaneRig]:
    """Create each lane's queues and start its instances: imported, warmed up, then confined to their share.

    Args:
        rate: the account's send rate R, which sizes each lane's concurrency.
        aws: the scenario's emulated services.
        templates: the deployed template catalog, as JSON (`Env.TEMPLATES`).
        deployment: memory, code and confinement.
        scenario: the scenario's name, in each instance's (`R50:normal:3`).

    Returns:
        The lanes by name: `normal`, `priority`.
    """
    rigs: dict[str, LaneRig] = {}
    for config in DEFAULT_LANES:
        memory = deployment.memory_of(config.name)
        rig = LaneRig(config, lane_concurrency(rate, config, memory), memory)
        aws.sqs.create_queue(rig.dead_letter_url, visibility_timeout(FUNCTION_TIMEOUT_SECONDS))
        aws.sqs.create_queue(rig.queue_url, visibility_timeout(FUNCTION_TIMEOUT_SECONDS), rig.dead_letter_url,
                             config.max_receive_count)
        module = config.handler.rpartition(".")[0]
        function = Function(config.name, module, function_code(deployment.handlers_dir, module),
                            lane_environment(rig, rate, aws, templates), rig.memory_mb, FUNCTION_TIMEOUT_SECONDS,
                            rig.queue_url, rig.queue_arn, config.batch_size, config.batching_window_seconds)
        rig.instances = [Instance(function, aws.endpoint, f"{scenario}:{config.name}:{index}")
                         for index in range(rig.concurrency)]
        rigs[config.name] = rig
    try:
        for rig in rigs.values():
            for instance in rig.instances:
                instance.warm(deployment.shares, vcpu_share(rig.memory_mb))
    except BaseException:
        for rig in rigs.values():
            for instance in rig.instances:
                instance.stop()
        raise
    return rigs
