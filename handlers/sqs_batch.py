"""The shapes of an SQS batch as Lambda's event source mapping delivers it, and of the answer.

Every queue-draining handler (the lanes, the status handler) reads these; they live apart so a
handler imports them without another handler's machinery.
"""

from __future__ import annotations

from typing import TypedDict


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


class SQSMessageAttribute(TypedDict, total=False):
    """A message attribute as Lambda delivers it (camelCase, unlike the SQS API's shape)."""

    stringValue: str
    dataType: str


class SQSRecord(TypedDict, total=False):
    """The fields of an SQS record (as Lambda's event source mapping delivers it) used here."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]
    messageAttributes: dict[str, SQSMessageAttribute]
