"""Lambda running a lane's instances: each one a container whose event source mapping polls, invokes and deletes.

An instance is a thread: it receives a batch as the mapping gathers it (up to the batch size,
within the batching window), invokes its own handler with a new context (the function's timeout
as deadline), records the invocation as Lambda bills it, and deletes what the handler did not
report in `batchItemFailures`, with DeleteMessageBatch.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from bench.burst_sqs import FakeSqs
from bench.burst_stack import LaneRig
from local.sqs_events import lambda_event
from ses_email_pipeline.handlers.entry import Handler

#: Lambda's event source mapping deletes a batch's successes with DeleteMessageBatch, 10 at most.
DELETE_BATCH = 10
#: How often an idle poller looks again (Lambda long-polls; a message is seen within this).
IDLE_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Invocation:
    """One invocation of a lane's function, as Lambda bills it."""

    lane: str
    started: float
    seconds: float
    request_id: str


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

    Args:
        rig: the lane.
        handler: this instance's own handler (its container: clients and state of its own).
        sqs: the account's queues.
        stop: set when the scenario ends; an invocation under way finishes first.
        crashes: where an invocation that raised is recorded, by exception type.
        invocations: where every invocation is recorded.
    """
    while not stop.is_set():
        messages = receive_batch(rig, sqs)
        if not messages:
            time.sleep(IDLE_POLL_SECONDS)
            continue
        event, context = lambda_event(messages, rig.queue_arn), rig.context()
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
