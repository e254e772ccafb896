"""The layout holds what docs/architecture.md says of it: small modules, and the boundaries between the sides.

- No module of the project's own code is over 450 lines: past that, a module almost always does
  several jobs (STYLE.md).
- `handlers/shared/` is what the Pulumi program, the operator tool and the local system import
  from the handlers: it imports only the standard library and itself, so `pulumi up` (which
  installs `requirements.txt` alone) never needs a handler's dependency.
- The Pulumi side (`components/`) and the operator tool (`cli/`) import from the handlers only
  `handlers.shared`.
- The console (`console/`) is an extra: nothing the Lambda zip or `pulumi up` loads imports it, and
  it reads the handlers only where it shows what a lane does (`CONSOLE_HANDLER_MODULES`).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from ses_email_pipeline.handlers.delivery_status.ses_events import KINDS
from ses_email_pipeline.handlers.shared.status_names import SES_STATUS_DETAIL_TYPES

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 450
SOURCE_FOLDERS = ("components", "handlers", "local", "cli", "console", "policy", "bench")
#: What the console imports of the handlers: a lane's contract, compose and SES request, its errors, and shared/.
CONSOLE_HANDLER_MODULES = ("shared", "sending", "errors")
#: The web framework and its templating engine (the console extra), by import name.
CONSOLE_DEPENDENCIES = ("flask", "jinja2", "werkzeug")


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(level, absolute-or-relative module) of every import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


@pytest.mark.parametrize("path", python_files(*SOURCE_FOLDERS), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_450_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES, "split it by job (STYLE.md: one job per module)"


@pytest.mark.parametrize("path", python_files("handlers/shared"), ids=lambda p: p.name)
def test_what_the_pulumi_side_imports_from_the_handlers_needs_only_the_standard_library(path: Path) -> None:
    for level, module in imports(path):
        if level == 1:
            continue  # a sibling in handlers/shared
        assert level == 0 and module.split(".")[0] in sys.stdlib_module_names, (path.name, level, module)


@pytest.mark.parametrize("path", python_files("components", "cli"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_pulumi_side_and_the_operator_tool_import_only_the_shared_handler_modules(path: Path) -> None:
    for level, module in imports(path):
        parts = module.split(".")
        if "handlers" in parts:
            below = parts[parts.index("handlers") + 1:]
            assert below[:1] == ["shared"], f"{path.relative_to(ROOT)} imports {'.' * level}{module}"


def test_the_status_rule_takes_exactly_the_ses_events_the_status_handler_reads() -> None:
    assert tuple(KINDS) == SES_STATUS_DETAIL_TYPES


@pytest.mark.parametrize("path", python_files("handlers", "components", "cli", "policy"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_the_program_or_the_lambda_zip_loads_imports_the_console(path: Path) -> None:
    """The cli imports the console lazily, inside `email-pipeline console` only (tested by its own check below)."""
    for level, module in imports(path):
        parts = module.split(".")
        if path.parts[-2] == "cli" and path.name == "__main__.py":
            continue
        assert "console" not in parts and parts[0] not in CONSOLE_DEPENDENCIES, \
            f"{path.relative_to(ROOT)} imports {'.' * level}{module}"


def test_the_operator_tool_imports_the_console_only_inside_its_command() -> None:
    tree = ast.parse((ROOT / "cli" / "__main__.py").read_text())
    top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert not [node for node in top_level if "console" in (getattr(node, "module", "") or "")]


@pytest.mark.parametrize("path", python_files("console"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_console_reads_of_the_handlers_only_what_a_lane_does(path: Path) -> None:
    for level, module in imports(path):
        parts = module.split(".")
        if "handlers" in parts:
            below = parts[parts.index("handlers") + 1:]
            assert below[:1] and below[0] in CONSOLE_HANDLER_MODULES, f"{path.relative_to(ROOT)} imports {module}"
