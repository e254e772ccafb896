"""The local stack's outputs, as `pulumi stack output --json --show-secrets` prints a deployed stack's.

The operator tool (`email-pipeline`) works on a stack from that document. `python -m local serve`
writes the running emulator's (`write`, to `build/local-stack.json`), so the same commands work on
it: `email-pipeline --local status`, or `--stack-outputs build/local-stack.json --endpoint-url ...`.
The document is the program's own exports (`pulumi.export` in `__main__.py`, read from the mocked
run), not a second description of them; only the queue URLs change, to the emulator's, because
SQS's URLs name the endpoint. The hash key is the local stack's (the mocks derive the program's
generated key from its resource name: the same on every run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ses_email_pipeline.cli.stack import LOCAL_STACK_OUTPUTS

from local.program import ROOT
from local.system import LocalSystem

OUTPUTS_FILE = ROOT / LOCAL_STACK_OUTPUTS


def stack_outputs(system: LocalSystem) -> dict[str, Any]:
    """The stack's outputs with the emulator's queue URLs, in the shape Pulumi prints them."""
    by_name = {queue.name: queue for queue in system.blueprint.queues.values()}

    def emulated(value: str) -> str:
        name = value.rpartition("/")[2]
        return system.queue_url(by_name[name]) if value.startswith("https://sqs.") and name in by_name else value

    return _map_strings(system.blueprint.exports, emulated)


def write(system: LocalSystem, path: Path = OUTPUTS_FILE) -> Path:
    """Write the outputs where `--local` reads them (two-space indents, as Pulumi prints them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stack_outputs(system), indent=2) + "\n")
    return path


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    return value
