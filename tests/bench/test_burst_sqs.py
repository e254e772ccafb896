"""The burst benchmark's SQS (bench/burst_sqs.py): what the poller and the handlers see, and what SQS bills.

Latency is set to zero: these tests check what a call does, not when.
"""

from __future__ import annotations

import pytest

from bench import burst_sqs
from bench.burst_sqs import FakeSqs


@pytest.fixture(autouse=True)
def _no_latency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(burst_sqs, "SQS_LATENCY", 0.0)

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
