"""Shared fixtures: fake AWS credentials, moto-backed queues and table, settings and events."""

from __future__ import annotations

import os

# Before anything imports boto3: no real credentials or region may ever be used by a test.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SECURITY_TOKEN="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="eu-west-1",
    AWS_REGION="eu-west-1",
)
os.environ.pop("AWS_PROFILE", None)

import importlib.abc
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

class _OneImportName(importlib.abc.MetaPathFinder):
    """Refuse `handlers.*` as a top-level import: in this process the code is `ses_email_pipeline.handlers`.

    The repository root is on sys.path (for `local`, `tests`), so `import handlers` would load a
    second copy of every module, with its own error classes that `isinstance` would not match.
    Lambda imports them as `handlers.*`, in a process of its own; the bench does too.
    """

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "handlers" or name.startswith("handlers."):
            raise ImportError(f"import {name!r} as 'ses_email_pipeline.{name}': one module, one import name")
        return None


sys.meta_path.insert(0, _OneImportName())

from local import dynamodb_limits  # noqa: E402
from local.lambda_context import LambdaContext  # noqa: E402
from local.sqs_events import lambda_record, received_message  # noqa: E402
from ses_email_pipeline.handlers.shared import catalog as template_catalog  # noqa: E402
from ses_email_pipeline.template_files import deployed_catalog, discover
from ses_email_pipeline.handlers import log
from ses_email_pipeline.handlers.shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"
REGION = "eu-west-1"
HASH_KEY = "test-stack-key"


def load_event(name: str) -> dict[str, Any]:
    """A sample EventBridge event from tests/events/."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def sqs_record(body: str | dict[str, Any], *, receive_count: int = 1, receipt_handle: str | None = None) -> dict[str, Any]:
    """An SQS record as Lambda's event source mapping delivers it."""
    text = body if isinstance(body, str) else json.dumps(body)
    message = received_message(text, receive_count=receive_count, receipt_handle=receipt_handle)
    return lambda_record(message, f"arn:aws:sqs:{REGION}:123456789012:lane", REGION)


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


@dataclass
class FakeContext(LambdaContext):
    """`local.lambda_context.LambdaContext` with a test function's names and a fixed, settable remaining time."""

    function_name: str = "email-templated"
    aws_request_id: str = "req-0001"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:email-templated"
    remaining_ms: int | None = 60_000


@pytest.fixture(autouse=True)
def _logging_for_tests() -> Iterator[None]:
    log.configure()
    yield
    log.clear()


@pytest.fixture
def catalog() -> str:
    """The real templates/ folder as the handlers' catalog for stack `test`."""
    return template_catalog.to_json(deployed_catalog(discover(ROOT / "templates"), prefix="email-test"))


@dataclass
class Lanes:
    """moto-backed queues and state table for one lane."""

    sqs: Any
    dynamodb: Any
    queue_url: str
    dlq_url: str
    table: str

    def dead_letters(self) -> list[dict[str, Any]]:
        """Drain the DLQ (as an operator would read it), returning bodies and attributes."""
        messages = self.sqs.receive_message(
            QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        return [
            {
                "body": _json_or_text(m["Body"]),
                "attributes": {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()},
            }
            for m in messages
        ]


def _json_or_text(body: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return body


@pytest.fixture
def aws() -> Iterator[Lanes]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = dynamodb_limits.install(boto3.client("dynamodb", region_name=REGION))
        dlq_url = sqs.create_queue(QueueName="lane-dlq")["QueueUrl"]
        queue_url = sqs.create_queue(QueueName="lane")["QueueUrl"]
        dynamodb.create_table(
            TableName="idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield Lanes(sqs, dynamodb, queue_url, dlq_url, "idempotency")


@pytest.fixture
def make_settings(catalog: str) -> Callable[..., Settings]:
    """Factory: settings for a lane, with any field overridden by keyword."""

    def build(lanes: Lanes | None = None, **overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "stack": "test",
            "lane": "normal",
            "sender": "Notifications <no-reply@mail.example.com>",
            "configuration_set": "email-test",
            "recipient_hash_key": HASH_KEY.encode(),
            "templates": template_catalog.from_json(catalog),
            "account_send_rate": 14.0,
            "lane_rate_share": 1.0,
            "lane_max_concurrency": 2,
            "metrics_namespace": "EmailPipeline/test",
        }
        if lanes is not None:
            base.update(queue_url=lanes.queue_url, dead_letter_queue_url=lanes.dlq_url, state_table=lanes.table)
        base.update(overrides)
        return Settings(**base)

    return build


#: Where the slow tests are: they start the emulator, run the program under Pulumi's mocks, build
#: archives or a wheel, or run npm's tools. `make test-fast` (`pytest -m "not slow"`) leaves them
#: out; `make test` runs everything. A test is fast unless it lives here.
SLOW = ("tests/local/", "tests/components/", "tests/policy/", "tests/bench/", "tests/cli/test_commands.py",
        "tests/console/test_local.py", "tests/console/test_operator_policy.py", "tests/console/test_browser.py",
        "tests/cli/test_recipient_trace.py", "tests/test_extending.py",
        "tests/test_package.py", "tests/test_workflows.py", "tests/handlers/test_as_lambda_imports.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.fspath).resolve().relative_to(ROOT).as_posix().startswith(SLOW):
            item.add_marker(pytest.mark.slow)
