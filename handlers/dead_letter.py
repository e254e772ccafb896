"""Copy a message to a dead-letter queue with the reason it failed, as every queue-draining handler does.

The reason travels as message attributes, so an operator (and `email-pipeline dlq list`) reads it
without parsing the body: `FailureCode`, `FailureReason` (the field and the rule, never a value),
`FailureField`, `Lane`, `SourceMessageId`, `FailedAt`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .errors import EmailError
from .sqs_batch import SQSRecord

#: SQS takes message attribute values of up to 256 KiB; the reason is a line, kept short.
_REASON_CHARS = 1024


def send_to_dead_letter_queue(sqs: Any, queue_url: str, record: SQSRecord, error: EmailError, lane: str) -> None:
    """Send `record`'s body to `queue_url` with `error` as its attributes.

    Raises:
        botocore's ClientError or BotoCoreError: the copy was not made (keep the message, then).
    """
    attributes = {
        "FailureCode": error.code,
        "FailureReason": str(error)[:_REASON_CHARS],
        "FailureField": error.detail,
        "Lane": lane,
        "SourceMessageId": record["messageId"],
        "FailedAt": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    sqs.send_message(QueueUrl=queue_url, MessageBody=record["body"], MessageAttributes={
        name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()})
