"""The components install as a package (wheel) that works outside this repository."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pulumi

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import zipfile
from pathlib import Path
import ses_email_pipeline
from ses_email_pipeline.email_sender import _bundled
from ses_email_pipeline.packaging import build_handler_zip
from ses_email_pipeline.template_files import discover
assert Path(ses_email_pipeline.__file__).is_relative_to(TARGET), ses_email_pipeline.__file__
assert sorted({t.name for t in discover(Path(_bundled("templates")))}) == EXPECTED_TEMPLATES
names = zipfile.ZipFile(build_handler_zip(Path(_bundled("handlers")), Path("handlers.zip"))).namelist()
assert "handlers/templated.py" in names and "handlers/requirements.txt" not in names, names
print("ok")
"""


def template_files() -> set[str]:
    """Every file of the repository's templates/ (samples included), as the wheel should hold it."""
    return {f"ses_email_pipeline/templates/{path.relative_to(ROOT / 'templates').as_posix()}"
            for path in (ROOT / "templates").rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}


def test_wheel_installs_and_finds_its_handlers_and_templates(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w",
                            str(tmp_path / "dist")], check=True, capture_output=True, text=True)
    # setuptools warns on every build of a project whose metadata it deprecates (a license table did).
    assert "deprecated" not in built.stderr, built.stderr
    [wheel] = (tmp_path / "dist").glob("ses_email_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ses_email_pipeline/py.typed" in names
    # The console's page ships with it (its extra brings Flask): `email-pipeline console` outside the repository.
    assert {"ses_email_pipeline/console/pages/index.html", "ses_email_pipeline/console/static/console.js",
            "ses_email_pipeline/console/static/console.css"} <= set(names)
    assert not any(name.startswith(("tests/", "local/", "components/")) for name in names)
    # Whatever folders and files an author adds under templates/ (a version, its samples): all ship.
    assert template_files() - set(names) == set(), "add the missing patterns to pyproject.toml's package-data"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    site_packages = str(Path(pulumi.__file__).resolve().parents[1])  # where the program's dependencies are
    expected = sorted({path.parent.parent.name for path in (ROOT / "templates").glob("*/*/subject.txt")})
    # No `site` (-S): the repository's editable install (a .pth finder) must not be seen.
    code = (f"import sys; sys.path[:0] = [{str(target)!r}, {site_packages!r}]\nTARGET = {str(target)!r}\n"
            f"EXPECTED_TEMPLATES = {expected!r}\n" + CHECK)
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], cwd=work, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
