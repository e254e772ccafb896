"""Deterministic deployment archives: each function's code zip, and the dependency layer zip when one is needed.

Every archive is byte-for-byte reproducible (sorted entries, fixed timestamps and permissions),
so a second `pulumi preview` with no source change computes the same hashes and shows no diff, a
long-standing pain with zips built by `zipfile` defaults or by `pulumi.FileArchive` on a folder
that holds `__pycache__`. A layer is built only when `handlers/requirements.txt` lists a
requirement (it lists none today), once per distinct file, and cached under `build/`, keyed by the
file's hash and the target platform.

A function's code zip holds only the modules its entry module imports (`imported_modules`: the
import graph of the handler package, read from the sources), so no function ships, unpacks or
could import another's code; a function whose imports change gets a new archive, and only that
function is updated.

Both kinds of archive carry bytecode compiled for the Lambda runtime (Python 3.12) when a 3.12
interpreter is at hand. Lambda's code and layer directories are read-only, so without shipped
`.pyc` files every cold start compiles every module from source: measured at 40 ms for structlog
alone. The bytecode uses unchecked-hash invalidation, so it is valid whatever the files' times.
"""

from __future__ import annotations

import ast
import atexit
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
#: Size budgets of the archives (bench/run.py and the tests hold the build to them). A function's zip
#: holds sources and bytecode of the modules its handler imports (a lane's measured 188 KB with
#: subscription topics and the send gate). What users feel is cold start, budgeted on its own
#: (bench/run.py); Lambda's code fetch for a zip this size is not what a cold start spends.
HANDLER_ZIP_BUDGET_KB = 200
LAYER_ZIP_BUDGET_MB = 3
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_EXCLUDED_DIRS = {"__pycache__", "tests", ".pytest_cache"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
_EXCLUDED_FILES = {"requirements.txt"}


def build_handler_zip(source_dir: Path, output: Path, entry_module: str | None = None) -> Path:
    """Zip the handler package as `<package>/...`, without tests, caches or requirements.

    Args:
        source_dir: the handler package (`handlers/`).
        output: the zip to write.
        entry_module: a function's entry module (`handlers.templated`): only the modules it
            imports go in (`imported_modules`); None: the whole package.
    """
    compiled = _compiled_package(source_dir, _digest(source_dir))
    keep = None if entry_module is None else {
        path.relative_to(source_dir.parent).with_suffix("") for path in imported_modules(source_dir, entry_module)}

    def shipped(path: Path) -> bool:
        relative = path.relative_to(compiled)
        if keep is None:
            return True
        module = relative.parent.parent / relative.name.split(".")[0] if relative.parent.name == "__pycache__" \
            else relative.with_suffix("")
        return module in keep

    files = [path for path in _walk(compiled, keep_bytecode=True) if shipped(path)]
    return _deterministic_zip(((path, path.relative_to(compiled).as_posix()) for path in files), output)


def _digest(source_dir: Path) -> str:
    """What the package's archives depend on: every shipped file's path and bytes."""
    digest = hashlib.sha256()
    for path in _shipped_sources(source_dir):
        digest.update(path.relative_to(source_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _shipped_sources(source_dir: Path) -> list[Path]:
    return [path for path in _walk(source_dir)
            if path.suffix not in _EXCLUDED_SUFFIXES and path.name not in _EXCLUDED_FILES]


@functools.cache
def _compiled_package(source_dir: Path, digest: str) -> Path:
    """The package's sources with Lambda's bytecode beside them, staged once per content (`digest`) per process."""
    scratch = Path(tempfile.mkdtemp(prefix=f"handlers-{digest[:12]}-"))
    atexit.register(shutil.rmtree, scratch, True)
    staged = scratch / source_dir.name
    for path in _shipped_sources(source_dir):
        destination = staged / path.relative_to(source_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    _compile_for_lambda(scratch, "/var/task")
    return scratch


def imported_modules(source_dir: Path, entry_module: str) -> list[Path]:
    """The source files of `entry_module` and of every module of the package it imports, directly or not.

    Read from the sources (`ast`): every `import` and `from ... import` anywhere in a module,
    function bodies included (an import a function makes when called still needs its module), except
    under `if TYPE_CHECKING:`. Each module brings its packages' `__init__.py`. Only modules of the
    package itself are followed; the rest (the standard library, botocore, the layer) is not shipped.

    Raises:
        FileNotFoundError: `entry_module` is not a module of the package.
    """
    package = source_dir.name
    found: set[Path] = set()
    pending = [entry_module]
    while pending:
        path = _module_file(source_dir, pending.pop())
        if path is None or path in found:
            continue
        found.add(path)
        module = ".".join(path.relative_to(source_dir.parent).with_suffix("").parts)
        for parent in range(1, module.count(".") + 1):
            pending.append(module.rsplit(".", parent)[0])  # its packages, up to the root
        pending.extend(name for name in _imports(path, module) if name.split(".")[0] == package)
    if _module_file(source_dir, entry_module) is None:
        raise FileNotFoundError(f"{entry_module} is not a module of {source_dir}")
    return sorted(found)


def _module_file(source_dir: Path, module: str) -> Path | None:
    """The file of a module or package of the handler package, if there is one."""
    parts = module.split(".")
    if parts[0] != source_dir.name:
        return None
    base = source_dir.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, module: str) -> list[str]:
    """Every module name `path` may import: `a.b` for `import a.b`, `a` and `a.x` for `from a import x`."""
    is_package = path.name == "__init__.py"
    names: list[str] = []
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return names


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node, except what sits under `if TYPE_CHECKING:` (never run)."""
    nodes, pending = [], [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        nodes.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return nodes


def listed_requirements(requirements: Path) -> list[str]:
    """The requirements a pip requirements file lists (none if it is absent): its lines without comments,
    blank lines and pip options (`--index-url`, `-c constraints.txt`, `-r other.txt`), which alone install nothing.
    """
    if not requirements.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def build_layer_zip(requirements: Path, build_dir: Path) -> Path | None:
    """The Lambda layer (`python/...`) for the requirements, built for arm64 Python 3.12; None when
    the file lists none (or is absent): a layer with nothing in it would only be one more
    artifact to download at every cold start and one more resource to publish.

    Returns the cached zip when one for the same requirements already exists.

    Raises:
        subprocess.CalledProcessError: pip could not resolve a wheel for the target platform.
    """
    if not listed_requirements(requirements):
        return None
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
        _deterministic_zip(((path, f"python/{path.relative_to(target).as_posix()}") for path in files), output)
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
    """Written beside `output` and renamed over it: a process reading the archive (another test worker,
    a program run beside the tests) sees the old archive or the new one, never half of one."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as file, zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED,
                                                           compresslevel=9) as archive:
            for path, name in sorted(entries, key=lambda entry: entry[1]):
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes(), compresslevel=9)
        os.chmod(partial, 0o644)  # mkstemp's file is its owner's alone; an archive is not
        os.replace(partial, output)
    except BaseException:
        os.unlink(partial)
        raise
    return output
