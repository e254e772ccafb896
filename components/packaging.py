"""Deterministic deployment archives: the handler code zip and the dependency layer zip.

Both archives are byte-for-byte reproducible (sorted entries, fixed timestamps and permissions),
so a second `pulumi preview` with no source change computes the same hashes and shows no diff, a
long-standing pain with zips built by `zipfile` defaults or by `pulumi.FileArchive` on a folder
that holds `__pycache__`. The layer is built once per distinct requirements file and cached under
`build/`, keyed by the file's hash and the target platform.

Both archives also carry bytecode compiled for the Lambda runtime (Python 3.12) when a 3.12
interpreter is at hand. Lambda's code and layer directories are read-only, so without shipped
`.pyc` files every cold start compiles every module from source: measured at 40 ms for structlog
alone. The bytecode uses unchecked-hash invalidation, so it is valid whatever the files' times.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

#: Lambda's Python 3.12 runtime on Graviton (arm64).
LAMBDA_PYTHON_VERSION = "3.12"
LAMBDA_PLATFORM = "manylinux2014_aarch64"
#: Size budgets of the archives (bench/run.py and the tests hold the build to them). The handler zip
#: holds sources and bytecode of every function's code, one archive for all. What users feel is
#: cold start, budgeted on its own (each function imports only its own handler's modules).
HANDLER_ZIP_BUDGET_KB = 240
LAYER_ZIP_BUDGET_MB = 3
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_EXCLUDED_DIRS = {"__pycache__", "tests", ".pytest_cache"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
_EXCLUDED_FILES = {"requirements.txt"}


def build_handler_zip(source_dir: Path, output: Path) -> Path:
    """Zip the handler package as `<package>/...`, without tests, caches or requirements."""
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / source_dir.name
        for path in _walk(source_dir):
            if path.suffix not in _EXCLUDED_SUFFIXES and path.name not in _EXCLUDED_FILES:
                destination = staged / path.relative_to(source_dir)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
        _compile_for_lambda(Path(scratch), "/var/task")
        return _deterministic_zip(
            ((path, path.relative_to(scratch).as_posix()) for path in _walk(Path(scratch), keep_bytecode=True)),
            output,
        )


def build_layer_zip(requirements: Path, build_dir: Path) -> Path:
    """The Lambda layer (`python/...`) for the requirements, built for arm64 Python 3.12.

    Returns the cached zip when one for the same requirements already exists.

    Raises:
        subprocess.CalledProcessError: pip could not resolve a wheel for the target platform.
    """
    digest = hashlib.sha256(requirements.read_bytes() + LAMBDA_PLATFORM.encode()).hexdigest()[:16]
    output = build_dir / f"layer-{digest}.zip"
    if output.exists():
        return output
    build_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "python"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
             "--target", str(target), "--platform", LAMBDA_PLATFORM, "--implementation", "cp",
             "--python-version", LAMBDA_PYTHON_VERSION, "--only-binary=:all:", "-r", str(requirements)],
            check=True,
        )
        for leftover in target.glob("*.dist-info/RECORD"):
            leftover.unlink()  # lists absolute-ish paths and hashes that vary between pip runs
        shutil.rmtree(target / "bin", ignore_errors=True)
        _compile_for_lambda(target, "/opt/python")
        files = _walk(target, keep_bytecode=True)
        partial = output.with_suffix(".partial")
        _deterministic_zip(((path, f"python/{path.relative_to(target).as_posix()}") for path in files), partial)
        os.replace(partial, output)
    return output


def lambda_interpreter() -> str | None:
    """A Python 3.12 interpreter to compile bytecode for Lambda's runtime, if one is installed."""
    return _find_interpreter(LAMBDA_PYTHON_VERSION)


@functools.cache
def _find_interpreter(version: str) -> str | None:
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(str(p) for p in Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}"))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == str(tuple(int(p) for p in version.split("."))):
            return candidate
    return None


def _compile_for_lambda(root: Path, deployed_path: str) -> None:
    """Add `__pycache__/*.cpython-312.pyc` beside the sources, when a 3.12 interpreter exists."""
    interpreter = lambda_interpreter()
    if interpreter is None:
        print(f"packaging: no python{LAMBDA_PYTHON_VERSION} found; shipping sources only "
              "(Lambda will compile them at every cold start)", file=sys.stderr)
        return
    subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "1", "--invalidation-mode", "unchecked-hash",
         "-s", str(root), "-p", deployed_path, str(root)],
        check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _walk(root: Path, *, keep_bytecode: bool = False) -> list[Path]:
    excluded_dirs = _EXCLUDED_DIRS - ({"__pycache__"} if keep_bytecode else set())
    found: list[Path] = []
    for directory, subdirs, filenames in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in excluded_dirs)
        found.extend(
            Path(directory) / name for name in sorted(filenames)
            if keep_bytecode or Path(name).suffix not in _EXCLUDED_SUFFIXES
        )
    return found


def _deterministic_zip(entries: Iterable[tuple[Path, str]], output: Path) -> Path:
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path, name in sorted(entries, key=lambda entry: entry[1]):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return output
