"""The burst benchmark's SQS: standard queues with redrive, and the requests SQS would bill.

Offers what the handlers call (`send_message`, `change_message_visibility_batch`), what Lambda's
event source mapping calls (`receive_message`, `delete_message_batch`), and `enqueue` for
EventBridge's deliveries, in real time (bench/burst_calls.py).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.burst_calls import client_error, now, timed

SQS_LATENCY = 0.015
#: The most entries an SQS batch request takes.
_SQS_BATCH_MAX = 10


@dataclass
class Message:
    """A message in a queue, with what SQS tracks about it."""

    message_id: str
    body: str
    attributes: dict[str, Any]
    sent_at: float
    visible_at: float = 0.0
    receive_count: int = 0

    @property
    def receipt_handle(self) -> str:
        """Valid for the latest receive only, as in SQS."""
        return f"{self.message_id}#{self.receive_count}"


@dataclass
class Queue:
    """A standard queue; with `dead_letter_url`, SQS's redrive after `max_receive_count` receives."""

    url: str
    visibility_timeout: int
    dead_letter_url: str = ""
    max_receive_count: int = 0
    messages: dict[str, Message] = field(default_factory=dict)  # oldest first


@dataclass
class FakeSqs:
    """Standard queues: what the handlers send and delay, and what the Lambda poller receives and deletes.

    `requests` counts billable requests by API action (EventBridge's deliveries are `SendMessage`s);
    a `ReceiveMessage` that returns nothing is counted in `empty_receives` instead: how often idle
    pollers look is a cost per hour, not per email.
    """

    clock: Callable[[], float] = now
    queues: dict[str, Queue] = field(default_factory=dict)
    redriven: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    empty_receives: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def create_queue(self, url: str, visibility_timeout: int, dead_letter_url: str = "",
                     max_receive_count: int = 0) -> None:
        """Set up a queue (the component's job in a real stack, so no latency)."""
        self.queues[url] = Queue(url, visibility_timeout, dead_letter_url, max_receive_count)

    def send_message(self, *, QueueUrl: str, MessageBody: str,
                     MessageAttributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """SendMessage: the handlers forward dead letters with it."""
        def effect() -> dict[str, Any]:
            self.requests["SendMessage"] += 1
            return self._add(QueueUrl, MessageBody, dict(MessageAttributes or {}))

        return timed(SQS_LATENCY, self._lock, effect)

    def enqueue(self, url: str, body: str) -> None:
        """EventBridge delivering an event to a lane (one SendMessage): the backlog appears at once."""
        with self._lock:
            self.requests["SendMessage"] += 1
            self._add(url, body, {})

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        """ChangeMessageVisibilityBatch: a kept message comes back after the delay the handler chose."""
        def effect() -> dict[str, Any]:
            self.requests["ChangeMessageVisibilityBatch"] += 1
            queue, now = self.queues[QueueUrl], self.clock()
            result: dict[str, list[dict[str, Any]]] = {"Successful": [], "Failed": []}
            for entry in Entries:
                message = self._by_handle(queue, entry["ReceiptHandle"])
                if message is None:
                    result["Failed"].append({"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True})
                    continue
                message.visible_at = now + entry["VisibilityTimeout"]
                result["Successful"].append({"Id": entry["Id"]})
            return result

        return timed(SQS_LATENCY, self._lock, effect)

    def receive_message(self, *, QueueUrl: str, MaxNumberOfMessages: int) -> dict[str, Any]:
        """ReceiveMessage with all attributes, oldest visible first; redrives messages received too often."""
        def effect() -> dict[str, Any]:
            queue, now = self.queues[QueueUrl], self.clock()
            taken: list[dict[str, Any]] = []
            for message in list(queue.messages.values()):
                if len(taken) == MaxNumberOfMessages:
                    break
                if message.visible_at > now:
                    continue
                if queue.max_receive_count and message.receive_count >= queue.max_receive_count:
                    self._redrive(queue, message)
                    continue
                message.receive_count += 1
                message.visible_at = now + queue.visibility_timeout
                taken.append(_received(message))
            if taken:
                self.requests["ReceiveMessage"] += 1
            else:
                self.empty_receives += 1
            return {"Messages": taken}

        return timed(SQS_LATENCY, self._lock, effect)

    def delete_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        """DeleteMessageBatch (up to 10), as Lambda's poller deletes a batch's successes.

        No latency: the poller deletes while the next invocation runs. As SQS documents for a
        receipt handle that is not the latest (the message was received again since), the entry
        succeeds and the message stays queued.
        """
        if not 1 <= len(Entries) <= _SQS_BATCH_MAX:
            raise client_error("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, "DeleteMessageBatch")
        with self._lock:
            self.requests["DeleteMessageBatch"] += 1
            queue = self.queues[QueueUrl]
            result: dict[str, list[dict[str, Any]]] = {"Successful": [], "Failed": []}
            for entry in Entries:
                message = self._by_handle(queue, entry["ReceiptHandle"])
                if message is not None:
                    del queue.messages[message.message_id]
                result["Successful"].append({"Id": entry["Id"]})
        return result

    def bodies(self, url: str) -> list[str]:
        """Every message still in a queue, visible or not (for the bench's accounting)."""
        with self._lock:
            return [message.body for message in self.queues[url].messages.values()]

    def _add(self, url: str, body: str, attributes: dict[str, Any]) -> dict[str, Any]:
        message = Message(f"m-{next(self._ids):07d}", body, attributes, sent_at=self.clock())
        self.queues[url].messages[message.message_id] = message
        return {"MessageId": message.message_id}

    def _redrive(self, queue: Queue, message: Message) -> None:
        """SQS moves a message received `max_receive_count` times to the DLQ instead of delivering it."""
        del queue.messages[message.message_id]
        self._add(queue.dead_letter_url, message.body, message.attributes)
        self.redriven += 1

    @staticmethod
    def _by_handle(queue: Queue, handle: str) -> Message | None:
        message = queue.messages.get(handle.rpartition("#")[0])
        return message if message is not None and message.receipt_handle == handle else None


def _received(message: Message) -> dict[str, Any]:
    """A message as ReceiveMessage returns it with `AttributeNames=["All"]`."""
    sent_ms = str(int(message.sent_at * 1000))
    return {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt_handle,
        "Body": message.body,
        "MD5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
        "Attributes": {"ApproximateReceiveCount": str(message.receive_count), "SentTimestamp": sent_ms,
                       "SenderId": "AIDABENCH", "ApproximateFirstReceiveTimestamp": sent_ms},
        "MessageAttributes": copy.deepcopy(message.attributes),
    }
