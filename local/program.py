"""Run the real Pulumi program (`__main__.py`) under the mocks with a stack's config."""

from __future__ import annotations

import json
import os
import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml

from local.mocks import RecordingMocks, run_program
from local.stack_files import validate_stack_config

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "email-pipeline"


def stack_config(stack: str = "dev") -> dict[str, Any]:
    """The stack file's config, with keys as Pulumi passes them to a program."""
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    return dict(raw.get("config") or {})


def run_stack(
    stack: str = "dev", overrides: Mapping[str, Any] | None = None, *, config_from: str | None = None
) -> RecordingMocks:
    """Declare everything `__main__.py` declares for the stack, and return the recorded resources.

    Args:
        stack: the stack name the program sees.
        overrides: config values (without the project prefix) replacing the stack file's.
        config_from: read another stack's file (default: the stack's own).

    Raises:
        StackConfigError: the Pulumi CLI would refuse the stack file's config. Only the file and
            the project's defaults are checked: overrides stand for `pulumi config set`.
    """
    validate_stack_config(ROOT / "Pulumi.yaml", ROOT / f"Pulumi.{config_from or stack}.yaml", stack)
    config = {**stack_config(config_from or stack), **{f"{PROJECT}:{k}": v for k, v in (overrides or {}).items()}}
    values = {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}
    pulumi.runtime.set_all_config(values, [f"{PROJECT}:recipientHashKey"])
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return run_program(lambda: runpy.run_path(str(ROOT / "__main__.py")), stack=stack, project=PROJECT)
    finally:
        os.chdir(cwd)
