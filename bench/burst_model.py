"""In-process SQS, DynamoDB and SES for the burst benchmark (bench/burst.py), in real time.

Each class offers exactly the client methods the lanes call (handlers/lane.py, handlers/idempotency.py,
handlers/schedule.py, handlers/ses.py), plus `receive_message` and `delete_message_batch` for the
emulated Lambda poller and `enqueue` for EventBridge, and nothing more: a call the handlers start
making that is missing here raises AttributeError, and an expression shape not implemented raises
`EmulatorGap`, instead of being faked silently (the lane dead-letters the record and logs
`record_failed`, which the benchmark prints).

Every call sleeps its service's latency, half before and half after it takes effect, so concurrent
instances interleave as they would over the network and SES judges a send when it arrives. Each
service counts what it would bill (SQS requests, DynamoDB request units per item), for the
benchmark's cost per email (bench/cost.py).
"""

from __future__ import annotations

import copy
import decimal
import hashlib
import itertools
import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from botocore.exceptions import ClientError


SES_SEND_LATENCY = 0.100
SES_GET_ACCOUNT_LATENCY = 0.050
DYNAMODB_LATENCY = 0.008
SQS_LATENCY = 0.015
#: The most entries an SQS batch request takes.
_SQS_BATCH_MAX = 10
#: The SendEmail tag that carries the event id: the request has no other trace of it.
EVENT_TAG = "bench_event"

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


def _client_error(code: str, status: int, operation: str, message: str = "", **extra: Any) -> ClientError:
    """A botocore-shaped ClientError, as the handlers' real clients raise them."""
    response = {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status},
                **extra}
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

    `send_email` is one attempt, as the handlers' client makes (`handlers.sending.ses.CLIENT_CONFIG`):
    the one retry of a send SES cannot have acted on is `SesSender.send`'s, and a 429 is the
    lane's to retry at a booked slot. Each 429 is counted.
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
        """SendEmail: one attempt (see the class docstring)."""
        return _timed(SES_SEND_LATENCY, self._lock, lambda: self._accept(request))

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
_OPERAND = r"(#?\w+|:\w+)"  # an attribute, a #placeholder or a :value
_FUNCTION = re.compile(rf"^(attribute_exists|attribute_not_exists)\(\s*{_NAME}\s*\)$")
_COMPARISON = re.compile(rf"^{_NAME}\s*(=|<>|<=|>=|<|>)\s*(:\w+)$")
#: `a = x` or `a = x + y` / `a = x - y`, each of x and y an attribute or a value.
_ASSIGNMENT = re.compile(rf"^{_NAME}\s*=\s*{_OPERAND}(?:\s*([+-])\s*{_OPERAND})?$")
_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}
#: DynamoDB numbers carry up to 38 significant digits; arithmetic that would need more is refused.
_NUMBERS = decimal.Context(prec=38, traps=[decimal.Inexact, decimal.Overflow, decimal.InvalidOperation])
#: What each operation's `ReturnValues` accepts (botocore's dynamodb service model, the API reference).
_RETURN_VALUES: Mapping[str, frozenset[str]] = {
    "PutItem": frozenset({"NONE", "ALL_OLD"}),
    "UpdateItem": frozenset({"NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"}),
}
#: Capacity unit sizes (DynamoDB Developer Guide, "DynamoDB read and write operations"): a write
#: unit per started KB of the larger of the item before and after, a read unit per started 4 KB.
_WRITE_UNIT_BYTES = 1024
_READ_UNIT_BYTES = 4096


def _validation_error(operation: str, message: str) -> ClientError:
    """DynamoDB's answer to a request it cannot apply to this item (HTTP 400, nothing written)."""
    return _client_error("ValidationException", 400, operation, message)


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

    def apply(self, update: str, item: Item) -> set[str]:
        """Apply `SET a = x, b = y + z, c = y - z` to `item`; return the names of the attributes set.

        As in DynamoDB, every right-hand side reads the item as it was before the update, `+` and
        `-` take numbers only, and an operand naming an attribute the item lacks is refused.

        Raises:
            ClientError: ValidationException for a missing attribute or a non-number in `+`/`-`.
            EmulatorGap: any other clause (REMOVE, ADD, functions such as `if_not_exists`).
        """
        if not update.startswith("SET "):
            raise EmulatorGap(f"update expression {update!r} is not emulated (bench/burst_model.py)")
        before, assigned = dict(item), {}
        for assignment in update[len("SET "):].split(","):
            match = _ASSIGNMENT.match(assignment.strip())
            if match is None:
                raise EmulatorGap(f"update {assignment.strip()!r} is not emulated (bench/burst_model.py)")
            target, left, operator, right = match.groups()
            value = self._operand(left, before)
            if operator is not None:
                value = _arithmetic(value, operator, self._operand(right, before))
            assigned[self.name(target)] = value
        item.update(assigned)
        return set(assigned)

    def _operand(self, token: str, item: Item) -> dict[str, str]:
        if token.startswith(":"):
            return _normalized(self.value(token))
        name = self.name(token)
        if name not in item:
            raise _validation_error("UpdateItem", "The provided expression refers to an attribute that does not "
                                                  "exist in the item")
        return item[name]


def _arithmetic(left: dict[str, str], operator: str, right: dict[str, str]) -> dict[str, str]:
    """`left + right` or `left - right` on two N values, exactly, as DynamoDB computes it."""
    if "N" not in left or "N" not in right:
        raise _validation_error("UpdateItem", "An operand in the update expression has an incorrect data type")
    try:
        operation = _NUMBERS.add if operator == "+" else _NUMBERS.subtract
        result = operation(Decimal(left["N"]), Decimal(right["N"]))
    except decimal.DecimalException as exc:
        raise _validation_error("UpdateItem", "Number overflow. Attempting to store a number with magnitude "
                                              "larger than supported range") from exc
    return {"N": _number_text(result)}


def _normalized(value: dict[str, str]) -> dict[str, str]:
    """A value as DynamoDB stores it: numbers lose leading and trailing zeros ("1.50" -> "1.5")."""
    return {"N": _number_text(Decimal(value["N"]))} if "N" in value else value


def _number_text(number: Decimal) -> str:
    return format(number.normalize(_NUMBERS), "f")


def _stored(item: Item) -> Item:
    """A copy of an item with every number in DynamoDB's stored form."""
    return {name: _normalized(value) for name, value in copy.deepcopy(item).items()}


def _comparable(left: dict[str, str], right: dict[str, str]) -> bool:
    return next(iter(left)) == next(iter(right))


def _scalar(value: dict[str, str]) -> Any:
    kind, raw = next(iter(value.items()))
    return Decimal(raw) if kind == "N" else raw


def _item_bytes(item: Item | None) -> int:
    """An item's size as DynamoDB bills it: names plus values (Developer Guide, "Item sizes").

    A number takes about one byte per two significant digits, plus one; a string its UTF-8 bytes.
    """
    size = 0
    for name, value in (item or {}).items():
        kind, raw = next(iter(value.items()))
        digits = len(Decimal(raw).as_tuple().digits) if kind == "N" else 0
        size += len(name.encode()) + (math.ceil(digits / 2) + 1 if kind == "N" else len(str(raw).encode()))
    return size


def _returned(return_values: str, before: Item | None, after: Item, updated: set[str]) -> dict[str, Any]:
    """The `Attributes` a successful write returns; absent when there is nothing to return."""
    chosen: Mapping[str, Callable[[], Item]] = {
        "NONE": dict,
        "ALL_OLD": lambda: dict(before or {}),
        "UPDATED_OLD": lambda: {name: value for name, value in (before or {}).items() if name in updated},
        "ALL_NEW": lambda: dict(after),
        "UPDATED_NEW": lambda: {name: value for name, value in after.items() if name in updated},
    }
    attributes = chosen[return_values]()
    return {"Attributes": copy.deepcopy(attributes)} if attributes else {}


@dataclass
class Consumption:
    """What requests to one item cost on demand: requests, write and read request units."""

    requests: int = 0
    write_units: float = 0.0
    read_units: float = 0.0


@dataclass
class FakeDynamoDb:
    """DynamoDB tables (partition key `id`, created on first use), billing each item's requests.

    `consumption[(table, item id)]` counts requests and request units as on-demand mode bills them:
    a write costs a unit per started KB of the larger of the item before and after, also when its
    condition fails (a failed conditional write is still a write); a read a unit per started 4 KB,
    half for an eventually consistent one. A request refused as invalid costs nothing.
    """

    tables: dict[str, dict[str, Item]] = field(default_factory=dict)
    consumption: dict[tuple[str, str], Consumption] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put_item(self, *, TableName: str, Item: Item, ConditionExpression: str | None = None,
                 ExpressionAttributeNames: Mapping[str, str] | None = None,
                 ExpressionAttributeValues: Mapping[str, dict[str, str]] | None = None,
                 ReturnValues: str = "NONE", ReturnValuesOnConditionCheckFailure: str = "NONE") -> dict[str, Any]:
        """PutItem, conditional; returns the replaced item (ALL_OLD), or the current one on a failed condition."""
        expression = _Expression(ExpressionAttributeNames or {}, ExpressionAttributeValues or {})
        _check_return_values("PutItem", ReturnValues)

        def effect() -> dict[str, Any]:
            table, key = self._table(TableName), Item["id"]["S"]
            old, new = table.get(key), _stored(Item)
            self._write(TableName, key, old, new)
            if not expression.holds(ConditionExpression, old):
                raise _condition_failed("PutItem", old, ReturnValuesOnConditionCheckFailure)
            table[key] = new
            return _returned(ReturnValues, old, new, set(new))

        return _timed(DYNAMODB_LATENCY, self._lock, effect)

    def get_item(self, *, TableName: str, Key: Item, ConsistentRead: bool = False) -> dict[str, Any]:
        """GetItem (every read here is consistent: one process, one copy; the bill tells them apart)."""
        def effect() -> dict[str, Any]:
            key = Key["id"]["S"]
            item = self._table(TableName).get(key)
            units = max(1, math.ceil(_item_bytes(item) / _READ_UNIT_BYTES)) * (1.0 if ConsistentRead else 0.5)
            self._usage(TableName, key).read_units += units
            return {} if item is None else {"Item": copy.deepcopy(item)}

        return _timed(DYNAMODB_LATENCY, self._lock, effect)

    def update_item(self, *, TableName: str, Key: Item, UpdateExpression: str, ConditionExpression: str | None = None,
                    ExpressionAttributeNames: Mapping[str, str] | None = None,
                    ExpressionAttributeValues: Mapping[str, dict[str, str]] | None = None,
                    ReturnValues: str = "NONE", ReturnValuesOnConditionCheckFailure: str = "NONE") -> dict[str, Any]:
        """UpdateItem, conditional; creates the item when it does not exist, as DynamoDB does.

        Raises:
            ClientError: ConditionalCheckFailedException (with the item if asked: ALL_OLD), or
                ValidationException (arithmetic on a missing attribute or a non-number).
        """
        expression = _Expression(ExpressionAttributeNames or {}, ExpressionAttributeValues or {})
        _check_return_values("UpdateItem", ReturnValues)

        def effect() -> dict[str, Any]:
            table, key = self._table(TableName), Key["id"]["S"]
            old = table.get(key)
            if not expression.holds(ConditionExpression, old):
                self._write(TableName, key, old, None)
                raise _condition_failed("UpdateItem", old, ReturnValuesOnConditionCheckFailure)
            new = copy.deepcopy(old) if old is not None else _stored(Key)
            updated = expression.apply(UpdateExpression, new)
            self._write(TableName, key, old, new)
            table[key] = new
            return _returned(ReturnValues, old, new, updated)

        return _timed(DYNAMODB_LATENCY, self._lock, effect)

    def delete_item(self, *, TableName: str, Key: Item, ConditionExpression: str | None = None,
                    ExpressionAttributeNames: Mapping[str, str] | None = None,
                    ExpressionAttributeValues: Mapping[str, dict[str, str]] | None = None,
                    ReturnValuesOnConditionCheckFailure: str = "NONE") -> dict[str, Any]:
        """DeleteItem, conditional."""
        expression = _Expression(ExpressionAttributeNames or {}, ExpressionAttributeValues or {})

        def effect() -> dict[str, Any]:
            table, key = self._table(TableName), Key["id"]["S"]
            old = table.get(key)
            self._write(TableName, key, old, None)
            if not expression.holds(ConditionExpression, old):
                raise _condition_failed("DeleteItem", old, ReturnValuesOnConditionCheckFailure)
            table.pop(key, None)
            return {}

        return _timed(DYNAMODB_LATENCY, self._lock, effect)

    def _table(self, name: str) -> dict[str, Item]:
        return self.tables.setdefault(name, {})

    def _usage(self, table: str, key: str) -> Consumption:
        """The item's bill, with this request counted."""
        usage = self.consumption.setdefault((table, key), Consumption())
        usage.requests += 1
        return usage

    def _write(self, table: str, key: str, old: Item | None, new: Item | None) -> None:
        """Bill one write of the item, the larger of its sizes before and after."""
        size = max(_item_bytes(old), _item_bytes(new))
        self._usage(table, key).write_units += max(1, math.ceil(size / _WRITE_UNIT_BYTES))



def _condition_failed(operation: str, old: Item | None, return_old: str) -> ClientError:
    """ConditionalCheckFailedException, carrying the item when asked (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""
    extra = {"Item": copy.deepcopy(old)} if return_old == "ALL_OLD" and old is not None else {}
    return _client_error("ConditionalCheckFailedException", 400, operation, "The conditional request failed", **extra)


def _check_return_values(operation: str, value: str) -> None:
    if value not in _RETURN_VALUES[operation]:
        raise _validation_error(operation, f"ReturnValues can only be {' or '.join(sorted(_RETURN_VALUES[operation]))} "
                                           f"for {operation}, not {value!r}")


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
    """Standard queues: what the handlers send and delay, and what the Lambda poller receives and deletes.

    `requests` counts billable requests by API action (EventBridge's deliveries are `SendMessage`s);
    a `ReceiveMessage` that returns nothing is counted in `empty_receives` instead: how often idle
    pollers look is a cost per hour, not per email.
    """

    clock: Callable[[], float] = time.monotonic
    queues: dict[str, Queue] = field(default_factory=dict)
    redriven: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    empty_receives: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=itertools.count)

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

        return _timed(SQS_LATENCY, self._lock, effect)

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
            if taken:
                self.requests["ReceiveMessage"] += 1
            else:
                self.empty_receives += 1
            return {"Messages": taken}

        return _timed(SQS_LATENCY, self._lock, effect)

    def delete_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        """DeleteMessageBatch (up to 10), as Lambda's poller deletes a batch's successes.

        No latency: the poller deletes while the next invocation runs. As SQS documents for a
        receipt handle that is not the latest (the message was received again since), the entry
        succeeds and the message stays queued.
        """
        if not 1 <= len(Entries) <= _SQS_BATCH_MAX:
            raise _client_error("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400, "DeleteMessageBatch")
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


def event_id(body: str) -> str:
    """The EventBridge event id a message carries (the benchmark's unit of accounting)."""
    return str(json.loads(body)["id"])
