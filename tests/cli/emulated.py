"""The dev stack on the emulator, as the operator tool sees a deployed stack: its outputs file."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from local.system import REGION, LocalSystem


def stack_outputs(system: LocalSystem) -> dict[str, Any]:
    """What `pulumi stack output --json --show-secrets` prints for the stack, with the emulator's URLs."""
    blueprint = system.blueprint
    sqs, events = system.clients["sqs"], system.clients["events"]

    def url(name: str) -> str:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]

    lanes = {function.environment["EMAIL_LANE"]: (queue, function) for queue, function, _ in blueprint.lane_mappings()}
    [bus] = blueprint.buses
    [configuration_set] = blueprint.configuration_sets
    [table] = blueprint.tables
    any_function = next(iter(blueprint.functions.values()))
    return {
        "busName": bus,
        "busArn": events.describe_event_bus(Name=bus)["Arn"],
        "laneQueueUrls": {lane: url(queue.name) for lane, (queue, _) in lanes.items()},
        "laneDeadLetterQueueUrls": {lane: url(queue.name) for lane, queue in blueprint.dead_letter_queues().items()},
        "unroutedQueueUrl": url(f"{configuration_set}-unrouted"),
        "functionNames": {lane: function.name for lane, (_, function) in lanes.items()},
        "dashboardName": f"{configuration_set}-dashboard",
        "configurationSetName": configuration_set,
        "idempotencyTableName": table,
        "dkimTokens": ["tok1", "tok2", "tok3"],
        "recipientHashKey": any_function.environment["EMAIL_RECIPIENT_HASH_KEY"],
    }


def write_outputs(system: LocalSystem, path: Path) -> Path:
    path.write_text(json.dumps(stack_outputs(system), indent=2))
    return path


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
