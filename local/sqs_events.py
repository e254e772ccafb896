"""SQS messages in the shape Lambda's event source mapping hands them to a handler, and their bodies read back.

One builder for the local system and the tests alike: Lambda renames the SQS API's fields
(`MessageId` -> `messageId`, `MessageAttributes.X.StringValue` -> `messageAttributes.X.stringValue`),
and a handler that reads a redriven dead letter's `FailureCode` depends on getting that right.
(AWS Lambda Developer Guide, "Using Lambda with Amazon SQS": example standard queue message event.)
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

REGION = "eu-west-1"
ACCOUNT = "123456789012"


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """One message from `ReceiveMessage` (with `AttributeNames=["All"]`) as a Lambda SQS record."""
    attributes = {name: {"stringValue": value.get("StringValue", ""), "dataType": value.get("DataType", "String"),
                         "stringListValues": [], "binaryListValues": []}
                  for name, value in message.get("MessageAttributes", {}).items()}
    return {
        "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})), "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def lambda_event(messages: Sequence[Mapping[str, Any]], queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """A batch of received messages as the event a lane's handler gets."""
    return {"Records": [lambda_record(message, queue_arn, region) for message in messages]}


def received_message(body: str, *, receive_count: int = 1, receipt_handle: str | None = None,
                     failure_code: str | None = None) -> dict[str, Any]:
    """A message as `ReceiveMessage` would return it, for tests that make records without a queue."""
    message_id = str(uuid.uuid4())
    message: dict[str, Any] = {
        "MessageId": message_id,
        "ReceiptHandle": receipt_handle or f"handle-{message_id}",
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "Attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1763800000000",
                       "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1763800000000"},
    }
    if failure_code:
        message["MessageAttributes"] = {"FailureCode": {"StringValue": failure_code, "DataType": "String"}}
    return message


def json_or_text(body: str) -> Any:
    """A message body (or an event's `Detail`) as the JSON value it holds, or as its text when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return body


def string_attributes(message: Mapping[str, Any]) -> dict[str, str]:
    """A received message's attributes (`MessageAttributes`) as name -> text ("" for a binary one)."""
    return {name: value.get("StringValue", "") for name, value in message.get("MessageAttributes", {}).items()}
