"""`email-pipeline templates check [FOLDER]`: the template check authors run before a pull request, and CI runs on it.

It runs `ses_email_pipeline.template_check` (what `pulumi preview` refuses is an error here too) on
a templates folder: `./templates` when the current directory has one, else the templates the
package ships. Each problem is one line, `file:line:column: severity: what; the fix`, as compilers
write them, so editors and CI annotations can point at it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..template_check import TemplateProblem, check_templates
from .problems import CliError


def folder(argument: str | None) -> Path:
    """The templates folder to check: the argument, `./templates`, or the package's own."""
    if argument is not None:
        path = Path(argument)
        if not path.is_dir():
            raise CliError(f"{argument} is not a folder", "give the templates folder (it holds <name>/<version>/)")
        return path
    if Path("templates").is_dir():
        return Path("templates")
    spec = importlib.util.find_spec("ses_email_pipeline.templates")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def collect(templates: Path) -> dict[str, Any]:
    """The check's document (`--json` prints it): the problems, and how many versions were read."""
    problems = check_templates(templates)
    versions = sorted(path for path in templates.glob("*/*") if path.is_dir())
    return {"folder": str(templates), "versions": len(versions),
            "errors": sum(p.severity == "error" for p in problems),
            "warnings": sum(p.severity == "warning" for p in problems),
            "problems": [_as_dict(problem) for problem in problems]}


def text(document: Mapping[str, Any]) -> str:
    lines = [f"{p['file']}:{p['line']}:{p['column']}: {p['severity']}: {p['message']}" for p in document["problems"]]
    lines.append(f"{document['errors']} errors, {document['warnings']} warnings in {document['versions']} template "
                 f"versions under {document['folder']}")
    return "\n".join(lines)


def exit_status(document: Mapping[str, Any], *, not_healthy: int) -> int:
    return not_healthy if document["errors"] else 0


def _as_dict(problem: TemplateProblem) -> dict[str, Any]:
    return {"file": problem.file, "line": problem.line, "column": problem.column, "severity": problem.severity,
            "rule": problem.rule, "message": problem.message}



