"""The operator tool's tests share one emulated dev stack per module, its outputs file, and a way to run the tool.

A module that needs the stack in a given state overrides `system` (tests/cli/test_recipient_trace.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.system import LocalSystem
from ses_email_pipeline.cli.__main__ import main
from tests.cli.emulated import connection, write_outputs


@pytest.fixture(scope="module")
def system() -> Iterator[LocalSystem]:
    with LocalSystem.start("dev") as running:
        yield running


@pytest.fixture(scope="module")
def outputs(system: LocalSystem, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_outputs(system, tmp_path_factory.mktemp("stack") / "outputs.json")


@pytest.fixture
def cli(system: LocalSystem, outputs: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run the tool against the emulated stack: `(exit status, stdout, stderr)`."""
    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main([*connection(system, outputs), *argv])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run
