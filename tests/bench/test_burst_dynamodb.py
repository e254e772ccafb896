"""The burst benchmark's DynamoDB (bench/burst_dynamodb.py): moto's evaluation with DynamoDB's numbers, and the bill.

Latencies are set to zero: these tests check what a call does, not when.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench import burst_dynamodb
from bench.burst_calls import EmulatorGap
from bench.burst_dynamodb import Consumption, FakeDynamoDb

TABLE = "email-bench-idempotency"
SCHEDULE = {"id": {"S": "bench#send-schedule"}}


@pytest.fixture(autouse=True)
def _no_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(burst_dynamodb, "DYNAMODB_LATENCY", 0.0)


@pytest.fixture
def dynamodb() -> FakeDynamoDb:
    return FakeDynamoDb()


def _n(number: str) -> dict[str, str]:
    return {"N": number}


def _update(dynamodb: FakeDynamoDb, expression: str, values: dict[str, dict[str, str]], **extra: Any) -> dict[str, Any]:
    return dynamodb.update_item(TableName=TABLE, Key=SCHEDULE, UpdateExpression=expression,
                                ExpressionAttributeValues=values, **extra)


def _schedule(dynamodb: FakeDynamoDb) -> dict[str, Any]:
    item = dynamodb.stored_item(TABLE, "bench#send-schedule")
    assert item is not None
    return item


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


# --- update expressions ----------------------------------------------------------------------------


def test_set_adds_a_number_exactly(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :end", {":end": _n("1763800000.100000")})
    _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("0.071400")})
    assert _schedule(dynamodb)["next_free"] == _n("1763800000.1714")  # binary floats would not give this


def test_set_subtracts_a_number(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :end", {":end": _n("10")})
    _update(dynamodb, "SET next_free = next_free - :d", {":d": _n("2.5")})
    assert _schedule(dynamodb)["next_free"] == _n("7.5")


def test_numbers_are_stored_without_leading_or_trailing_zeros(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :end", {":end": _n("0100.500000")})
    assert _schedule(dynamodb)["next_free"] == _n("100.5")


def test_arithmetic_on_a_missing_attribute_is_refused_and_writes_nothing(dynamodb: FakeDynamoDb) -> None:
    with pytest.raises(ClientError) as excinfo:
        _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("1")})
    assert _error(excinfo) == "ValidationException"
    assert dynamodb.stored_item(TABLE, "bench#send-schedule") is None
    assert (TABLE, "bench#send-schedule") not in dynamodb.consumption


def test_arithmetic_on_a_string_is_refused(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :s", {":s": {"S": "soon"}})
    with pytest.raises(ClientError) as excinfo:
        _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("1")})
    assert _error(excinfo) == "ValidationException"


def test_arithmetic_past_38_significant_digits_is_refused_and_writes_nothing(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :end", {":end": _n("1" + "0" * 36 + ".5")})  # 38 digits
    with pytest.raises(ClientError) as excinfo:
        _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("0.01")})
    assert _error(excinfo) == "ValidationException"
    assert _schedule(dynamodb)["next_free"] == _n("1" + "0" * 36 + ".5")


def test_every_right_hand_side_reads_the_item_before_the_update(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET a = :one, b = :two", {":one": _n("1"), ":two": _n("2")})
    _update(dynamodb, "SET a = b, b = a + :zero", {":zero": _n("0")})
    assert (_schedule(dynamodb)["a"], _schedule(dynamodb)["b"]) == (_n("2"), _n("1"))


def test_add_if_not_exists_and_remove_are_evaluated_as_dynamodb_does(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :d, extra = :d", {":d": _n("1.5")})
    _update(dynamodb, "ADD next_free :d", {":d": _n("1.5")})
    _update(dynamodb, "SET later = if_not_exists(later, :d), next_free = if_not_exists(next_free, :d) REMOVE extra",
            {":d": _n("7")})
    assert _schedule(dynamodb) == {**SCHEDULE, "next_free": _n("3"), "later": _n("7")}


def test_a_reserved_word_as_a_name_is_refused_as_dynamodb_refuses_it(dynamodb: FakeDynamoDb) -> None:
    with pytest.raises(ClientError) as excinfo:
        _update(dynamodb, "SET other = :d", {":d": _n("1")})  # the lanes write #status, #result
    assert _error(excinfo) == "ValidationException"


def test_a_syntax_error_is_refused_as_dynamodb_refuses_it(dynamodb: FakeDynamoDb) -> None:
    with pytest.raises(ClientError) as excinfo:
        _update(dynamodb, "SET next_free = = :d", {":d": _n("1")})
    assert _error(excinfo) == "ValidationException"


def test_a_condition_moto_cannot_parse_is_an_emulator_gap(dynamodb: FakeDynamoDb) -> None:
    """moto signals it with a ValueError, where DynamoDB would answer: the run cannot be trusted either way."""
    with pytest.raises(EmulatorGap):
        _update(dynamodb, "SET next_free = :d", {":d": _n("1")}, ConditionExpression="next_free BETWEEN :d AND")


# --- conditions ------------------------------------------------------------------------------------


def test_attribute_not_exists_holds_for_an_item_that_does_not_exist(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :end", {":end": _n("5"), ":now": _n("4")},
            ConditionExpression="attribute_not_exists(next_free) OR next_free < :now")
    assert _schedule(dynamodb) == {**SCHEDULE, "next_free": _n("5")}


def test_a_failed_condition_returns_the_item_and_still_costs_a_write_unit(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :end", {":end": _n("5")})
    with pytest.raises(ClientError) as excinfo:
        _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("1"), ":now": _n("9"), ":limit": _n("10")},
                ConditionExpression="next_free >= :now AND next_free <= :limit",
                ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert _error(excinfo) == "ConditionalCheckFailedException"
    assert excinfo.value.response["Item"] == {**SCHEDULE, "next_free": _n("5")}
    assert dynamodb.consumption[(TABLE, "bench#send-schedule")] == Consumption(requests=2, write_units=2.0)


# --- ReturnValues ----------------------------------------------------------------------------------


def test_updated_old_returns_the_old_values_of_the_updated_attributes_only(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :end, extra = :x", {":end": _n("5"), ":x": _n("7")})
    response = _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("0.5")}, ReturnValues="UPDATED_OLD")
    assert response == {"Attributes": {"next_free": _n("5")}}


def test_updated_old_leaves_out_attributes_that_did_not_exist(dynamodb: FakeDynamoDb) -> None:
    response = _update(dynamodb, "SET next_free = :end", {":end": _n("5")}, ReturnValues="UPDATED_OLD")
    assert "Attributes" not in response


def test_updated_new_and_all_new_return_values_after_the_update(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :end, extra = :x", {":end": _n("5"), ":x": _n("7")})
    updated = _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("1")}, ReturnValues="UPDATED_NEW")
    every = _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("1")}, ReturnValues="ALL_NEW")
    assert updated == {"Attributes": {"next_free": _n("6")}}
    assert every == {"Attributes": {**SCHEDULE, "next_free": _n("7"), "extra": _n("7")}}


def test_update_without_return_values_returns_no_attributes(dynamodb: FakeDynamoDb) -> None:
    assert _update(dynamodb, "SET next_free = :end", {":end": _n("5")}) == {}


def test_put_item_all_old_returns_the_replaced_item_only_when_there_was_one(dynamodb: FakeDynamoDb) -> None:
    item = {"id": {"S": "k"}, "status": {"S": "IN_PROGRESS"}}
    assert dynamodb.put_item(TableName=TABLE, Item=item, ReturnValues="ALL_OLD") == {}
    replaced = dynamodb.put_item(TableName=TABLE, Item={**item, "status": {"S": "COMPLETED"}}, ReturnValues="ALL_OLD")
    assert replaced == {"Attributes": item}


def test_put_item_refuses_return_values_it_does_not_take(dynamodb: FakeDynamoDb) -> None:
    with pytest.raises(ClientError) as excinfo:
        dynamodb.put_item(TableName=TABLE, Item={"id": {"S": "k"}}, ReturnValues="UPDATED_OLD")
    assert _error(excinfo) == "ValidationException"


# --- the bill --------------------------------------------------------------------------------------


def test_reads_cost_half_a_unit_eventually_consistent_and_one_consistent(dynamodb: FakeDynamoDb) -> None:
    dynamodb.get_item(TableName=TABLE, Key=SCHEDULE)
    dynamodb.get_item(TableName=TABLE, Key=SCHEDULE, ConsistentRead=True)
    assert dynamodb.consumption[(TABLE, "bench#send-schedule")] == Consumption(requests=2, read_units=1.5)


def test_a_write_costs_a_unit_per_started_kilobyte_of_the_larger_item(dynamodb: FakeDynamoDb) -> None:
    big = {"id": {"S": "k"}, "body": {"S": "x" * 1500}}
    dynamodb.put_item(TableName=TABLE, Item=big)
    dynamodb.delete_item(TableName=TABLE, Key={"id": {"S": "k"}})
    dynamodb.delete_item(TableName=TABLE, Key={"id": {"S": "k"}})  # gone: the minimum, one unit
    assert dynamodb.consumption[(TABLE, "k")] == Consumption(requests=3, write_units=5.0)
