"""The layout holds what docs/architecture.md says of it: small modules, and the boundaries between the sides.

- No module of the project's own code is over 450 lines: past that, a module almost always does
  several jobs (STYLE.md).
- `handlers/shared/` is what the Pulumi program, the operator tool and the local system import
  from the handlers: it imports only the standard library and itself, so `pulumi up` (which
  installs `requirements.txt` alone) never needs a handler's dependency.
- The Pulumi side (`components/`) and the operator tool (`cli/`) import from the handlers only
  `handlers.shared`.
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
SOURCE_FOLDERS = ("components", "handlers", "local", "cli", "policy", "bench")


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
