"""Each function's code archive (components/packaging.py): the modules its handler imports, byte-for-byte reproducible."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ses_email_pipeline.packaging import build_handler_zip, imported_modules

ROOT = Path(__file__).resolve().parents[2]


def write(package: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def names(package: Path, entry: str) -> list[str]:
    return [path.relative_to(package).as_posix() for path in imported_modules(package, entry)]


def test_the_import_graph_follows_relative_absolute_and_late_imports_and_brings_packages(tmp_path: Path) -> None:
    package = write(tmp_path / "handlers", {
        "__init__.py": "", "entry.py": "from .lane import go\nimport handlers.log\n",
        "lane.py": "from . import errors\nfrom .shared import keys\ndef go():\n    from .late import x\n",
        "errors.py": "", "log.py": "import json\n", "late.py": "", "unused.py": "",
        "shared/__init__.py": "", "shared/keys.py": "from ..errors import E\n",
        "typing_only.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import unused\n",
    })
    assert names(package, "handlers.entry") == ["__init__.py", "entry.py", "errors.py", "lane.py", "late.py", "log.py",
                                                "shared/__init__.py", "shared/keys.py"]
    assert names(package, "handlers.typing_only") == ["__init__.py", "typing_only.py"]


def test_an_entry_module_that_is_not_in_the_package_is_refused(tmp_path: Path) -> None:
    package = write(tmp_path / "handlers", {"__init__.py": ""})
    with pytest.raises(FileNotFoundError, match="handlers.missing"):
        imported_modules(package, "handlers.missing")


def test_each_lane_ships_its_own_code_and_none_of_the_status_handlers(tmp_path: Path) -> None:
    templated = zipfile.ZipFile(build_handler_zip(ROOT / "handlers", tmp_path / "t.zip", "handlers.templated"))
    status = zipfile.ZipFile(build_handler_zip(ROOT / "handlers", tmp_path / "s.zip", "handlers.status"))
    assert "handlers/sending/lane.py" in templated.namelist() and "handlers/status.py" not in templated.namelist()
    assert not any("delivery_status" in name for name in templated.namelist())
    assert "handlers/delivery_status/updates.py" in status.namelist()
    assert not any(name.startswith(("handlers/sending/", "handlers/scheduling/")) for name in status.namelist())
    # Bytecode goes with its source, and only with it.
    sources = {name for name in templated.namelist() if name.endswith(".py")}
    for name in templated.namelist():
        if name.endswith(".pyc"):
            module = name.replace("__pycache__/", "").split(".")[0] + ".py"
            assert module in sources, name


def test_archives_are_reproducible_and_the_whole_package_is_one_of_them(tmp_path: Path) -> None:
    first = build_handler_zip(ROOT / "handlers", tmp_path / "a.zip", "handlers.priority").read_bytes()
    assert build_handler_zip(ROOT / "handlers", tmp_path / "b.zip", "handlers.priority").read_bytes() == first
    whole = zipfile.ZipFile(build_handler_zip(ROOT / "handlers", tmp_path / "all.zip")).namelist()
    assert {"handlers/templated.py", "handlers/status.py", "handlers/report.py"} <= set(whole)
