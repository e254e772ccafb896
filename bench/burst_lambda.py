"""Lambda running a lane's instances: each a process with the function's CPU share, polled, invoked and deleted for.

An instance is a container: a process of its own (bench/burst_instance.py) that imports the
function's entry module from its code archive, builds its handler on a first, empty invocation,
and is then confined to the CPU a function of its memory gets (bench/cpu_share.py). Its event
source mapping is a thread here, outside the function's share as Lambda's poller is: it receives a
batch as the mapping gathers it (up to the batch size, within the batching window), invokes the
instance with a new request id and the function's timeout as deadline, records the invocation as
Lambda bills it (start to answer, whatever the handler does inside), and deletes what the handler
did not report in `batchItemFailures`, with DeleteMessageBatch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.burst_rpc import Endpoint
from bench.burst_sqs import FakeSqs
from bench.cpu_share import CpuShares, Group
from local.sqs_events import lambda_event

#: Lambda's event source mapping deletes a batch's successes with DeleteMessageBatch, 10 at most.
DELETE_BATCH = 10
#: How often an idle poller looks again (Lambda long-polls; a message is seen within this).
IDLE_POLL_SECONDS = 0.02
_INSTANCE_SCRIPT = Path(__file__).resolve().parent / "burst_instance.py"


@dataclass(frozen=True)
class Invocation:
    """One invocation of a lane's function, as Lambda bills it."""

    lane: str
    started: float
    seconds: float
    request_id: str


@dataclass(frozen=True)
class Function:
    """What an instance runs: the lane's function as deployed.

    Attributes:
        lane: the lane's name.
        module: the entry module Lambda imports (`handlers.templated`).
        code: the unpacked code archive (and layer, if any), in `PYTHONPATH` order.
        environment: the function's variables.
        memory_mb: its memory, which sets its CPU share.
        timeout_seconds: its timeout: each invocation's deadline.
        queue_url, queue_arn: the queue its event source mapping drains.
        batch_size, batching_window_seconds: how the mapping gathers a batch.
    """

    lane: str
    module: str
    code: tuple[Path, ...]
    environment: Mapping[str, str]
    memory_mb: int
    timeout_seconds: int
    queue_url: str
    queue_arn: str
    batch_size: int
    batching_window_seconds: int


class Instance:
    """One container of a function: its process, its control connection, and what it bills.

    Args:
        function: what it runs.
        endpoint: the emulated AWS it calls.
        name: unique within the scenario (`R50:normal:3`).
    """

    def __init__(self, function: Function, endpoint: Endpoint, name: str) -> None:
        self.function, self.name = function, name
        self.group: Group | None = None
        environment = {**os.environ, **function.environment, "PYTHONPATH": os.pathsep.join(map(str, function.code)),
                       "BENCH_MEMORY_MB": str(function.memory_mb), "PYTHONDONTWRITEBYTECODE": "1",
                       "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb)}
        self._process = subprocess.Popen(
            [sys.executable, str(_INSTANCE_SCRIPT), endpoint.address, endpoint.authkey.hex(), function.module, name],
            env=environment)
        self._endpoint = endpoint
        self._control: Any = None

    def warm(self, shares: CpuShares | None, vcpus: float) -> None:
        """Wait for the import, build the handler with an empty invocation, then confine the process and start counting."""
        self._control = self._endpoint.control(self.name)
        self.invoke({"Records": []}, time.monotonic() + self.function.timeout_seconds, "warm-up")
        if shares is not None:
            self.group = shares.confine(self._process.pid, vcpus, self.name.replace(":", "-"))
        self._control.send(("start",))
        self._control.recv()

    def invoke(self, event: dict[str, Any], deadline: float, request_id: str) -> tuple[str, Any]:
        """One invocation: ("ok", the handler's answer) or ("raised", the exception's type)."""
        self._control.send(("invoke", event, deadline, request_id))
        return self._control.recv()  # type: ignore[no-any-return]

    def stats(self) -> dict[str, Any]:
        """What the process logged and the CPU it spent since `warm`, and how often its quota ran out."""
        self._control.send(("stats",))
        _, stats = self._control.recv()
        return {**stats, "throttled_periods": self.group.throttled_periods() if self.group else 0}

    def stop(self) -> None:
        if self._control is not None:
            try:
                self._control.send(("stop",))
            except OSError:
                pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def receive_batch(function: Function, sqs: FakeSqs) -> list[dict[str, Any]]:
    """A batch as the mapping gathers it: up to the batch size, waiting at most the batching window."""
    size = function.batch_size
    messages = sqs.receive_message(QueueUrl=function.queue_url, MaxNumberOfMessages=size)["Messages"]
    window_ends = time.monotonic() + function.batching_window_seconds
    while messages and len(messages) < size and time.monotonic() < window_ends:
        time.sleep(IDLE_POLL_SECONDS)
        messages += sqs.receive_message(QueueUrl=function.queue_url,
                                        MaxNumberOfMessages=size - len(messages))["Messages"]
    return messages


def run_instance(instance: Instance, sqs: FakeSqs, stop: threading.Event, crashes: list[str],
                 invocations: list[Invocation]) -> None:
    """The event source mapping of one instance: receive, invoke, delete what succeeded, until stopped.

    Args:
        instance: the container it invokes.
        sqs: the account's queues.
        stop: set when the scenario ends; an invocation under way finishes first.
        crashes: where an invocation that raised is recorded, by exception type.
        invocations: where every invocation is recorded.
    """
    function = instance.function
    while not stop.is_set():
        messages = receive_batch(function, sqs)
        if not messages:
            time.sleep(IDLE_POLL_SECONDS)
            continue
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        kind, answer = instance.invoke(lambda_event(messages, function.queue_arn),
                                       started + function.timeout_seconds, request_id)
        invocations.append(Invocation(function.lane, started, time.monotonic() - started, request_id))
        if kind != "ok":
            crashes.append(str(answer))  # Lambda's view of a failed invocation: the batch stays queued
            continue
        kept = {failure["itemIdentifier"] for failure in answer["batchItemFailures"]}
        delete_batch(function, sqs, [message for message in messages if message["MessageId"] not in kept])


def delete_batch(function: Function, sqs: FakeSqs, messages: list[dict[str, Any]]) -> None:
    """Delete an invocation's successes as Lambda does: DeleteMessageBatch, 10 at a time."""
    for start in range(0, len(messages), DELETE_BATCH):
        entries = [{"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                   for index, message in enumerate(messages[start:start + DELETE_BATCH])]
        sqs.delete_message_batch(QueueUrl=function.queue_url, Entries=entries)
