"""The burst benchmark's DynamoDB: moto's tables and expression evaluation, behind a thread-safe client, billed.

Items live in moto's DynamoDB backend (`moto.dynamodb.models.DynamoDBBackend`), driven directly:
no HTTP, no botocore serialization. moto parses, validates and applies every condition and update
expression (its condition parser, and its update parser, validator and executor: the code the
tests' and the local system's moto runs). This module adds what moto leaves to its HTTP layer, or
lacks, and the lanes rely on:

- `ReturnValues` (refused where the operation does not take it) and
  `ReturnValuesOnConditionCheckFailure=ALL_OLD`;
- numbers as DynamoDB keeps them: arithmetic exact to 38 significant digits, stored without
  leading or trailing zeros (`1.50` is kept as `1.5`);
- moto's DynamoDB errors as botocore's `ClientError`, with the same code; anything else moto
  raises (such as `NotImplementedError` for a function it lacks) is an `EmulatorGap`;
- the bill, per item, as on-demand mode charges it (`FakeDynamoDb`).

Tables are created on first use, with partition key `id` (a string), as the stack's state table.
Calls take the service's latency (bench/burst_calls.py).
"""

from __future__ import annotations

import copy
import decimal
import functools
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.exceptions import ConditionalCheckFailed
from moto.dynamodb.models import DynamoDBBackend, Table
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.dynamo_type import Item as MotoItem
from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
    ExpressionAttributeName, UpdateExpressionAddAction, UpdateExpressionDeleteAction, UpdateExpressionRemoveAction,
    UpdateExpressionSetAction)
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

from bench.burst_calls import EmulatorGap, client_error, timed

DYNAMODB_LATENCY = 0.008
#: moto keeps its items per account and region; the bench has one of each.
_ACCOUNT, _REGION = "123456789012", "eu-west-1"
#: DynamoDB numbers carry up to 38 significant digits; arithmetic that would need more is refused.
_NUMBERS = decimal.Context(prec=38, traps=[decimal.Inexact, decimal.Overflow, decimal.InvalidOperation])
#: What each operation's `ReturnValues` accepts (botocore's dynamodb service model, the API reference).
_RETURN_VALUES: Mapping[str, frozenset[str]] = {
    "PutItem": frozenset({"NONE", "ALL_OLD"}),
    "UpdateItem": frozenset({"NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"}),
}
_UPDATE_ACTIONS = [UpdateExpressionSetAction, UpdateExpressionAddAction, UpdateExpressionRemoveAction,
                   UpdateExpressionDeleteAction]
#: Capacity unit sizes (DynamoDB Developer Guide, "DynamoDB read and write operations"): a write
#: unit per started KB of the larger of the item before and after, a read unit per started 4 KB.
_WRITE_UNIT_BYTES = 1024
_READ_UNIT_BYTES = 4096

Item = dict[str, dict[str, Any]]


@dataclass
class Consumption:
    """What requests to one item cost on demand: requests, write and read request units."""

    requests: int = 0
    write_units: float = 0.0
    read_units: float = 0.0


@dataclass
class FakeDynamoDb:
    """DynamoDB tables in moto's backend, one request at a time, billing each item's requests.

    `consumption[(table, item id)]` counts requests and request units as on-demand mode bills them:
    a write costs a unit per started KB of the larger of the item before and after, also when its
    condition fails (a failed conditional write is still a write); a read a unit per started 4 KB,
    half for an eventually consistent one. A request refused as invalid costs nothing.
    """

    consumption: dict[tuple[str, str], Consumption] = field(default_factory=dict)
    _backend: DynamoDBBackend = field(default_factory=lambda: DynamoDBBackend(_REGION, _ACCOUNT))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put_item(self, *, TableName: str, Item: Item, ConditionExpression: str | None = None,
                 ExpressionAttributeNames: Mapping[str, str] | None = None,
                 ExpressionAttributeValues: Mapping[str, dict[str, Any]] | None = None,
                 ReturnValues: str = "NONE", ReturnValuesOnConditionCheckFailure: str = "NONE") -> dict[str, Any]:
        """PutItem, conditional; returns the replaced item (ALL_OLD), or the current one on a failed condition.

        Raises:
            ClientError: ConditionalCheckFailedException (with the item if asked: ALL_OLD), or
                ValidationException.
        """
        _check_return_values("PutItem", ReturnValues)
        names, values = _expression_attributes("PutItem", ExpressionAttributeNames, ExpressionAttributeValues)
        new = _stored("PutItem", Item)

        def effect() -> dict[str, Any]:
            def write() -> None:
                self._backend.put_item(TableName, copy.deepcopy(new), None, ConditionExpression, names, values,
                                       overwrite=ConditionExpression is None)

            old, _ = self._apply("PutItem", TableName, new["id"]["S"], write, attempted=new,
                                 return_old=ReturnValuesOnConditionCheckFailure)
            return _returned(ReturnValues, old, new, set(new))

        return timed(DYNAMODB_LATENCY, self._lock, effect)

    def get_item(self, *, TableName: str, Key: Item, ConsistentRead: bool = False) -> dict[str, Any]:
        """GetItem (every read here is consistent: one process, one copy; the bill tells them apart)."""
        def effect() -> dict[str, Any]:
            key = Key["id"]["S"]
            item = self._read(TableName, key)
            units = max(1, math.ceil(_item_bytes(item) / _READ_UNIT_BYTES)) * (1.0 if ConsistentRead else 0.5)
            self._usage(TableName, key).read_units += units
            return {} if item is None else {"Item": item}

        return timed(DYNAMODB_LATENCY, self._lock, effect)

    def update_item(self, *, TableName: str, Key: Item, UpdateExpression: str, ConditionExpression: str | None = None,
                    ExpressionAttributeNames: Mapping[str, str] | None = None,
                    ExpressionAttributeValues: Mapping[str, dict[str, Any]] | None = None,
                    ReturnValues: str = "NONE", ReturnValuesOnConditionCheckFailure: str = "NONE") -> dict[str, Any]:
        """UpdateItem, conditional; creates the item when it does not exist, as DynamoDB does.

        Raises:
            ClientError: ConditionalCheckFailedException (with the item if asked: ALL_OLD), or
                ValidationException (say, arithmetic on a missing attribute or on a string).
            EmulatorGap: an expression moto cannot evaluate.
        """
        _check_return_values("UpdateItem", ReturnValues)
        names, values = _expression_attributes("UpdateItem", ExpressionAttributeNames, ExpressionAttributeValues)
        key = _stored("UpdateItem", Key)

        def effect() -> dict[str, Any]:
            def write() -> None:
                self._backend.update_item(TableName, copy.deepcopy(key), UpdateExpression, names, values,
                                          condition_expression=ConditionExpression)

            old, new = self._apply("UpdateItem", TableName, key["id"]["S"], write, attempted=None,
                                   return_old=ReturnValuesOnConditionCheckFailure)
            updated = _updated_names(UpdateExpression, tuple(names.items())) if ReturnValues.startswith("UPDATED") \
                else set()
            return _returned(ReturnValues, old, new or {}, updated)

        return timed(DYNAMODB_LATENCY, self._lock, effect)

    def delete_item(self, *, TableName: str, Key: Item, ConditionExpression: str | None = None,
                    ExpressionAttributeNames: Mapping[str, str] | None = None,
                    ExpressionAttributeValues: Mapping[str, dict[str, Any]] | None = None,
                    ReturnValuesOnConditionCheckFailure: str = "NONE") -> dict[str, Any]:
        """DeleteItem, conditional.

        Raises:
            ClientError: ConditionalCheckFailedException (with the item if asked: ALL_OLD).
        """
        names, values = _expression_attributes("DeleteItem", ExpressionAttributeNames, ExpressionAttributeValues)
        key = _stored("DeleteItem", Key)

        def effect() -> dict[str, Any]:
            def write() -> None:
                self._backend.delete_item(TableName, copy.deepcopy(key), names, values, ConditionExpression)

            self._apply("DeleteItem", TableName, key["id"]["S"], write, attempted=None,
                        return_old=ReturnValuesOnConditionCheckFailure)
            return {}

        return timed(DYNAMODB_LATENCY, self._lock, effect)

    def stored_item(self, table: str, key: str) -> Item | None:
        """The item with partition key `key`, as DynamoDB holds it now (for the bench's checks)."""
        with self._lock:
            return self._read(table, key)

    def _apply(self, operation: str, table_name: str, key: str, write: Callable[[], None], *,
               attempted: Item | None, return_old: str) -> tuple[Item | None, Item | None]:
        """Apply one write to moto's table and bill it; return the item before and after.

        A failed condition's item (ALL_OLD) is read here, not asked of moto, which would render it as JSON.

        Raises:
            ClientError: what DynamoDB answers (a failed condition is billed, a refused request is not).
            EmulatorGap: anything else moto raised.
        """
        table, old = self._table(table_name), self._read(table_name, key)
        try:
            with _dynamodb_errors(operation):
                write()
                written = table.get_item(DynamoType({"S": key}))
                if written is not None:
                    for value in written.attrs.values():
                        _normalize(value)
        except ConditionalCheckFailed as exc:
            self._write(table_name, key, old, attempted)
            raise _condition_failed(operation, old, return_old) from exc
        new = self._read(table_name, key)
        self._write(table_name, key, old, new)
        return old, new

    def _table(self, name: str) -> Table:
        """The table, created on first use with the state table's key schema."""
        if name not in self._backend.tables:
            self._backend.create_table(
                name, schema=[{"AttributeName": "id", "KeyType": "HASH"}], throughput=None,
                attr=[{"AttributeName": "id", "AttributeType": "S"}], global_indexes=None, indexes=None, streams=None,
                billing_mode="PAY_PER_REQUEST", sse_specification=None, tags=[], deletion_protection_enabled=False,
                warm_throughput=None)
        return self._backend.tables[name]

    def _read(self, table: str, key: str) -> Item | None:
        """A copy of the item in its wire form, or None."""
        found: MotoItem | None = self._table(table).get_item(DynamoType({"S": key}))
        return None if found is None else copy.deepcopy(found.to_json()["Attributes"])

    def _usage(self, table: str, key: str) -> Consumption:
        """The item's bill, with this request counted."""
        usage = self.consumption.setdefault((table, key), Consumption())
        usage.requests += 1
        return usage

    def _write(self, table: str, key: str, old: Item | None, new: Item | None) -> None:
        """Bill one write of the item, the larger of its sizes before and after."""
        size = max(_item_bytes(old), _item_bytes(new))
        self._usage(table, key).write_units += max(1, math.ceil(size / _WRITE_UNIT_BYTES))


@contextmanager
def _dynamodb_errors(operation: str) -> Iterator[None]:
    """Run moto under DynamoDB's number rules; turn what it raises into what the handlers' client raises.

    moto's failed condition passes through (the caller bills it and attaches the item).
    """
    try:
        with decimal.localcontext(_NUMBERS):
            yield
    except ConditionalCheckFailed:
        raise
    except JsonRESTError as exc:
        raise client_error(exc.relative_error_type, exc.code, operation, exc.message) from exc
    except decimal.DecimalException as exc:
        raise _validation_error(operation, "Number overflow. Attempting to store a number with magnitude larger "
                                           "than supported range") from exc
    except (NotImplementedError, ValueError, TypeError, KeyError, AssertionError) as exc:
        raise EmulatorGap(f"moto could not evaluate this {operation}: {type(exc).__name__}: {exc} "
                          "(bench/burst_dynamodb.py)") from exc


def _validation_error(operation: str, message: str) -> Exception:
    """DynamoDB's answer to a request it cannot apply to this item (HTTP 400, nothing written)."""
    return client_error("ValidationException", 400, operation, message)


def _condition_failed(operation: str, old: Item | None, return_old: str) -> Exception:
    """ConditionalCheckFailedException, carrying the item when asked (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""
    extra = {"Item": copy.deepcopy(old)} if return_old == "ALL_OLD" and old is not None else {}
    return client_error("ConditionalCheckFailedException", 400, operation, "The conditional request failed", **extra)


def _check_return_values(operation: str, value: str) -> None:
    if value not in _RETURN_VALUES[operation]:
        raise _validation_error(operation, f"ReturnValues can only be {' or '.join(sorted(_RETURN_VALUES[operation]))} "
                                           f"for {operation}, not {value!r}")


def _expression_attributes(operation: str, names: Mapping[str, str] | None,
                           values: Mapping[str, dict[str, Any]] | None) -> tuple[dict[str, str], dict[str, Any]]:
    """A request's expression attribute names and values, as moto takes them, numbers in stored form."""
    return dict(names or {}), {token: _stored_value(operation, value) for token, value in (values or {}).items()}


def _stored(operation: str, item: Item) -> Item:
    """A copy of an item with every number in DynamoDB's stored form."""
    return {name: _stored_value(operation, value) for name, value in item.items()}


def _stored_value(operation: str, value: dict[str, Any]) -> dict[str, Any]:
    """An attribute value with every number as DynamoDB stores it ("0100.50" -> "100.5").

    Raises:
        ClientError: ValidationException for a number of more than 38 significant digits.
    """
    (kind, raw), = value.items()
    try:
        if kind == "N":
            return {kind: _number_text(raw)}
        if kind == "NS":
            return {kind: [_number_text(number) for number in raw]}
    except decimal.DecimalException as exc:
        raise _validation_error(operation, "Attempting to store more than 38 significant digits in a Number") from exc
    if kind == "M":
        return {kind: {name: _stored_value(operation, child) for name, child in raw.items()}}
    if kind == "L":
        return {kind: [_stored_value(operation, child) for child in raw]}
    return copy.deepcopy(value)


def _normalize(value: DynamoType) -> None:
    """Put a number moto computed (`1.5 + 1.5` is `3.0` there) in DynamoDB's stored form, in place."""
    if value.type == "N":
        value.value = _number_text(value.value)
    elif value.type == "NS":
        value.value = [_number_text(number) for number in value.value]
    elif value.type in ("M", "L"):
        for child in value.value.values() if value.type == "M" else value.value:
            _normalize(child)


def _number_text(raw: str) -> str:
    return format(Decimal(raw).normalize(_NUMBERS), "f")


@functools.lru_cache(maxsize=64)
def _updated_names(expression: str, names: tuple[tuple[str, str], ...]) -> set[str]:
    """The top-level attributes an update expression sets, adds to, removes or deletes from."""
    placeholders = dict(names)
    updated = set()
    for action in UpdateExpressionParser.make(expression).find_clauses(_UPDATE_ACTIONS):
        first = action.children[0].children[0]  # the action's path, then its first element
        updated.add(placeholders[first.get_attribute_name_placeholder()] if isinstance(first, ExpressionAttributeName)
                    else first.get_attribute_name())
    return updated


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
