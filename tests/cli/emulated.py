"""The dev stack on the emulator, as the operator tool sees a deployed stack: its outputs file."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from local import stack_outputs
from local.system import REGION, LocalSystem


def write_outputs(system: LocalSystem, path: Path) -> Path:
    """The stack's outputs file as `make serve` writes it (`local.stack_outputs`), at `path`."""
    return stack_outputs.write(system, path)


def drain(system: LocalSystem) -> None:
    """Run the handlers; their log lines (stdout) are not the tool's output."""
    with contextlib.redirect_stdout(io.StringIO()):
        system.drain()


def empty(system: LocalSystem) -> None:
    """Every queue empty and nothing sent: the state each test starts from.

    Received and deleted rather than purged: moto, like SQS, allows one PurgeQueue a minute.
    """
    sqs = system.clients["sqs"]
    for queue in system.blueprint.queues.values():
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    system.ses.outbox.clear()


def connection(system: LocalSystem, outputs: Path) -> list[str]:
    """The flags that point the tool at the emulated stack."""
    return ["--stack-outputs", str(outputs), "--endpoint-url", system.endpoint, "--region", REGION]


def entry(detail: dict[str, Any], detail_type: str = "Email Notification Request",
          source: str = "custom.application") -> dict[str, Any]:
    """A PutEvents entry the dev stack's routes accept (as in tests/local/test_system.py)."""
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}


def notification(recipient: str = "someone@example.com", **detail: Any) -> dict[str, Any]:
    """A valid notification to `recipient`, with any detail field added or replaced."""
    return entry({"emailConfig": {"recipient": recipient, "subject": "Hello"}, "title": "T", "message": "M", **detail})
