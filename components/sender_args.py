"""`EmailSenderArgs`: what an EmailSender takes, with its defaults, and the checks it runs on itself.

The Args class checks itself, all at once, so a reuser calling `EmailSender` directly is checked
exactly like the stack's program (`stack_config` only renames the arguments to config keys). The
lanes' own rules live in `lanes`; the argument checks shared with other components in `checks`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from .checks import Problem, address_problems, raise_if_any, sender_problems
from .contact_list import Topic, topics_problems
from .handlers.shared import catalog
from .handlers.shared.metrics import DEFAULT_NAMESPACE
from .lanes import (
    DEFAULT_LANES,
    DEFAULT_SEND_LATENCY_MS,
    MAX_SEND_LATENCY_MS,
    LaneConfig,
    lane_max_concurrency,
    lane_problems,
)
from .template_check import check_templates
from .template_files import discover

#: Retention periods CloudWatch Logs accepts (PutRetentionPolicy).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
#: Lambda's X-Ray tracing modes (TracingConfig.Mode).
TRACING_MODES = ("PassThrough", "Active")
#: Lambda's longest function timeout, in seconds.
MAX_FUNCTION_TIMEOUT_SECONDS = 900


def _bundled(subpackage: str) -> str:
    """Where the package's own handlers or templates are, installed or in this repository."""
    spec = importlib.util.find_spec(f"{__package__}.{subpackage}")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{__package__}.{subpackage} is not installed")
    return str(next(iter(spec.submodule_search_locations)))


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
        report_schedule: EventBridge Scheduler expression that triggers the daily report; None
            for no schedule (invoke the report function yourself).
        report_timezone: IANA time zone the report schedule is read in.
        topics: subscription topics events may name (`contact_list.Topic`); none: every send is
            transactional and no contact list is declared.
        contact_list: the SES contact list the topics are in; empty: the component's name.
        manage_contact_list: declare the contact list with the topics. SES allows one list per
            account and Region: stacks sharing an account turn this off on all but one and name
            that one's list in `contact_list`.
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
    report_schedule: str | None = "cron(0 9 * * ? *)"
    report_timezone: str = "UTC"
    topics: Sequence[Topic] = ()
    contact_list: str = ""
    manage_contact_list: bool = True

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
            *lane_problems(self),
            *self._template_problems(),
            *topics_problems(self.topics, self.contact_list),
        ])

    def lane_concurrency(self, lane: LaneConfig) -> int:
        """The lane's maximum concurrency (see `lane_max_concurrency`)."""
        return lane_max_concurrency(self.account_send_rate, lane, self.send_latency_ms / 1000, self.memory_mb)

    def _number_problems(self) -> list[Problem]:
        problems = []
        if self.account_send_rate <= 0:
            problems.append(Problem("account_send_rate", "must be a positive number (emails per second)"))
        if self.tracing not in TRACING_MODES:
            problems.append(Problem("tracing", f"must be one of {', '.join(TRACING_MODES)} (Lambda's X-Ray modes)"))
        if not 1 <= self.send_latency_ms <= MAX_SEND_LATENCY_MS:
            problems.append(Problem("send_latency_ms", f"must be between 1 and {MAX_SEND_LATENCY_MS} (SendEmail's "
                                                       "worst case)"))
        if self.log_retention_days not in RETENTION_DAYS:
            problems.append(Problem("log_retention_days", f"{self.log_retention_days} is not a CloudWatch "
                                                          f"retention; use one of {RETENTION_DAYS}"))
        if not 1 <= self.function_timeout_seconds <= MAX_FUNCTION_TIMEOUT_SECONDS:
            problems.append(Problem("function_timeout_seconds", f"must be between 1 and {MAX_FUNCTION_TIMEOUT_SECONDS} "
                                                                "(Lambda's limit)"))
        if self.dead_letter_retention_seconds <= self.queue_retention_seconds:
            problems.append(Problem("dead_letter_retention_seconds",
                                    "must exceed queue_retention_seconds, or dead letters expire before their lane"))
        return problems

    def _template_problems(self) -> list[Problem]:
        """The templates SES would refuse or mis-render (`template_check`), and the two that must ship.

        The default template and the report's must exist, or sends fail at runtime, not at preview.
        A check's warnings (a link over http, a branch no sample takes) are the program's to show.
        """
        templates_dir = Path(self.templates_dir)
        try:
            names = {template.name for template in discover(templates_dir)}
        except (FileNotFoundError, OSError) as exc:
            return [Problem("templates_dir", str(exc))]
        problems = [Problem("templates_dir", str(problem)) for problem in check_templates(templates_dir)
                    if problem.severity == "error"]
        return problems + [Problem("templates_dir", f"has no {needed!r} template folder ({role}); add "
                                                    f"templates/{needed}/v1/ or copy it from the package")
                           for needed, role in ((self.default_template, "default_template"),
                                                (catalog.REPORT_TEMPLATE, "the daily report"))
                           if needed not in names]
