"""The policy pack as the Pulumi engine drives it: its own process, spoken to over the analyzer gRPC API.

`test_policies.py` calls the policies directly. Here the pack starts the way the CLI starts a
Python pack (`python -m pulumi.policy <engine> policy/`), and the test makes the engine's calls:
GetAnalyzerInfo, Analyze per resource (inputs) and AnalyzeStack (outputs). So the SDK's own
deserialization, unknown-value proxy and diagnostics are part of what is tested.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from local.mocks import Recorded
from local.program import run_stack
from tests.policy.harness import Snapshot, edit_document, one, set_prop, snapshot

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "policy"


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack in its own process, as the CLI runs it; it prints the port it serves on."""
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(PACK_DIR)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        port = process.stdout.readline().strip() if process.stdout else ""
        assert port.isdigit(), f"the pack did not start: {process.stderr.read() if process.stderr else ''}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def dev_resources() -> list[Recorded]:
    return run_stack("dev").resources


def analyze(analyzer: analyzer_pb2_grpc.AnalyzerStub, resources: Sequence[Snapshot]) -> list[tuple[str, Any]]:
    """(URN, diagnostic) for everything the engine would get: Analyze per resource, then AnalyzeStack.

    A resource policy's diagnostic carries no URN: the engine attaches it to the resource it sent.
    """
    diagnostics = []
    for resource in resources:
        request = analyzer_pb2.AnalyzeRequest(type=resource.typ, name=resource.name, urn=resource.urn,
                                              properties=_struct(resource.props))
        diagnostics += [(resource.urn, d) for d in analyzer.Analyze(request).diagnostics]
    stack = analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(
            type=r.typ, name=r.name, urn=r.urn, properties=_struct(r.props),
            propertyDependencies={key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                                  for key, urns in r.dependencies.items()},
        )
        for r in resources
    ])
    return diagnostics + [(d.urn, d) for d in analyzer.AnalyzeStack(stack).diagnostics]


def _struct(props: dict[str, Any]) -> struct_pb2.Struct:
    """Properties on the wire; assets and archives (irrelevant to these policies) as text."""
    struct = struct_pb2.Struct()
    struct.update(json.loads(json.dumps(props, default=repr)))
    return struct


def test_pack_serves_the_six_policies_as_mandatory(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())

    assert info.name == "email-pipeline"
    assert {p.name: p.enforcementLevel for p in info.policies} == {
        name: analyzer_pb2.MANDATORY for name in (
            "iam-no-wildcard-actions", "sqs-queue-encrypted", "sqs-work-queue-has-dlq",
            "sqs-visibility-covers-function-timeout", "lambda-has-log-group-with-retention", "dlq-has-alarm")}


@pytest.mark.parametrize("preview", [False, True], ids=["update", "first-preview"])
def test_dev_stack_gets_no_diagnostics(analyzer: analyzer_pb2_grpc.AnalyzerStub, dev_resources: list[Recorded],
                                       preview: bool) -> None:
    """In a first preview too: no violation, and no policy skipped for reading an unknown value."""
    assert analyze(analyzer, snapshot(dev_resources, preview=preview)) == []


def test_broken_stack_gets_one_mandatory_diagnostic_per_problem(analyzer: analyzer_pb2_grpc.AnalyzerStub,
                                                                dev_resources: list[Recorded]) -> None:
    stack = copy.deepcopy(dev_resources)
    edit_document(one(stack, "aws:iam/rolePolicy:RolePolicy", "email-pipeline-dev-normal-policy"),
                  lambda doc: doc["Statement"].append({"Effect": "Allow", "Action": "ses:*", "Resource": "*"}))
    set_prop(one(stack, "aws:sqs/queue:Queue", "email-pipeline-dev-priority-queue"), "visibilityTimeoutSeconds", 300)

    diagnostics = analyze(analyzer, snapshot(stack))

    assert sorted((d.policyName, urn.rsplit("::", 1)[1]) for urn, d in diagnostics) == [
        ("iam-no-wildcard-actions", "email-pipeline-dev-normal-policy"),
        ("sqs-visibility-covers-function-timeout", "email-pipeline-dev-priority-queue"),
    ]
    assert all(d.enforcementLevel == analyzer_pb2.MANDATORY for _, d in diagnostics)
    assert all(d.message.startswith(d.description + "\n") for _, d in diagnostics)


def test_first_preview_still_reports_a_short_visibility_timeout(analyzer: analyzer_pb2_grpc.AnalyzerStub,
                                                                dev_resources: list[Recorded]) -> None:
    """The queue's ARN is unknown; the mapping is linked to it through its property dependencies."""
    stack = copy.deepcopy(dev_resources)
    set_prop(one(stack, "aws:sqs/queue:Queue", "email-pipeline-dev-normal-queue"), "visibilityTimeoutSeconds", 300)

    [(_, diagnostic)] = analyze(analyzer, snapshot(stack, preview=True))

    assert diagnostic.policyName == "sqs-visibility-covers-function-timeout"
    assert "at least 360" in diagnostic.message
