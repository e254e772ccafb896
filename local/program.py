"""Run the real Pulumi program (`__main__.py`) under the mocks with a stack's config."""

from __future__ import annotations

import difflib
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


class UnknownStack(LookupError):
    """No `Pulumi.<stack>.yaml` here: the local run has no config for that stack.

    The Pulumi CLI knows a stack from its backend; the local run knows only the stack files beside
    Pulumi.yaml, so a stack without one is a misspelt `--stack`, not an empty config.
    """

    def __init__(self, stack: str, known: list[str]) -> None:
        listed = ", ".join(known) or "none"
        match = difflib.get_close_matches(stack.lower(), known, n=1, cutoff=0.6) or (
            [name for name in known if name.lower() == stack.lower()])
        fix = (f"did you mean --stack {match[0]}?" if match else
               f"pass --stack with one of them, or write Pulumi.{stack}.yaml (copy Pulumi.dev.yaml to start)")
        super().__init__(f"no stack {stack!r}: there is no Pulumi.{stack}.yaml here (stacks: {listed}); {fix}")


def stack_names() -> list[str]:
    """The stacks that have a `Pulumi.<stack>.yaml` beside Pulumi.yaml, sorted."""
    return sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in ROOT.glob("Pulumi.*.yaml"))


def stack_file(stack: str) -> Path:
    """The stack's `Pulumi.<stack>.yaml`.

    Raises:
        UnknownStack: there is none (the names are matched exactly, as Pulumi's are).
    """
    known = stack_names()
    if stack not in known:
        raise UnknownStack(stack, known)
    return ROOT / f"Pulumi.{stack}.yaml"


def stack_config(stack: str = "dev") -> dict[str, Any]:
    """The stack file's config, with keys as Pulumi passes them to a program.

    Raises:
        UnknownStack: the stack has no file.
    """
    raw = yaml.safe_load(stack_file(stack).read_text()) or {}
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
        UnknownStack: the stack whose config it reads has no file.
        StackConfigError: the Pulumi CLI would refuse the stack file's config. Only the file and
            the project's defaults are checked: overrides stand for `pulumi config set`.
        SystemExit: the program refused the config (one line per problem), as `pulumi preview` shows it.
    """
    validate_stack_config(ROOT / "Pulumi.yaml", stack_file(config_from or stack), stack)
    config = {**stack_config(config_from or stack), **{f"{PROJECT}:{k}": v for k, v in (overrides or {}).items()}}
    values = {key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()}
    pulumi.runtime.set_all_config(values, [f"{PROJECT}:recipientHashKey", f"{PROJECT}:webhookSecrets"])
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return run_program(lambda: runpy.run_path(str(ROOT / "__main__.py")), stack=stack, project=PROJECT)
    finally:
        os.chdir(cwd)
