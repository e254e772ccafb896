"""In-process SQS, DynamoDB and SES for the burst benchmark (bench/burst.py), in real time.

Each class offers exactly the client methods the lanes call (handlers/lane.py, handlers/idempotency.py,
handlers/ses.py), plus `receive_message` and `delete_message` for the emulated Lambda poller and
`enqueue` for EventBridge, and nothing more: a call the handlers start making that is missing here
raises AttributeError, and an expression shape not implemented raises `EmulatorGap`, instead of
being faked silently (the lane dead-letters the record and logs `record_failed`, which the
benchmark prints).

Every call sleeps its service's latency, half before and half after it takes effect, so concurrent
instances interleave as they would over the network and SES judges a send when it arrives.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from ses_email_pipeline.handlers.timeouts import SES_SEND

SES_SEND_LATENCY = 0.100
SES_GET_ACCOUNT_LATENCY = 0.050
DYNAMODB_LATENCY = 0.008
SQS_LATENCY = 0.015
#: The SendEmail tag that carries the event id: the request has no other trace of it.
EVENT_TAG = "bench_event"
#: botocore's standard mode waits `random() * 2 ** (retry - 1)` seconds before a retry, capped at 20 s.
_MAX_BACKOFF_SECONDS = 20.0

T = TypeVar("T")
Item = dict[str, dict[str, str]]


class EmulatorGap(Exception):
    """The handlers made a request this emulator does not implement: extend it, do not trust the run."""


def _timed(latency: float, lock: threading.Lock, effect: Callable[[], T]) -> T:
    """Run `effect` atomically halfway through a call's latency (the request's arrival)."""
    time.sleep(latency / 2)
    try:
        with lock:
            return effect()
    finally:
        time.sleep(latency / 2)


def _client_error(code: str, status: int, operation: str, **extra: Any) -> ClientError:
    """A botocore-shaped ClientError, as the handlers' real clients raise them."""
    response = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}, **extra}
    return ClientError(response, operation)


# --- SES ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One send SES accepted."""

    at: float
    lane: str
    event_id: str
    recipients: int


@dataclass
class FakeSes:
    """SES v2 at `max_send_rate` recipients per second, behind the handlers' SES client.

    A send is refused with 429 `TooManyRequestsException` when accepting it would put more than
    the rate in the sliding second before it. A send with more recipients than the rate (an alert
    at R=1) would never fit: as SES does, it is accepted when nothing else is in the window, and
    its recipients then count for recipients/rate seconds instead of one.

    `send_email` also does what the handlers' real client does on a 429 (`handlers.ses`: botocore's
    standard mode, `SES_SEND.attempts` attempts, only unsent answers retried): it backs off a random
    part of a second and tries once more. Each 429 is counted.
    """

    max_send_rate: float
    clock: Callable[[], float] = time.monotonic
    sent: list[Sent] = field(default_factory=list)
    throttles: int = 0
    _window: list[tuple[float, int]] = field(default_factory=list)  # (counts until, recipients)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=itertools.count)

    def get_account(self) -> dict[str, Any]:
        """GetAccount: the rate the pacing is sized from."""
        quota = {"MaxSendRate": float(self.max_send_rate), "Max24HourSend": 1e9, "SentLast24Hours": 0.0}
        return _timed(SES_GET_ACCOUNT_LATENCY, self._lock, lambda: {"SendQuota": quota, "SendingEnabled": True})

    def send_email(self, **request: Any) -> dict[str, Any]:
        """SendEmail, retried on 429 as the handlers' client would (see the class docstring)."""
        for attempt in range(1, SES_SEND.attempts + 1):
            try:
                return _timed(SES_SEND_LATENCY, self._lock, lambda: self._accept(request))
            except ClientError:
                if attempt == SES_SEND.attempts:
                    raise
                time.sleep(random.random() * min(2.0 ** (attempt - 1), _MAX_BACKOFF_SECONDS))
        raise AssertionError("unreachable")

    def _accept(self, request: Mapping[str, Any]) -> dict[str, Any]:
        now = self.clock()
        cost = sum(len(request["Destination"].get(key, ())) for key in ("ToAddresses", "CcAddresses",
                                                                          "BccAddresses"))
        self._window = [(until, used) for until, used in self._window if until > now]
        in_window = sum(used for _, used in self._window)
        if in_window + cost > self.max_send_rate and (in_window or cost <= self.max_send_rate):
            self.throttles += 1
            raise _client_error("TooManyRequestsException", 429, "SendEmail")
        self._window.append((now + max(1.0, cost / self.max_send_rate), cost))
        tags = {tag["Name"]: tag["Value"] for tag in request.get("EmailTags", ())}
        self.sent.append(Sent(now, tags.get("lane", ""), tags.get(EVENT_TAG, ""), cost))
        return {"MessageId": f"bench-{next(self._ids):07d}"}


# --- DynamoDB -------------------------------------------------------------------------------------

_OR = re.compile(r"\s+OR\s+")
_AND = re.compile(r"\s+AND\s+")
_NAME = r"(#?\w+)"  # a top-level attribute or a #placeholder: no paths, no functions
_FUNCTION = re.compile(rf"^(attribute_exists|attribute_not_exists)\(\s*{_NAME}\s*\)$")
_COMPARISON = re.compile(rf"^{_NAME}\s*(=|<>|<=|>=|<|>)\s*(:\w+)$")
_ASSIGNMENT = re.compile(rf"^{_NAME}\s*=\s*(:\w+)$")
_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


@dataclass(frozen=True)
class _Expression:
    """A request's expression attribute names and values, to resolve `#name` and `:value`."""

    names: Mapping[str, str]
    values: Mapping[str, dict[str, str]]

    def name(self, token: str) -> str:
        return self.names[token] if token.startswith("#") else token

    def value(self, token: str) -> dict[str, str]:
        return self.values[token]

    def holds(self, condition: str | None, item: Item | None) -> bool:
        """Evaluate ORs of ANDs of `attribute_(not_)exists(x)` and `x <op> :v` (all the lanes use)."""
        if condition is None:
            return True
        return any(all(self._term(term.strip(), item or {}) for term in _AND.split(disjunct))
                   for disjunct in _OR.split(condition.strip()))

    def _term(self, term: str, item: Item) -> bool:
        if match := _FUNCTION.match(term):
            exists = self.name(match[2]) in item
            return exists if match[1] == "attribute_exists" else not exists
        if match := _COMPARISON.match(term):
            left, right = item.get(self.name(match[1])), self.value(match[3])
            return left is not None and _comparable(left, right) and _COMPARE[match[2]](_scalar(left),
                                                                                       _scalar(right))
        raise EmulatorGap(f"condition term {term!r} is not emulated (bench/burst_model.py)")

    def apply(self, update: str, item: Item) -> None:
        """Apply `SET a = :v, #b = :w` (the only update form the lanes use)."""
        if not update.startswith("SET "):
            raise EmulatorGap(f"update expression {update!r} is not emulated (bench/burst_model.py)")
        for assignment in update[len("SET "):].split(","):
            match = _ASSIGNMENT.match(assignment.strip())
            if match is None:
                raise EmulatorGap(f"update {assignment.strip()!r} is not emulated (bench/burst_model.py)")
            item[self.name(match[1])] = self.value(match[2])


def _comparable(left: dict[str, str], right: dict[str, str]) -> bool:
    return next(iter(left)) == next(iter(right))


def _scalar(value: dict[str, str]) -> Any:
    kind, raw = next(iter(value.items()))
    return Decimal(raw) if kind == "N" else raw


@dataclass
class FakeDynamoDb:
    """DynamoDB tables (partition key `id`, created on first use), counting requests per table.

    The request counts are the benchmark's coordination measure: the idempotency table's requests
    are expected, any other table's are what pacing costs.
    """

    tables: dict[str, dict[str, Item]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put_item(self, *, TableName: str, Item: Item, ConditionExpression: str | None = None,
                 ExpressionAttributeNames: Mapping[str, str] | None = None,
                 ExpressionAttributeValues: Mapping[str, dict[str, str]] | None = None,
                 ReturnValuesOnConditionCheckFailure: str = "NONE") -> dict[str, Any]:
        """PutItem, conditional; a failed condition returns the old item when asked (ALL_OLD)."""
        expression = _Expression(ExpressionAttributeNames or {}, ExpressionAttributeValues or {})

        def effect() -> dict[str, Any]:
            table, key = self._table(TableName), Item["id"]["S"]
            self._check(expression, ConditionExpression, table.get(key), "PutItem", ReturnValuesOnConditionCheckFailure)
            table[key] = copy.deepcopy(Item)
            return {}

        return _timed(DYNAMODB_LATENCY, self._lock, effect)

    def get_item(self, *, TableName: str, Key: Item, ConsistentRead: bool = False) -> dict[str, Any]:
        """GetItem (every read here is consistent: one process, one copy)."""
        def effect() -> dict[str, Any]:
            item = self._table(TableName).get(Key["id"]["S"])
            return {} if item is None else {"Item": copy.deepcopy(item)}

        return _timed(DYNAMODB_LATENCY, self._lock, effect)

    def update_item(self, *, TableName: str, Key: Item, UpdateExpression: str, ConditionExpression: str | None = None,
                    ExpressionAttributeNames: Mapping[str, str] | None = None,
                    ExpressionAttributeValues: Mapping[str, dict[str, str]] | None = None,
                    ReturnValuesOnConditionCheckFailure: str = "NONE") -> dict[str, Any]:
        """UpdateItem, conditional; creates the item when it does not exist, as DynamoDB does."""
        expression = _Expression(ExpressionAttributeNames or {}, ExpressionAttributeValues or {})

        def effect() -> dict[str, Any]:
            table, key = self._table(TableName), Key["id"]["S"]
            self._check(expression, ConditionExpression, table.get(key), "UpdateItem",
                        ReturnValuesOnConditionCheckFailure)
            item = copy.deepcopy(table.get(key, Key))
            expression.apply(UpdateExpression, item)
            table[key] = item
            return {}

        return _timed(DYNAMODB_LATENCY, self._lock, effect)

    def delete_item(self, *, TableName: str, Key: Item, ConditionExpression: str | None = None,
                    ExpressionAttributeNames: Mapping[str, str] | None = None,
                    ExpressionAttributeValues: Mapping[str, dict[str, str]] | None = None,
                    ReturnValuesOnConditionCheckFailure: str = "NONE") -> dict[str, Any]:
        """DeleteItem, conditional."""
        expression = _Expression(ExpressionAttributeNames or {}, ExpressionAttributeValues or {})

        def effect() -> dict[str, Any]:
            table, key = self._table(TableName), Key["id"]["S"]
            self._check(expression, ConditionExpression, table.get(key), "DeleteItem",
                        ReturnValuesOnConditionCheckFailure)
            table.pop(key, None)
            return {}

        return _timed(DYNAMODB_LATENCY, self._lock, effect)

    def _table(self, name: str) -> dict[str, Item]:
        self.requests[name] += 1
        return self.tables.setdefault(name, {})

    @staticmethod
    def _check(expression: _Expression, condition: str | None, old: Item | None, operation: str,
               return_old: str) -> None:
        if expression.holds(condition, old):
            return
        extra = {"Item": copy.deepcopy(old)} if return_old == "ALL_OLD" and old is not None else {}
        raise _client_error("ConditionalCheckFailedException", 400, operation, **extra)


# --- SQS ------------------------------------------------------------------------------------------


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
    """Standard queues: what the handlers send and delay, and what the Lambda poller receives and deletes."""

    clock: Callable[[], float] = time.monotonic
    queues: dict[str, Queue] = field(default_factory=dict)
    redriven: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=itertools.count)

    def create_queue(self, url: str, visibility_timeout: int, dead_letter_url: str = "",
                     max_receive_count: int = 0) -> None:
        """Set up a queue (the component's job in a real stack, so no latency)."""
        self.queues[url] = Queue(url, visibility_timeout, dead_letter_url, max_receive_count)

    def send_message(self, *, QueueUrl: str, MessageBody: str,
                     MessageAttributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """SendMessage: the handlers forward dead letters with it."""
        return _timed(SQS_LATENCY, self._lock, lambda: self._add(QueueUrl, MessageBody, dict(MessageAttributes or {})))

    def enqueue(self, url: str, body: str) -> None:
        """EventBridge delivering an event to a lane: the backlog appears at once, at no handler's cost."""
        with self._lock:
            self._add(url, body, {})

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        """ChangeMessageVisibilityBatch: a kept message comes back after the delay the handler chose."""
        def effect() -> dict[str, Any]:
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

        return _timed(SQS_LATENCY, self._lock, effect)

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
            return {"Messages": taken}

        return _timed(SQS_LATENCY, self._lock, effect)

    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        """DeleteMessage. No latency: Lambda's poller deletes while the next invocation runs."""
        with self._lock:
            queue = self.queues[QueueUrl]
            message = self._by_handle(queue, ReceiptHandle)
            if message is not None:
                del queue.messages[message.message_id]
        return {}

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


def event_id(body: str) -> str:
    """The EventBridge event id a message carries (the benchmark's unit of accounting)."""
    return str(json.loads(body)["id"])
