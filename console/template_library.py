"""The templates the console shows, read from disk on every request: versions, their files, samples and problems.

A version is a folder `<templates>/<name>/<version>/` with `subject.txt`, `body.html`, `body.txt`
and `samples/*.json` (`ses_email_pipeline.template_files`). Nothing is cached: an author who edits
a part or a sample sees the change on the next reload, with the check's problems
(`ses_email_pipeline.template_check.check_version`) next to the file and line they point at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..template_check import SAMPLES_FOLDER, TemplateProblem, check_version
from ..template_files import HTML_FILE, SUBJECT_FILE, TEXT_FILE
from .http_errors import ConsoleError, bad_request, not_found

#: The parts of a version, in the order the page shows their sources.
PARTS = (SUBJECT_FILE, HTML_FILE, TEXT_FILE)
#: What a template, version or sample name may be in a URL (folder and file names as the check reads them).
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class TemplateVersionFolder:
    """One version of one template on disk."""

    name: str
    version: str
    folder: Path
    #: The folder the problems' file names are relative to (the templates folder's parent).
    relative_to: Path

    def files(self) -> dict[str, str]:
        """Each part's source as the author wrote it ("" for a missing part: the check reports it)."""
        return {part: _read(self.folder / part) for part in PARTS}

    def sample_names(self) -> list[str]:
        """The version's samples, by file name (`happy-path.json`), sorted."""
        return sorted(path.name for path in (self.folder / SAMPLES_FOLDER).glob("*.json"))

    def sample(self, name: str) -> dict[str, Any]:
        """One sample's data (the templateData an event would send).

        Raises:
            ConsoleError: no such sample (404), or it is not a JSON object (422, with its line).
        """
        if name not in self.sample_names():
            listed = ", ".join(self.sample_names()) or "none"
            raise not_found(f"template {self.name} {self.version} has no sample {name!r} (samples: {listed})",
                            f"add {SAMPLES_FOLDER}/{name} beside the template's parts")
        path = self.folder / SAMPLES_FOLDER / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            where = f"line {getattr(exc, 'lineno', 1)} column {getattr(exc, 'colno', 1)}"
            raise ConsoleError(422, f"{self.where(f'{SAMPLES_FOLDER}/{name}')} is not JSON ({where})",
                               "fix the sample: it is the templateData an event sends") from None
        if not isinstance(data, dict):
            raise ConsoleError(422, f"{self.where(f'{SAMPLES_FOLDER}/{name}')} is not a JSON object",
                               "a sample is the templateData an event sends: an object of variables")
        return data

    def problems(self) -> list[TemplateProblem]:
        """What `email-pipeline templates check` says of this version, sorted by file and line."""
        return sorted(check_version(self.folder, relative_to=self.relative_to))

    def where(self, part: str) -> str:
        """A part's path as the problems name it (`templates/notification/v1/body.html`)."""
        return (self.folder / part).relative_to(self.relative_to).as_posix()

    def summary(self) -> dict[str, Any]:
        """The version as `GET /api/templates` lists it: its samples and its problems."""
        problems = self.problems()
        return {
            "version": self.version,
            "samples": self.sample_names(),
            "errors": sum(problem.severity == "error" for problem in problems),
            "warnings": sum(problem.severity == "warning" for problem in problems),
            "problems": [problem_document(problem, self) for problem in problems],
        }


def problem_document(problem: TemplateProblem, version: TemplateVersionFolder) -> dict[str, Any]:
    """A problem as the API gives it: where (the part and its line), how bad, which rule, what to do, and
    the samples it names (a name some samples lack is reported with theirs)."""
    part = problem.file.removeprefix(version.where("") + "/")
    return {"file": problem.file, "part": part, "line": problem.line, "column": problem.column,
            "severity": problem.severity, "rule": problem.rule, "message": problem.message,
            "text": str(problem), "samples": [name for name in version.sample_names() if name in problem.message]}


def versions(templates_dir: Path) -> list[TemplateVersionFolder]:
    """Every version folder under `templates_dir`, sorted by template and version."""
    return [TemplateVersionFolder(path.parent.name, path.name, path, templates_dir.parent)
            for path in sorted(templates_dir.glob("*/*")) if path.is_dir() and not path.name.startswith((".", "_"))]


def find(templates_dir: Path, name: str, version: str) -> TemplateVersionFolder:
    """One version, by template name and version.

    Raises:
        ConsoleError: a name that is not a folder name (400), or no such version (404).
    """
    for word in (name, version):
        if not _NAME.match(word):
            raise bad_request(f"{word!r} is not a template or version name",
                              "use the names of the folders under templates/")
    for found in versions(templates_dir):
        if (found.name, found.version) == (name, version):
            return found
    known = ", ".join(f"{v.name}/{v.version}" for v in versions(templates_dir)) or "none"
    raise not_found(f"no template version {name}/{version} under {templates_dir} (there are: {known})",
                    f"add the folder {name}/{version}/ with subject.txt, body.html and body.txt")


def listing(templates_dir: Path) -> dict[str, Any]:
    """`GET /api/templates`: every template, each version with its samples and problems."""
    templates: dict[str, list[dict[str, Any]]] = {}
    for version in versions(templates_dir):
        templates.setdefault(version.name, []).append(version.summary())
    return {"folder": str(templates_dir),
            "templates": [{"name": name, "versions": found} for name, found in templates.items()]}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConsoleError(500, f"cannot read {path.name} ({type(exc).__name__})",
                           "check the file's permissions and that it is UTF-8 text") from None
