"""The burst benchmark's tally: one scenario's figures, from SES's record, the queues and the services' bills.

How fully the account's rate was used while the backlog drained, the alerts' waits beside the
ideal, throttles, dead, lost and duplicated mail, DynamoDB requests per email, how pacing held on
the functions' CPU share (how late sends left against their slots, the new slots they needed, the
instances' CPU per email and the periods their quota ran out), and what each email took from every
service that bills per use (`cost.PerEmail`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench import cost
from bench.burst_dynamodb import Consumption
from bench.burst_lambda import Invocation
from bench.burst_scenario import ALERT_RECIPIENTS, Outcome, Scenario
from bench.burst_ses import Sent
from bench.burst_stack import CLAIM_PREFIXES, TRACING, Aws
from bench.cpu_share import vcpu_share


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
    #: How late each send left against its slot (the `email_sent` lines' `slot_late_ms`): p50, p99, max.
    lateness_ms: tuple[float, float, float] | None
    #: New slots booked for sends that missed theirs or were throttled, per 1,000 emails (`rebookings`).
    rebookings_per_1000: float | None
    #: The instances' own CPU (their processes, every thread) per email sent, in milliseconds.
    cpu_ms_per_email: float
    #: Periods in which an instance's CPU quota ran out, per 1,000 emails.
    throttled_periods_per_1000: float
    #: The lanes' memory and the vCPUs it gives them, normal/priority.
    memory: str = ""
    vcpus: str = ""
    #: How busy the machine's CPUs were meanwhile (anyone's work): near 1, the figures are not Lambda's.
    machine_busy: float = 0.0
    #: The emulated AWS's CPU per second (its share of the machine's busy time is not the functions').
    aws_cpu: float = 0.0

    @property
    def throttles_per_1000(self) -> float:
        return 1000 * self.throttles / max(1, self.emails)


def measure(scenario: Scenario, outcome: Outcome) -> Result:
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
        seconds=outcome.ended_at - scenario.started, problems=scenario.logs.summary(), emails=len(first),
        per_email=per_email(scenario, invocations, (idempotency, coordination),
                            sum(send.recipients for send in first.values()), scenario.logs.log_bytes, emails),
        platform_text_per_email=sum(cost.platform_bytes(invocation.request_id, 1000 * invocation.seconds,
                                                        scenario.rigs[invocation.lane].memory_mb, "INFO")
                                    for invocation in invocations) / emails,
        active_traces_per_email=active_traces(scenario, invocations) / emails,
        empty_receives=aws.sqs.empty_receives,
        lateness_ms=spread(scenario.logs.samples.get("slot_late_ms", [])),
        rebookings_per_1000=(1000 * sum(scenario.logs.samples["rebookings"]) / emails
                             if scenario.logs.samples.get("rebookings") else None),
        cpu_ms_per_email=1000 * scenario.logs.cpu_seconds / emails,
        throttled_periods_per_1000=1000 * scenario.throttled_periods / emails,
        machine_busy=scenario.machine_busy, aws_cpu=scenario.aws_cpu,
        memory="/".join(str(scenario.rigs[lane].memory_mb) for lane in ("normal", "priority")),
        vcpus="/".join(f"{vcpu_share(scenario.rigs[lane].memory_mb):.3f}" if scenario.confined else "all"
                       for lane in ("normal", "priority")),
    )


def spread(values: list[float]) -> tuple[float, float, float] | None:
    """p50, p99 (nearest rank) and the maximum; None without values (a handler that does not log them)."""
    if not values:
        return None
    ordered = sorted(values)
    return (ordered[math.ceil(0.5 * len(ordered)) - 1], ordered[math.ceil(0.99 * len(ordered)) - 1], ordered[-1])


def dynamodb_bill(aws: Aws) -> tuple[Consumption, Consumption]:
    """DynamoDB's bill split in two: the idempotency items, and everything else (coordination)."""
    idempotency, coordination = Consumption(), Consumption()
    for (table, key), used in dict(aws.dynamodb.consumption).items():
        bill = idempotency if table == aws.state_table and key.startswith(CLAIM_PREFIXES) else coordination
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
    memory = {invocation.request_id: scenario.rigs[invocation.lane].memory_mb for invocation in invocations}
    platform = sum(cost.platform_bytes(invocation.request_id, 1000 * invocation.seconds, memory[invocation.request_id])
                   for invocation in invocations)
    traces = active_traces(scenario, invocations) if TRACING == "Active" else 0.0
    return cost.PerEmail(
        invocations=len(invocations) / emails,
        gb_seconds=sum(cost.gb_seconds(cost.billed_milliseconds(invocation.seconds), memory[invocation.request_id])
                       for invocation in invocations) / emails,
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
