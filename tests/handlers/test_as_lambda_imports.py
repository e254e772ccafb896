"""Every function as Lambda runs it: its module imported alone, from the deployed zip, in a fresh interpreter.

The test process configures logging for itself (`tests/conftest.py`), and so does the local run,
which hides a handler module that never configures it: Lambda imports only the function's own
module, and a module that left logging unconfigured would print nothing of its own, or lines that
neither Logs Insights nor the metric filters can read. So each function the dev stack declares is
imported here as `handlers.<module>` from `build/handlers.zip` in a new interpreter, with the
environment the function declares, against the emulator, and invoked once; every line it prints
must be one JSON object.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local.sqs_events import lambda_record, received_message
from local.system import REGION, LocalSystem
from ses_email_pipeline.packaging import build_handler_zip

ROOT = Path(__file__).resolve().parents[2]

#: Invokes the handler once, as Lambda's runtime does: import the module, call `handler(event, context)`.
RUNNER = """
import importlib, json, sys
module_name, function_name, event = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

class Context:
    function_name = function_name
    aws_request_id = "as-lambda"
    def get_remaining_time_in_millis(self):
        return 60_000

handler = getattr(importlib.import_module(module_name), "handler")
try:
    handler(event, Context())
except Exception as exc:  # Lambda reports a raised error itself; only our own lines are checked
    print(f"RAISED {type(exc).__name__}", file=sys.stderr)
"""


@pytest.fixture(scope="module")
def system() -> Iterator[LocalSystem]:
    with LocalSystem.start("dev") as running, contextlib.redirect_stdout(io.StringIO()):
        running.run_report("2026-12-01T09:00:00Z")  # so the report's invocation below is a repeat, and logs it
        yield running


@pytest.fixture(scope="module")
def code_dirs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Each entry module's own archive, unpacked as Lambda unpacks it (`/var/task`)."""
    scratch = tmp_path_factory.mktemp("lambda")

    def unpacked(module: str) -> Path:
        task = scratch / module
        if not task.exists():
            zipfile.ZipFile(build_handler_zip(ROOT / "handlers", scratch / f"{module}.zip", module)).extractall(task)
        return task

    return unpacked


def invocation_for(handler: str, queue_arn: str | None) -> dict[str, Any]:
    """What each kind of function is invoked with: an unreadable SQS message, or the report's trigger again."""
    if queue_arn is None:
        return {"scheduledTime": "2026-12-01T09:00:00Z"}
    return {"Records": [lambda_record(received_message("not json"), queue_arn, REGION)]}


def test_every_function_logs_json_lines_when_its_module_is_imported_alone(
        system: LocalSystem, code_dirs: Callable[[str], Path]) -> None:
    queues = {function.arn: queue.arn for queue, function, _batch in system.blueprint.lane_mappings()}
    functions = list(system.blueprint.functions.values())
    assert {f.handler.rpartition(".")[0] for f in functions} == {
        "handlers.templated", "handlers.priority", "handlers.report", "handlers.status"}
    for function in functions:
        module = function.handler.rpartition(".")[0]
        code_dir = code_dirs(module)
        environment = {
            "PATH": os.environ.get("PATH", ""), **function.environment, "AWS_ENDPOINT_URL": system.endpoint,
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION, "PYTHONPATH": str(code_dir)}
        event = invocation_for(function.handler, queues.get(function.arn))
        result = subprocess.run([sys.executable, "-c", RUNNER, module, function.name, json.dumps(event)],
                                env=environment, cwd=code_dir.parent, capture_output=True, text=True, timeout=120)
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        assert lines, f"{function.name} logged nothing: {result.stderr[-2000:]}"
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                pytest.fail(f"{function.name} ({module} imported alone) logged a line that is not JSON: {line!r}")
            assert {"event", "level", "timestamp"} <= set(record), line


#: What a function's init leaves to the cyclic collector: the objects it tracks outside the permanent generation.
INIT_HEAP = """
import gc, importlib, sys
module = importlib.import_module(sys.argv[1])
assert module.__file__.startswith(sys.path[1]), (module.__file__, sys.path[:2])  # the archive's, not the repository's
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_a_function_init_leaves_nothing_for_the_collector_to_walk_again(
        system: LocalSystem, code_dirs: Callable[[str], Path]) -> None:
    """Cold start: what the import built (botocore, the clients' models, our modules) lives as long as
    the container, so it is frozen once made (`handlers.entry.end_of_init`) and the invocations'
    collections walk only what the invocations make; a lane's init spent about a fifth of its CPU
    in the collector before (bench/README.md)."""
    for module in sorted({f.handler.rpartition(".")[0] for f in system.blueprint.functions.values()}):
        code_dir = code_dirs(module)
        environment = {"PATH": os.environ.get("PATH", ""), "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                       "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "PYTHONPATH": str(code_dir)}
        # From beside the archive: `-c` puts the working directory first on the path, before PYTHONPATH.
        result = subprocess.run([sys.executable, "-c", INIT_HEAP, module], env=environment, capture_output=True,
                                text=True, timeout=120, check=True, cwd=code_dir.parent)
        frozen, tracked = map(int, result.stdout.split())
        assert frozen > 20_000, f"{module}: the init heap was not frozen ({frozen} objects)"
        assert tracked < frozen / 100, f"{module}: {tracked} objects made after the freeze, {frozen} frozen"
