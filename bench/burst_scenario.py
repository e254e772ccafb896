"""The burst benchmark's scenario: a backlog at account rate R, a burst of alerts at 40%, run until the queues settle.

`run` deploys the lanes on fresh emulated services (every instance a process of its own with its
function's CPU share), enqueues the backlog, starts every instance's event source mapping
(bench/burst_lambda.py), enqueues the alerts when `ALERTS_AT` of the backlog is sent, waits for
both queues to empty (or the deadline), reads what happened to the mail, and collects what each
instance logged and the CPU it spent.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.burst_dynamodb import FakeDynamoDb
from bench.burst_lambda import IDLE_POLL_SECONDS, Invocation, run_instance
from bench.burst_logs import LogTally
from bench.burst_ses import EVENT_TAG, FakeSes, Sent
from bench.burst_sqs import FakeSqs
from bench.burst_stack import FUNCTION_TIMEOUT_SECONDS, Aws, Deployment, LaneRig, deploy
from bench.cpu_share import MachineLoad

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
#: A scenario gives up this long after the time its mail takes at the normal lane's share of R:
#: enough for a throttled batch's 30 s retry delay and a second one (60 s) to start; what is
#: still queued then is reported, not counted lost.
SETTLE_SECONDS = 75.0
EVENTS = Path(__file__).resolve().parent.parent / "tests" / "events"


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
    #: What the instances logged and the CPU they spent, added up at the end.
    logs: LogTally = field(default_factory=LogTally)
    #: Periods in which an instance's CPU quota ran out (all its threads waited for the next).
    throttled_periods: int = 0
    #: Whether the instances ran confined to their functions' CPU share.
    confined: bool = True
    #: The share of the machine's CPU time spent busy while the scenario ran (anyone's work).
    machine_busy: float = 0.0
    #: The emulated AWS's own CPU (this process) per second of the scenario.
    aws_cpu: float = 0.0

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


def load_event(name: str, new_id: str) -> str:
    """A sample event from tests/events/ with its own id, tagged so SES's record names it."""
    event = json.loads((EVENTS / f"{name}.json").read_text())
    event["id"] = new_id
    event["detail"]["tags"] = {EVENT_TAG: new_id}
    return json.dumps(event)


def event_id(body: str) -> str:
    """The EventBridge event id a message carries (the benchmark's unit of accounting)."""
    return str(json.loads(body)["id"])


def run(rate: int, templates: str, deployment: Deployment) -> tuple[Scenario, Outcome]:
    """Drain one backlog at account rate `rate`, injecting the alerts at 40%.

    Args:
        rate: the account's send rate R.
        templates: the deployed template catalog, as JSON.
        deployment: the functions' memory, code and CPU confinement.

    Returns:
        The scenario as it ran, and what happened to its mail.
    """
    aws = Aws(FakeSqs(), FakeDynamoDb(), FakeSes(rate))
    try:
        scenario = Scenario(rate, aws, deploy(rate, aws, templates, deployment, f"R{rate}"),
                            BACKLOG.get(rate, 25 * rate), ALERTS.get(rate, DEFAULT_ALERTS),
                            confined=deployment.shares is not None)
        try:
            outcome = _drain(scenario)
        finally:
            for rig in scenario.rigs.values():
                for instance in rig.instances:
                    instance.stop()
    finally:
        aws.endpoint.close()
    return scenario, outcome


def _drain(scenario: Scenario) -> Outcome:
    """Run every instance's event source mapping until the queues settle; collect the instances' logs and CPU."""
    aws = scenario.aws
    normal, urgent = scenario.rigs["normal"], scenario.rigs["priority"]
    for index in range(scenario.backlog):
        aws.sqs.enqueue(normal.queue_url, load_event("email_notification", f"n-{index:05d}"))
    stop, crashes = threading.Event(), list[str]()
    instances = [instance for rig in scenario.rigs.values() for instance in rig.instances]
    threads = [threading.Thread(target=run_instance, args=(instance, aws.sqs, stop, crashes, scenario.invocations),
                                daemon=True, name=instance.name) for instance in instances]
    scenario.started = time.monotonic()
    load = MachineLoad()
    for thread in threads:
        thread.start()
    inject_alerts(scenario, urgent)
    settle(scenario)
    outcome = finish(scenario)
    scenario.machine_busy, scenario.aws_cpu = load.stop(), load.own
    stop.set()
    for thread, instance in zip(threads, instances):
        thread.join(timeout=FUNCTION_TIMEOUT_SECONDS)  # an invocation under way finishes first
        if not thread.is_alive():
            stats = instance.stats()
            scenario.logs.add(stats)
            scenario.throttled_periods += stats["throttled_periods"]
    if crashes:
        print(f"{scenario.name}: {len(crashes)} invocations raised: {Counter(crashes)}", file=sys.stderr)
    return outcome


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
