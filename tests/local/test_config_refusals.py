"""`python -m local` refuses a stack it has no file for, and a config with unknown keys, in one line each."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

import local.program
from local import __main__ as cli

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def events(tmp_path: Path) -> Path:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([]))
    return path


@pytest.mark.parametrize("command", [["demo"], ["serve"], ["event", "new", "--source", "s", "--detail-type", "d",
                                                           "--template", "notification"]])
def test_a_stack_without_a_file_is_named_with_the_stacks_there_are(command: list[str]) -> None:
    """The README's own example used to be `--stack staging`, which said configuration values were missing."""
    status, out, err = run(*command, "--stack", "staging")
    assert (status, out) == (2, "")
    assert err == ("python -m local: no stack 'staging': there is no Pulumi.staging.yaml here (stacks: dev, prod); "
                   "pass --stack with one of them, or write Pulumi.staging.yaml (copy Pulumi.dev.yaml to start)\n")


def test_a_stack_name_in_the_wrong_case_suggests_the_one_there_is(events: Path) -> None:
    status, _out, err = run("send", str(events), "--stack", "Dev")
    assert status == 2 and err.count("\n") == 1
    assert "no stack 'Dev': there is no Pulumi.Dev.yaml here" in err and err.endswith("did you mean --stack dev?\n")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project (Pulumi.yaml, the dev stack, the program) whose stack files a test writes."""
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "build").symlink_to(ROOT / "build", target_is_directory=True)  # the archives, built once
    monkeypatch.setattr(local.program, "ROOT", tmp_path)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)  # LocalSystem.start sets them; put them back afterwards
    return tmp_path


def test_unknown_keys_in_a_stack_file_are_refused_one_line_each(project: Path, events: Path) -> None:
    """Typos Pulumi itself lets through: an undeclared key, a misspelt namespace, a misspelt structured key."""
    (project / "Pulumi.typos.yaml").write_text((project / "Pulumi.dev.yaml").read_text() + (
        "  email-pipeline:acountSendRate: 14\n"
        "  emailpipeline:production: true\n"
        "  email-pipeline:route:\n"
        "    - {name: order-shipped, lane: normla, eventPattern: {source: [shop.orders], detail_type: [Order Shipped]}}\n"))

    status, out, err = run("send", str(events), "--stack", "typos")

    assert (status, out) == (2, "")
    assert "Traceback" not in err
    assert err.splitlines() == [
        "invalid stack config:",
        "  - email-pipeline:acountSendRate: no such setting; did you mean email-pipeline:accountSendRate?",
        "  - email-pipeline:route: no such setting; did you mean email-pipeline:routes?",
        "  - emailpipeline:production: 'emailpipeline' is not this project's namespace ('email-pipeline'), so "
        "nothing reads it; did you mean email-pipeline:production?"]


def test_a_misspelt_route_in_a_stack_file_is_refused_one_line_each(project: Path, events: Path) -> None:
    (project / "Pulumi.typos.yaml").write_text((project / "Pulumi.dev.yaml").read_text() + (
        "  email-pipeline:routes:\n"
        "    - {name: order-shipped, lane: normla, eventPattern: {source: [shop.orders], detail_type: [Order Shipped]}}\n"))

    status, _out, err = run("send", str(events), "--stack", "typos")

    assert status == 2 and "Traceback" not in err
    assert err.splitlines()[1:] == [
        "  - routes[0] (order-shipped).lane: no lane 'normla'; did you mean normal? (lanes are named in laneShares)",
        "  - routes[0] (order-shipped).eventPattern.detail_type: 'detail_type' is not a field of an EventBridge "
        "event, so the route would match nothing; did you mean detail-type?"]
