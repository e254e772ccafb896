"""The burst benchmark's emulated DynamoDB and SQS (bench/burst_model.py): the forms the lanes use, and their bill.

Latencies are set to zero: these tests check what a call does, not when.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench import burst_model
from bench.burst_model import Consumption, EmulatorGap, FakeDynamoDb, FakeSqs

TABLE = "email-bench-idempotency"
SCHEDULE = {"id": {"S": "bench#send-schedule"}}


@pytest.fixture(autouse=True)
def _no_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(burst_model, "DYNAMODB_LATENCY", 0.0)
    monkeypatch.setattr(burst_model, "SQS_LATENCY", 0.0)


@pytest.fixture
def dynamodb() -> FakeDynamoDb:
    return FakeDynamoDb()


def _n(number: str) -> dict[str, str]:
    return {"N": number}


def _update(dynamodb: FakeDynamoDb, expression: str, values: dict[str, dict[str, str]], **extra: Any) -> dict[str, Any]:
    return dynamodb.update_item(TableName=TABLE, Key=SCHEDULE, UpdateExpression=expression,
                                ExpressionAttributeValues=values, **extra)


def _schedule(dynamodb: FakeDynamoDb) -> dict[str, dict[str, str]]:
    return dynamodb.tables[TABLE]["bench#send-schedule"]


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
    assert TABLE not in dynamodb.tables or "bench#send-schedule" not in dynamodb.tables[TABLE]
    assert (TABLE, "bench#send-schedule") not in dynamodb.consumption


def test_arithmetic_on_a_string_is_refused(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :s", {":s": {"S": "soon"}})
    with pytest.raises(ClientError) as excinfo:
        _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("1")})
    assert _error(excinfo) == "ValidationException"


def test_every_right_hand_side_reads_the_item_before_the_update(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET a = :one, b = :two", {":one": _n("1"), ":two": _n("2")})
    _update(dynamodb, "SET a = b, b = a + :zero", {":zero": _n("0")})
    assert (_schedule(dynamodb)["a"], _schedule(dynamodb)["b"]) == (_n("2"), _n("1"))


@pytest.mark.parametrize("expression", ["ADD next_free :d", "SET next_free = if_not_exists(next_free, :d)",
                                        "SET next_free = :d REMOVE other"])
def test_an_update_form_not_emulated_is_an_emulator_gap(dynamodb: FakeDynamoDb, expression: str) -> None:
    with pytest.raises(EmulatorGap):
        _update(dynamodb, expression, {":d": _n("1")})


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
    _update(dynamodb, "SET next_free = :end, other = :x", {":end": _n("5"), ":x": _n("7")})
    response = _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("0.5")}, ReturnValues="UPDATED_OLD")
    assert response == {"Attributes": {"next_free": _n("5")}}


def test_updated_old_leaves_out_attributes_that_did_not_exist(dynamodb: FakeDynamoDb) -> None:
    response = _update(dynamodb, "SET next_free = :end", {":end": _n("5")}, ReturnValues="UPDATED_OLD")
    assert "Attributes" not in response


def test_updated_new_and_all_new_return_values_after_the_update(dynamodb: FakeDynamoDb) -> None:
    _update(dynamodb, "SET next_free = :end, other = :x", {":end": _n("5"), ":x": _n("7")})
    updated = _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("1")}, ReturnValues="UPDATED_NEW")
    every = _update(dynamodb, "SET next_free = next_free + :d", {":d": _n("1")}, ReturnValues="ALL_NEW")
    assert updated == {"Attributes": {"next_free": _n("6")}}
    assert every == {"Attributes": {**SCHEDULE, "next_free": _n("7"), "other": _n("7")}}


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


# --- SQS -------------------------------------------------------------------------------------------

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/email-bench-normal"


def test_sqs_counts_deliveries_receives_and_batch_deletes_but_not_empty_receives() -> None:
    sqs = FakeSqs()
    sqs.create_queue(QUEUE, 360)
    for index in range(3):
        sqs.enqueue(QUEUE, f'{{"id": "e-{index}"}}')
    messages = sqs.receive_message(QueueUrl=QUEUE, MaxNumberOfMessages=10)["Messages"]
    sqs.receive_message(QueueUrl=QUEUE, MaxNumberOfMessages=10)  # everything is in flight: empty
    response = sqs.delete_message_batch(QueueUrl=QUEUE, Entries=[
        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(messages)])
    assert len(response["Successful"]) == 3
    assert sqs.bodies(QUEUE) == []
    assert sqs.requests == {"SendMessage": 3, "ReceiveMessage": 1, "DeleteMessageBatch": 1}
    assert sqs.empty_receives == 1


def test_deleting_with_a_receipt_handle_that_is_not_the_latest_leaves_the_message() -> None:
    sqs = FakeSqs(clock=lambda: 0.0)
    sqs.create_queue(QUEUE, 0)  # visible again at once, so the second receive gets a new handle
    sqs.enqueue(QUEUE, '{"id": "e"}')
    stale = sqs.receive_message(QueueUrl=QUEUE, MaxNumberOfMessages=1)["Messages"][0]["ReceiptHandle"]
    sqs.receive_message(QueueUrl=QUEUE, MaxNumberOfMessages=1)
    sqs.delete_message_batch(QueueUrl=QUEUE, Entries=[{"Id": "0", "ReceiptHandle": stale}])
    assert sqs.bodies(QUEUE) == ['{"id": "e"}']
