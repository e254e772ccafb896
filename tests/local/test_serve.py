"""`make serve`: every outcome printed as it happens, the stack's outputs for the operator tool, a taken port."""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import stack_outputs
from local.event_files import load_entries
from local.serve import SAMPLES, ServeWatch, serve_forever
from local.system import LocalSystem
from ses_email_pipeline.cli.__main__ import main as operator_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def system() -> Iterator[LocalSystem]:
    with LocalSystem.start("dev") as running, contextlib.redirect_stdout(io.StringIO()):
        yield running


def test_a_taken_port_is_one_line_and_an_exit_not_a_hang() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "local", "serve", "--port", str(port)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"python -m local: port {port} on 127.0.0.1 is taken (another `make serve`?); stop that "
                           f"process, or pick another port: make serve PORT={port + 1}, or python -m local serve "
                           f"--port {port + 1}\n")


def test_every_outcome_is_printed_once_as_it_happens(system: LocalSystem, tmp_path: Path) -> None:
    samples = load_entries(SAMPLES)
    [reset] = [entry for entry in samples if "password-reset" in entry["Detail"]]
    watch = ServeWatch(system)
    system.publish([*samples, reset])  # the reset twice: one idempotency key
    lines = watch.new_lines()
    assert [line.split(" ")[0] for line in lines].count("SENT") == 3
    [skipped] = [line for line in lines if line.startswith("DUPLICATE SKIPPED")]
    assert skipped.startswith("DUPLICATE SKIPPED [normal] event ") and "sent before (SES message id " in skipped
    [letter] = [line for line in lines if line.startswith("DEAD LETTER")]
    assert letter.startswith("DEAD LETTER [normal] InvalidEvent detail.emailConfig.recipient: ")
    statuses = sorted(line.split(" (")[0] for line in lines if line.startswith("STATUS"))
    assert statuses == ["STATUS bounced bounce@simulator.amazonses.com", "STATUS delivered oncall@example.com",
                        "STATUS delivered test-recipient@example.com", "STATUS delivered test-recipient@example.com"]
    assert watch.new_lines() == []  # each told once

    outputs = stack_outputs.write(system, tmp_path / "outputs.json")
    with contextlib.redirect_stdout(io.StringIO()):
        assert operator_tool(["--stack-outputs", str(outputs), "--endpoint-url", system.endpoint,
                              "dlq", "redrive", "--lane", "normal"]) == 0
    redriven, dead_again = watch.new_lines()
    assert redriven.startswith("REDRIVEN [normal] InvalidEvent: back on its lane (event ")
    assert dead_again == letter  # still invalid: dead-lettered anew, and told again


def test_the_outputs_are_the_programs_exports_pointing_at_the_emulator(system: LocalSystem, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """What `pulumi stack output --json --show-secrets` prints, so `email-pipeline --local` works on it."""
    path = stack_outputs.write(system, tmp_path / "build" / "local-stack.json")
    outputs = json.loads(path.read_text())
    exported = set(re.findall(r'pulumi\.export\("(\w+)"', (ROOT / "__main__.py").read_text()))
    assert set(outputs) == exported
    assert all(url.startswith(f"{system.endpoint}/") for url in outputs["laneQueueUrls"].values())
    function = next(iter(system.blueprint.functions.values()))
    assert outputs["recipientHashKey"] == function.environment["EMAIL_RECIPIENT_HASH_KEY"]  # the local hash key
    monkeypatch.chdir(tmp_path)  # `--local` reads build/local-stack.json from where it runs
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)  # no credentials: --local brings placeholder ones
    capsys.readouterr()
    assert operator_tool(["--local", "status"]) == 0
    assert "normal    0" in capsys.readouterr().out


def test_serve_prints_where_the_outputs_are_and_the_ready_command(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_forever("dev", 0, polls=1, sleep=lambda _seconds: None, outputs=tmp_path / "local-stack.json") == 0
    out = capsys.readouterr().out
    assert f"stack outputs in {tmp_path / 'local-stack.json'}" in out
    assert "\n  email-pipeline --local status\n" in out
    assert re.search(r"email-pipeline --stack-outputs \S+local-stack.json --endpoint-url http://127\.0\.0\.1:\d+ "
                     r"status", out)


def test_local_without_a_running_stack_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert operator_tool(["--local", "status"]) == 2
    assert capsys.readouterr().err == ("email-pipeline: no local stack here (build/local-stack.json does not exist); "
                                       "start it with `make serve` and run this from the repository's root\n")
