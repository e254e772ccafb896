"""What the documents say about the code stays true: component counts, module tables, code references.

Prose drifts silently when code moves: a README that counts three components after a fourth
landed, a module table missing three modules, a comment citing a function that was renamed. Each
test here derives what it checks from the code, so a change that makes a statement false fails
`make test` with the statement and where it is.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pulumi
import pytest

import ses_email_pipeline

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()
NUMBERS = {3: "Three", 4: "Four", 5: "Five", 6: "Six", 7: "Seven"}
#: Folders whose modules `docs/architecture.md` lists, and the package each is imported as.
PACKAGES = {"components": "ses_email_pipeline", "handlers": "ses_email_pipeline.handlers",
            "cli": "ses_email_pipeline.cli", "console": "ses_email_pipeline.console", "local": "local"}


def components() -> list[str]:
    return sorted(name for name in ses_email_pipeline.__all__
                  if inspect.isclass(getattr(ses_email_pipeline, name))
                  and issubclass(getattr(ses_email_pipeline, name), pulumi.ComponentResource))


def test_the_readme_counts_and_lists_every_component() -> None:
    names = components()
    assert f"{NUMBERS[len(names)]} reusable Pulumi components compose the system" in README, names
    table = README.split("reusable Pulumi components compose the system", 1)[1].split("\n\n", 2)[1]
    listed = re.findall(r"^\| `(\w+)` \(`components/", table, flags=re.M)
    assert sorted(listed) == names


def modules(folder: str) -> set[str]:
    base = ROOT / folder
    return {path.relative_to(base).as_posix() for path in base.rglob("*.py")
            if path.name != "__init__.py" and "__pycache__" not in path.parts}


def section(folder: str) -> str:
    """The part of docs/architecture.md about one folder: from its bold heading to the next one."""
    start = ARCHITECTURE.index(f"**`{folder}/`**")
    following = [ARCHITECTURE.find(f"**`{other}/`**", start + 1) for other in PACKAGES]
    ends = [index for index in [*following, ARCHITECTURE.find("\n## ", start)] if index > start]
    return ARCHITECTURE[start:min(ends)]


@pytest.mark.parametrize("folder", PACKAGES)
def test_the_architecture_tables_list_exactly_the_modules_of_each_folder(folder: str) -> None:
    rows = [line.split("|")[1] for line in section(folder).splitlines() if line.startswith("| `")]
    listed = set(re.findall(r"`([\w/]+\.py)`", " ".join(rows)))
    actual = modules(folder)
    assert listed == actual, {"not listed": sorted(actual - listed), "gone": sorted(listed - actual)}


#: A dotted name in backticks: `handlers.sending.lane`, `SesSender.send`, `lane.entry_point`.
_REFERENCE = re.compile(r"`((?:handlers|components|local|cli|console|ses_email_pipeline)(?:\.[A-Za-z_]\w*)+)`")


def references() -> list[tuple[str, str]]:
    """Every backticked reference to the project's own modules, in its prose and its code's docstrings."""
    found = []
    files = [*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md"), *(ROOT / "bench").glob("*.md"),
             *(path for folder in (*PACKAGES, "bench", "policy") for path in (ROOT / folder).rglob("*.py")
               if "__pycache__" not in path.parts)]
    for path in files:
        for match in _REFERENCE.finditer(path.read_text()):
            found.append((path.relative_to(ROOT).as_posix(), match.group(1)))
    return found


def resolves(reference: str) -> bool:
    """Whether `a.b.c` names a module, or an attribute of a module (or of a class in it)."""
    parts = reference.split(".")
    if parts[0] in ("handlers", "cli", "console"):
        parts = ["ses_email_pipeline", *parts]
    elif parts[0] == "components":
        parts = ["ses_email_pipeline", *parts[1:]]
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


def test_every_reference_to_the_projects_code_names_something_that_exists() -> None:
    assert len(references()) > 50
    broken = sorted({f"{where}: `{reference}`" for where, reference in references() if not resolves(reference)})
    assert broken == []
