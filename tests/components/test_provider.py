"""The components as a multi-language package: an inferred schema, and construction from plain inputs."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from local.mocks import run_program
from ses_email_pipeline import EmailSender, EmailSenderArgs, EventRouter, EventRouterArgs, Monitoring, MonitoringArgs
from ses_email_pipeline import provider
from ses_email_pipeline.provider import camel_case

COMPONENTS = [(EmailSender, EmailSenderArgs), (EventRouter, EventRouterArgs), (Monitoring, MonitoringArgs)]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return provider.schema()


@pytest.mark.parametrize(("component", "args"), COMPONENTS)
def test_schema_lists_every_input_and_output(schema: dict[str, Any], component: type, args: type) -> None:
    resource = schema["resources"][f"email-pipeline:index:{component.__name__}"]
    assert resource["isComponent"] is True
    fields = dataclasses.fields(args)
    assert set(resource["inputProperties"]) == {camel_case(f.name) for f in fields}
    required = {camel_case(f.name) for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    assert set(resource.get("requiredInputs", [])) == required
    outputs = {camel_case(name) for name in inspect.get_annotations(component)}
    assert set(resource["properties"]) == outputs


def test_nested_inputs_become_schema_types(schema: dict[str, Any]) -> None:
    assert {"email-pipeline:index:LaneConfig", "email-pipeline:index:Route", "email-pipeline:index:LaneQueue",
            "email-pipeline:index:WatchedFunction", "email-pipeline:index:WatchedLane"} <= set(schema["types"])
    lanes = schema["resources"]["email-pipeline:index:EmailSender"]["inputProperties"]["lanes"]
    assert lanes["items"]["$ref"].endswith("LaneConfig")


def test_plain_inputs_build_the_same_resources_as_the_python_api() -> None:
    """What a YAML or TypeScript program sends (dicts) declares what the dataclasses declare."""
    [provided] = [c for c in provider.provider_components() if c.__name__ == "EventRouter"]
    queue = {"arn": "arn:aws:sqs:eu-west-1:123456789012:q", "url": "https://sqs.eu-west-1.amazonaws.com/123456789012/q"}
    from_dicts = run_program(lambda: provided("router", {
        "lane_queues": {"normal": queue, "priority": queue},
        "routes": [{"name": "orders", "event_pattern": {"source": ["shop"]}, "lane": "normal"}],
    }))
    from ses_email_pipeline import LaneQueue, Route
    from_python = run_program(lambda: EventRouter("router", EventRouterArgs(
        lane_queues={"normal": LaneQueue(**queue), "priority": LaneQueue(**queue)},
        routes=[Route("orders", {"source": ["shop"]}, "normal")])))
    summary = lambda mocks: sorted((r.typ, r.name, str(r.inputs)) for r in mocks.resources)
    assert summary(from_dicts) == summary(from_python)


def test_the_schema_command_prints_json() -> None:
    """README: `python -m ses_email_pipeline.provider schema` prints the package schema as JSON."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "`python -m ses_email_pipeline.provider schema`" in readme
    printed = subprocess.run([sys.executable, "-m", "ses_email_pipeline.provider", "schema"], capture_output=True,
                             text=True, check=True).stdout
    assert "email-pipeline:index:EmailSender" in json.loads(printed)["resources"]
