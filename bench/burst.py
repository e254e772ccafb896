"""Burst benchmark: how close the lanes drain to the account's send rate R, and whether alerts jump the queue.

For each R, the real lane handlers (`lane.entry_point(templated.compose / priority.compose, ...)`)
drain a backlog of ordinary mail in real time, as Lambda would run them: per lane, as many
concurrent instances as its event source mapping allows (`lane_max_concurrency`), each a thread
that receives a batch, invokes its own handler (one container: its own clients and state; the
handler may send the batch from threads of its own) with the function's deadline, and deletes
what the handler did not report as failed (DeleteMessageBatch). When 40% of the backlog is sent,
a burst of priority alerts arrives. SQS, DynamoDB and SES are emulated in-process
(bench/burst_model.py), with realistic latencies and an SES that answers 429 above R recipients
per sliding second.

Reported per R: how fully the account's rate was used while the backlog drained (every recipient
SES accepted between the backlog's 10% and 90% sends, alerts included, per second, over R), and
the ordinary mail's own share of that; the alerts' enqueue-to-send p50/p99 beside the ideal (alerts sent back to back at R); 429s; dead
letters, lost and duplicated mail; DynamoDB requests per email sent (idempotency items, and any
other: coordination for pacing). Then what each email took from every service that bills per use
(Lambda GB-seconds and invocations, log bytes rendered exactly as production renders them, SQS
requests, DynamoDB request units, X-Ray traces) and what that costs beside SES (bench/cost.py).
Exits 1 only on lost or duplicated mail, never on timing or cost.

Run: `.venv/bin/python bench/burst.py [R ...]` (default 1 14 50 200; about 4 minutes on 2 cores;
one R alone, e.g. `bench/burst.py 14`, about a minute).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import math
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Importing a handler module creates its (unused) real clients, which need a region.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_REGION", "eu-west-1")

import structlog  # noqa: E402

from bench import cost  # noqa: E402
from bench.burst_model import (  # noqa: E402
    EVENT_TAG, SES_SEND_LATENCY, Consumption, FakeDynamoDb, FakeSes, FakeSqs, Sent, event_id)
from local.sqs_events import lambda_event  # noqa: E402
from ses_email_pipeline.email_sender import (  # noqa: E402
    DEFAULT_LANES, EmailSenderArgs, LaneConfig, idempotency_ttl, lane_max_concurrency, visibility_timeout)
from ses_email_pipeline.handlers.shared import catalog  # noqa: E402
from ses_email_pipeline.handlers.sending import lane  # noqa: E402
from ses_email_pipeline.handlers import log, priority, templated  # noqa: E402
from ses_email_pipeline.handlers.clients import Clients, Handler  # noqa: E402
from ses_email_pipeline.handlers.shared.settings import Env  # noqa: E402
from ses_email_pipeline.template_files import deployed_catalog, discover  # noqa: E402

RATES = (1, 14, 50, 200)
#: Ordinary emails per R: 20-36 s of work at the lane's 0.7 R, so the whole run stays near 4 minutes.
#: Another R gets 25 s of work at R.
BACKLOG: Mapping[int, int] = {1: 25, 14: 350, 50: 1_000, 200: 3_000}
#: Alerts per R: at R=1 each 2-recipient alert is 2 s of the whole account, so only a few.
ALERTS: Mapping[int, int] = {1: 5}
DEFAULT_ALERTS = 50
#: The alerts arrive when this share of the backlog is sent.
ALERTS_AT = 0.4
#: An alert goes to its recipient and the on-call address: two against the rate.
ALERT_RECIPIENTS = 2
#: The deployed defaults, read from the component's Args so the bench cannot drift from them.
_ARGS_DEFAULTS = {arg.name: arg.default for arg in dataclasses.fields(EmailSenderArgs)}
FUNCTION_TIMEOUT_SECONDS: int = _ARGS_DEFAULTS["function_timeout_seconds"]
MEMORY_MB: int = _ARGS_DEFAULTS["memory_mb"]
#: The functions' X-Ray mode. With PassThrough only invocations whose messages carry a sampled trace
#: header are traced; the bench's producers trace nothing, so none are (Active's figure is printed).
TRACING: str = _ARGS_DEFAULTS["tracing"]
#: Lambda's event source mapping deletes a batch's successes with DeleteMessageBatch, 10 at most.
DELETE_BATCH = 10
#: How often an idle poller looks again (Lambda long-polls; a message is seen within this).
IDLE_POLL_SECONDS = 0.02
#: A scenario gives up this long after the time its mail takes at the normal lane's share of R:
#: enough for a throttled batch's 30 s retry delay and a second one (60 s) to start; what is
#: still queued then is reported, not counted lost.
SETTLE_SECONDS = 75.0
STACK = "bench"
#: Idempotency items are `<stack>.<lane>#<hash>` (handlers/idempotency.py); any other item the
#: lanes touch (the send schedule, `<stack>#send-schedule`) is coordination.
IDEMPOTENCY_PREFIX = f"{STACK}."
#: `Env.LANE_URGENT` until it lands on main with the account-wide schedule.
LANE_URGENT = getattr(Env, "LANE_URGENT", "EMAIL_LANE_URGENT")
ONCALL = "oncall@example.com"
ACCOUNT = "123456789012"
COMPOSERS = {"normal": templated.compose, "priority": priority.compose}
EVENTS = ROOT / "tests" / "events"


@dataclass
class Context:
    """The Lambda context the handlers read: the remaining time counts down from the function timeout."""

    deadline: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass
class Aws:
    """One scenario's emulated services, shared by every instance, as one account's are."""

    sqs: FakeSqs
    dynamodb: FakeDynamoDb
    ses: FakeSes
    table: str = f"email-{STACK}-idempotency"

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
    def queue_url(self) -> str:
        return f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/email-{STACK}-{self.config.name}"

    @property
    def dead_letter_url(self) -> str:
        return f"{self.queue_url}-dlq"

    @property
    def queue_arn(self) -> str:
        return f"arn:aws:sqs:eu-west-1:{ACCOUNT}:email-{STACK}-{self.config.name}"


@dataclass(frozen=True)
class Wait:
    """An alert's time from enqueue to send; for one never sent, the time it had waited at the end."""

    seconds: float
    at_least: bool = False

    def __str__(self) -> str:
        return f"{'>' if self.at_least else ''}{self.seconds:.1f} s"


@dataclass(frozen=True)
class Result:
    """One scenario's figures (times in seconds)."""

    rate: int
    backlog: int
    concurrency: str
    drain: float | None
    normal_drain: float | None
    alert_p50: Wait | None
    alert_p99: Wait | None
    ideal_p50: float
    ideal_p99: float
    throttles: int
    dead_letters: int
    lost: int
    duplicates: int
    still_queued: int
    idempotency_per_email: float
    coordination_per_email: float
    seconds: float
    problems: str
    emails: int
    per_email: cost.PerEmail
    #: Lambda's START/END/REPORT lines per email in the text format, were they sent (see `cost.SYSTEM_LOG_LEVEL`).
    platform_text_per_email: float
    #: X-Ray traces per email were the functions' tracing Active (see `TRACING`).
    active_traces_per_email: float
    #: ReceiveMessage calls that found nothing: idle polling, a cost per hour, not per email.
    empty_receives: int


@dataclass(frozen=True)
class Invocation:
    """One invocation of a lane's function, as Lambda bills it."""

    lane: str
    started: float
    seconds: float
    request_id: str


class LogMeter:
    """Renders every line the handlers log exactly as production does, counts its bytes, and drops it.

    The processors are production's own (`handlers.log.configure`: contextvars, level, ISO UTC
    timestamp, sorted JSON) at production's level (INFO), so the bytes are those Lambda ships to
    CloudWatch Logs: one line and its newline per event. Warnings and errors are also counted by
    name: they say why mail was deferred or dead-lettered; an `EmulatorGap` or a client method the
    emulator lacks shows up as `record_failed`, since the lane turns it into a dead letter.

    Lines are attributed to a scenario by thread name (`R<rate>:...`), so an instance still
    finishing its invocation after its scenario ended does not count in the next one. A line from
    any other thread (a pool the handler runs its sends on) counts in `current`, the scenario
    running now.
    """

    def __init__(self) -> None:
        self.current = ""
        self._problems: dict[str, Counter[str]] = {}
        self._bytes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def configure(self) -> None:
        """Configure structlog as production does, with this meter around its renderer."""
        log.configure()
        *prepare, render = structlog.get_config()["processors"]
        structlog.configure(processors=[*prepare, self._count_problem, render, self._count_bytes])

    def _scenario(self) -> str:
        prefix, colon, _ = threading.current_thread().name.partition(":")
        return prefix if colon and prefix.startswith("R") else self.current

    def _count_problem(self, _logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if method in ("warning", "error"):
            name = " ".join(str(event[key]) for key in ("event", "error_code", "error_type") if event.get(key))
            with self._lock:
                self._problems.setdefault(self._scenario(), Counter())[name] += 1
        return event

    def _count_bytes(self, _logger: Any, _method: str, line: str) -> Any:
        with self._lock:
            self._bytes[self._scenario()] += len(line.encode()) + 1
        raise structlog.DropEvent

    def installed(self) -> bool:
        """Whether structlog still renders through this meter (a handler that reconfigures it would bypass it)."""
        return self._count_bytes in structlog.get_config()["processors"]

    def log_bytes(self, scenario: str) -> int:
        """Bytes the scenario's handlers logged so far."""
        with self._lock:
            return self._bytes[scenario]

    def summary(self, scenario: str) -> str:
        """The scenario's warnings and errors so far, most frequent first."""
        with self._lock:
            counts = self._problems.get(scenario, Counter())
            return ", ".join(f"{name} x{count}" for name, count in counts.most_common()) or "none"


# --- the stack -------------------------------------------------------------------------------------


def is_urgent(config: LaneConfig) -> bool:
    """Whether the lane books ahead of the others (`LaneConfig.urgent`; until it lands, the priority lane)."""
    return bool(getattr(config, "urgent", config.name == "priority"))


def lane_concurrency(rate: int, config: LaneConfig) -> int:
    """The lane's maximum concurrency as EmailSender derives it, sized for the emulated SES latency.

    `lane_max_concurrency(rate, lane, send_latency_seconds)` sizes a lane from the latency of one
    send; the bench passes the latency its SES answers with. Today's `(rate, share)` form, for
    per-instance pacing, is kept until the account-wide schedule lands: drop that branch then.
    """
    if len(inspect.signature(lane_max_concurrency).parameters) == 2:
        return lane_max_concurrency(rate, config.rate_share)
    return lane_max_concurrency(rate, config, SES_SEND_LATENCY)


def lane_environment(rig: LaneRig, rate: int, aws: Aws, templates: str) -> dict[str, str]:
    """The variables EmailSender gives this lane's function (components/email_sender.py)."""
    config = rig.config
    return {
        Env.STACK: STACK, Env.SENDER: "Notifications <no-reply@mail.example.com>",
        Env.CONFIGURATION_SET: f"email-{STACK}", Env.RECIPIENT_HASH_KEY: "bench-key", Env.TEMPLATES: templates,
        Env.RECIPIENT_ALLOWLIST: "@example.com", Env.ONCALL_RECIPIENTS: ONCALL,
        Env.ACCOUNT_SEND_RATE: str(rate), Env.STATE_TABLE: aws.table,
        Env.LANE: config.name, Env.QUEUE_URL: rig.queue_url, Env.DEAD_LETTER_QUEUE_URL: rig.dead_letter_url,
        Env.LANE_RATE_SHARE: str(config.rate_share), Env.LANE_MAX_CONCURRENCY: str(rig.concurrency),
        Env.LANE_DELIVERY: config.delivery.value, LANE_URGENT: "true" if is_urgent(config) else "false",
        Env.RECORD_TTL_SECONDS: str(idempotency_ttl(FUNCTION_TIMEOUT_SECONDS, config.max_receive_count, 1)),
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
                handler({"Records": []}, Context(time.monotonic() + FUNCTION_TIMEOUT_SECONDS))
                rig.handlers.append(handler)
        rigs[config.name] = rig
    return rigs


# --- Lambda's event source mapping ------------------------------------------------------------------


def receive_batch(rig: LaneRig, sqs: FakeSqs) -> list[dict[str, Any]]:
    """A batch as the mapping gathers it: up to the batch size, waiting at most the batching window."""
    size = rig.config.batch_size
    messages = sqs.receive_message(QueueUrl=rig.queue_url, MaxNumberOfMessages=size)["Messages"]
    window_ends = time.monotonic() + rig.config.batching_window_seconds
    while messages and len(messages) < size and time.monotonic() < window_ends:
        time.sleep(IDLE_POLL_SECONDS)
        messages += sqs.receive_message(QueueUrl=rig.queue_url, MaxNumberOfMessages=size - len(messages))["Messages"]
    return messages


def run_instance(rig: LaneRig, handler: Handler, sqs: FakeSqs, stop: threading.Event, crashes: list[str],
                 invocations: list[Invocation]) -> None:
    """One concurrent execution of the lane: receive, invoke, delete what succeeded, until stopped.

    Each invocation is recorded with its duration, start to return, whatever the handler does
    inside it (threads of its own included): that is what Lambda bills.
    """
    while not stop.is_set():
        messages = receive_batch(rig, sqs)
        if not messages:
            time.sleep(IDLE_POLL_SECONDS)
            continue
        event, context = lambda_event(messages, rig.queue_arn), Context(time.monotonic() + FUNCTION_TIMEOUT_SECONDS)
        started = time.monotonic()
        try:
            response = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - Lambda's view of a failed invocation: the batch stays queued
            crashes.append(type(exc).__name__)
            continue
        finally:
            invocations.append(Invocation(rig.config.name, started, time.monotonic() - started,
                                          context.aws_request_id))
        kept = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        delete_batch(rig, sqs, [message for message in messages if message["MessageId"] not in kept])


def delete_batch(rig: LaneRig, sqs: FakeSqs, messages: list[dict[str, Any]]) -> None:
    """Delete an invocation's successes as Lambda does: DeleteMessageBatch, 10 at a time."""
    for start in range(0, len(messages), DELETE_BATCH):
        entries = [{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                   for index, message in enumerate(messages[start:start + DELETE_BATCH])]
        sqs.delete_message_batch(QueueUrl=rig.queue_url, Entries=entries)


# --- one scenario ----------------------------------------------------------------------------------


def load_event(name: str, new_id: str) -> str:
    """A sample event from tests/events/ with its own id, tagged so SES's record names it."""
    event = json.loads((EVENTS / f"{name}.json").read_text())
    event["id"] = new_id
    event["detail"]["tags"] = {EVENT_TAG: new_id}
    return json.dumps(event)


@dataclass
class Scenario:
    """One R: the emulated account, its two lanes, and when the alerts were enqueued."""

    rate: int
    aws: Aws
    rigs: dict[str, LaneRig]  # by lane name: `normal`, `priority`
    backlog: int
    alerts: int
    started: float = 0.0
    enqueued_at: dict[str, float] = field(default_factory=dict)
    invocations: list[Invocation] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"R{self.rate}"

    @property
    def deadline(self) -> float:
        """The time all of its mail takes at the normal lane's share of R, plus `SETTLE_SECONDS`."""
        work = (self.backlog + self.alerts * ALERT_RECIPIENTS) / self.rate / self.rigs["normal"].config.rate_share
        return self.started + work + SETTLE_SECONDS


@dataclass(frozen=True)
class Outcome:
    """What happened to the mail, read at the end (the queues first: see `finish`)."""

    still_queued: list[str]
    sent: list[Sent]
    dead: list[str]
    ended_at: float


def run_scenario(rate: int, templates: str, meter: LogMeter) -> Result:
    """Drain one backlog at account rate `rate`, injecting the alerts at 40%, and measure it."""
    aws = Aws(FakeSqs(), FakeDynamoDb(), FakeSes(rate))
    scenario = Scenario(rate, aws, deploy(rate, aws, templates), BACKLOG.get(rate, 25 * rate),
                        ALERTS.get(rate, DEFAULT_ALERTS))
    meter.current = scenario.name
    normal, urgent = scenario.rigs["normal"], scenario.rigs["priority"]
    for index in range(scenario.backlog):
        aws.sqs.enqueue(normal.queue_url, load_event("email_notification", f"n-{index:05d}"))
    stop, crashes = threading.Event(), list[str]()
    threads = [threading.Thread(target=run_instance, args=(rig, handler, aws.sqs, stop, crashes, scenario.invocations),
                                daemon=True, name=f"{scenario.name}:{rig.config.name}:{index}")
               for rig in scenario.rigs.values() for index, handler in enumerate(rig.handlers)]
    scenario.started = time.monotonic()
    for thread in threads:
        thread.start()
    inject_alerts(scenario, urgent)
    settle(scenario)
    outcome = finish(scenario)
    stop.set()
    for thread in threads:
        thread.join(timeout=1)  # an instance mid-invocation finishes on its own, on this scenario's emulators
    if crashes:
        print(f"{scenario.name}: {len(crashes)} invocations raised: {Counter(crashes)}", file=sys.stderr)
    if not meter.installed():
        raise RuntimeError("the handlers reconfigured structlog during the run, so their log lines bypassed the "
                           "meter: configure it after whatever they call (LogMeter.configure)")
    return measure(scenario, outcome, meter)


def inject_alerts(scenario: Scenario, rig: LaneRig) -> None:
    """Wait until `ALERTS_AT` of the backlog is sent, then enqueue every alert at once."""
    sent = scenario.aws.ses.sent
    while sum(send.lane == "normal" for send in sent) < ALERTS_AT * scenario.backlog \
            and time.monotonic() < scenario.deadline:
        time.sleep(IDLE_POLL_SECONDS)
    for index in range(scenario.alerts):
        alert_id = f"a-{index:03d}"
        scenario.enqueued_at[alert_id] = time.monotonic()
        scenario.aws.sqs.enqueue(rig.queue_url, load_event("priority_alert", alert_id))


def settle(scenario: Scenario) -> None:
    """Wait until both lanes' queues are empty (nothing visible, nothing in flight) or the deadline."""
    sqs = scenario.aws.sqs
    while time.monotonic() < scenario.deadline and any(sqs.bodies(rig.queue_url) for rig in scenario.rigs.values()):
        time.sleep(0.1)


def finish(scenario: Scenario) -> Outcome:
    """Read the queues, then SES and the DLQs: what left a queue by then was already sent or dead-lettered."""
    sqs = scenario.aws.sqs
    rigs = scenario.rigs.values()
    still_queued = [event_id(body) for rig in rigs for body in sqs.bodies(rig.queue_url)]
    ended_at = time.monotonic()
    return Outcome(still_queued, list(scenario.aws.ses.sent),
                   [event_id(body) for rig in rigs for body in sqs.bodies(rig.dead_letter_url)], ended_at)


def measure(scenario: Scenario, outcome: Outcome, meter: LogMeter) -> Result:
    """Turn SES's record, the queues' contents and the services' bills into the reported figures."""
    rate, aws = scenario.rate, scenario.aws
    first: dict[str, Sent] = {}
    for send in outcome.sent:
        first.setdefault(send.event_id, send)
    first_sent = {event: send.at for event, send in first.items()}
    normal_times = sorted(at for event, at in first_sent.items() if event.startswith("n-"))
    waits = sorted((Wait(first_sent[alert] - at) if alert in first_sent else Wait(outcome.ended_at - at, True)
                    for alert, at in scenario.enqueued_at.items()), key=lambda wait: wait.seconds)
    expected = {f"n-{index:05d}" for index in range(scenario.backlog)} | set(scenario.enqueued_at)
    lost = expected - set(first_sent) - set(outcome.dead) - set(outcome.still_queued)
    emails = max(1, len(first_sent))
    idempotency, coordination = dynamodb_bill(aws)
    invocations = list(scenario.invocations)
    return Result(
        rate=rate, backlog=scenario.backlog,
        concurrency=f"{scenario.rigs['normal'].concurrency}/{scenario.rigs['priority'].concurrency}",
        drain=drain_fraction(list(first.values()), drain_window(normal_times, scenario.backlog), rate),
        normal_drain=drain_fraction([send for event, send in first.items() if event.startswith("n-")],
                                    drain_window(normal_times, scenario.backlog), rate),
        alert_p50=percentile(waits, 0.5), alert_p99=percentile(waits, 0.99),
        ideal_p50=ideal_wait(scenario.alerts, rate, 0.5), ideal_p99=ideal_wait(scenario.alerts, rate, 0.99),
        throttles=aws.ses.throttles, dead_letters=len(outcome.dead), lost=len(lost),
        duplicates=len(outcome.sent) - len(first_sent), still_queued=len(outcome.still_queued),
        idempotency_per_email=idempotency.requests / emails, coordination_per_email=coordination.requests / emails,
        seconds=outcome.ended_at - scenario.started, problems=meter.summary(scenario.name), emails=len(first),
        per_email=per_email(scenario, invocations, (idempotency, coordination),
                            sum(send.recipients for send in first.values()), meter.log_bytes(scenario.name), emails),
        platform_text_per_email=sum(cost.platform_bytes(invocation.request_id, 1000 * invocation.seconds, MEMORY_MB,
                                                        "INFO") for invocation in invocations) / emails,
        active_traces_per_email=active_traces(scenario, invocations) / emails,
        empty_receives=aws.sqs.empty_receives,
    )


def dynamodb_bill(aws: Aws) -> tuple[Consumption, Consumption]:
    """DynamoDB's bill split in two: the idempotency items, and everything else (coordination)."""
    idempotency, coordination = Consumption(), Consumption()
    for (table, key), used in dict(aws.dynamodb.consumption).items():
        bill = idempotency if table == aws.table and key.startswith(IDEMPOTENCY_PREFIX) else coordination
        bill.requests += used.requests
        bill.write_units += used.write_units
        bill.read_units += used.read_units
    return idempotency, coordination


def per_email(scenario: Scenario, invocations: list[Invocation], dynamodb: tuple[Consumption, Consumption],
              recipients: int, log_bytes: int, emails: int) -> cost.PerEmail:
    """What each email sent took from every service that bills per use (see `cost.PerEmail`).

    Lambda's own START/END/REPORT lines count as the functions' system log level says (none at
    WARN); empty receives are left out (see `FakeSqs`).
    """
    aws, (idempotency, coordination) = scenario.aws, dynamodb
    billed_ms = [cost.billed_milliseconds(invocation.seconds) for invocation in invocations]
    platform = sum(cost.platform_bytes(invocation.request_id, 1000 * invocation.seconds, MEMORY_MB)
                   for invocation in invocations)
    traces = active_traces(scenario, invocations) if TRACING == "Active" else 0.0
    return cost.PerEmail(
        invocations=len(invocations) / emails,
        gb_seconds=sum(cost.gb_seconds(ms, MEMORY_MB) for ms in billed_ms) / emails,
        log_bytes=(log_bytes + platform) / emails,
        sqs_requests=sum(dict(aws.sqs.requests).values()) / emails,
        idempotency_writes=idempotency.write_units / emails, idempotency_reads=idempotency.read_units / emails,
        coordination_writes=coordination.write_units / emails, coordination_reads=coordination.read_units / emails,
        events=(scenario.backlog + scenario.alerts) / emails,
        traces=traces / emails,
        recipients=recipients / emails,
    )


def active_traces(scenario: Scenario, invocations: list[Invocation]) -> float:
    """Traces X-Ray's default sampling would record with every function's tracing Active."""
    return sum(cost.sampled_traces(invocation.started for invocation in invocations if invocation.lane == name)
               for name in scenario.rigs)


def drain_window(times: list[float], backlog: int) -> tuple[float, float] | None:
    """When the backlog's 10% and 90% marks were sent (None if it never got there)."""
    low, high = math.ceil(0.1 * backlog) - 1, math.ceil(0.9 * backlog) - 1
    if len(times) <= high or times[high] == times[low]:
        return None
    return times[low], times[high]


def drain_fraction(sends: list[Sent], window: tuple[float, float] | None, rate: int) -> float | None:
    """Recipients per second SES accepted in the window, over R: how fully the account's rate was used.

    Every recipient counts, alerts included: when alerts come, they take the rate from the backlog,
    which is what work-conserving precedence should look like; idle rate is what this exposes.
    """
    if window is None:
        return None
    start, end = window
    recipients = sum(send.recipients for send in sends if start < send.at <= end)
    return recipients / (end - start) / rate


def ideal_wait(alerts: int, rate: int, share: float) -> float:
    """The nearest-rank percentile wait if the alerts went out back to back at the whole rate R."""
    return ALERT_RECIPIENTS * math.ceil(share * alerts) / rate


def percentile(waits: list[Wait], share: float) -> Wait | None:
    """Nearest-rank percentile of sorted waits; a lower bound if an unsent alert ranks at or below it.

    An unsent alert's true wait is longer than its bound, which can only raise every order statistic.
    """
    if not waits:
        return None
    rank = math.ceil(share * len(waits)) - 1
    return Wait(waits[rank].seconds, any(wait.at_least for wait in waits[: rank + 1]))


# --- report ----------------------------------------------------------------------------------------

COLUMNS = ("R", "backlog", "inst n/p", "drain/R", "normal/R", "alert p50", "alert p99", "ideal p50/p99", "429s", "dead",
           "lost", "dup", "queued", "idem req/email", "coord req/email", "time")


def row(result: Result) -> tuple[str, ...]:
    return (str(result.rate), str(result.backlog), result.concurrency,
            "-" if result.drain is None else f"{result.drain:.2f}",
            "-" if result.normal_drain is None else f"{result.normal_drain:.2f}", str(result.alert_p50 or "-"),
            str(result.alert_p99 or "-"), f"{result.ideal_p50:.1f}/{result.ideal_p99:.1f} s", str(result.throttles),
            str(result.dead_letters), str(result.lost), str(result.duplicates), str(result.still_queued),
            f"{result.idempotency_per_email:.2f}", f"{result.coordination_per_email:.2f}", f"{result.seconds:.0f} s")


USAGE_COLUMNS = ("R", "emails", "inv/email", "GB-s/email", "log B/email", "SQS req/email", "idem WRU/RRU",
                 "coord WRU/RRU", "traces/email")
COST_COLUMNS = ("R", *(f"{part} $/M" for part in ("Lambda", "SQS", "DynamoDB", "Logs", "EventBridge", "X-Ray")),
                "total $/M", "SES $/M", "% of SES")


def usage_row(result: Result) -> tuple[str, ...]:
    used = result.per_email
    return (str(result.rate), str(result.emails), f"{used.invocations:.3f}", f"{used.gb_seconds:.4f}",
            f"{used.log_bytes:.0f}", f"{used.sqs_requests:.2f}",
            f"{used.idempotency_writes:.2f}/{used.idempotency_reads:.2f}",
            f"{used.coordination_writes:.2f}/{used.coordination_reads:.2f}", f"{used.traces:.3f}")


def cost_row(result: Result) -> tuple[str, ...]:
    """Dollars per million emails by service, their total, SES's own for the same mail, and the share."""
    used = result.per_email
    costs = [1e6 * dollars for dollars in used.costs().values()]
    ses = 1e6 * cost.PRICES["ses"].of(used.recipients)
    return (str(result.rate), *(f"{dollars:.2f}" for dollars in costs), f"{sum(costs):.2f}", f"{ses:.2f}",
            f"{100 * used.share_of_ses():.2f}%")


def print_rows(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = [columns, *rows]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(columns))]
    for cells in table:
        print("  ".join(cell.rjust(width) for cell, width in zip(cells, widths)))


def print_table(results: list[Result]) -> None:
    print_rows(COLUMNS, [row(result) for result in results])
    for result in results:
        print(f"R={result.rate} warnings and errors logged: {result.problems}")
    print(f"\nPer email sent (Lambda at {MEMORY_MB} MB, billed per 1 ms; DynamoDB items: idempotency vs coordination):")
    print_rows(USAGE_COLUMNS, [usage_row(result) for result in results])
    print("\nCost per million emails, eu-west-1 list prices (bench/cost.py PRICES), beside SES's for the same mail:")
    print_rows(COST_COLUMNS, [cost_row(result) for result in results])
    for result in results:
        print(f"R={result.rate}: Lambda's START/END/REPORT lines are not sent at system log level "
              f"{cost.SYSTEM_LOG_LEVEL} (in text format at INFO: +{result.platform_text_per_email:.0f} B/email); "
              f"{result.empty_receives} empty receives left out (idle polling costs per hour, not per email); "
              f"tracing {TRACING}" + ("" if TRACING == "Active" else (
                  f" (Active would record {result.active_traces_per_email:.3f} traces/email, "
                  f"${1e6 * cost.PRICES['xray_trace'].of(result.active_traces_per_email):.2f}/M)")))


def main(argv: list[str]) -> int:
    rates = tuple(int(arg) for arg in argv) or RATES
    meter = LogMeter()
    meter.configure()
    templates = catalog.to_json(deployed_catalog(discover(ROOT / "templates"), f"email-{STACK}"))
    started = time.monotonic()
    results = []
    for rate in rates:
        results.append(run_scenario(rate, templates, meter))
        print(f"R={rate} done in {results[-1].seconds:.0f} s", file=sys.stderr)
    print_table(results)
    print(f"total {time.monotonic() - started:.0f} s")
    return 1 if any(result.lost or result.duplicates for result in results) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
