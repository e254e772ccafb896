"""The operator tool's own rules, without the emulator: the hash, the outputs file, one-line errors."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ses_email_pipeline.cli.__main__ import main
from ses_email_pipeline.cli.dlq import Moved, Progress
from ses_email_pipeline.handlers.shared import hashing
from ses_email_pipeline.handlers.log import recipient_hash

KEY = "stack-key-for-tests"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_line_error(err: str) -> str:
    [line] = err.splitlines()
    assert line.startswith("email-pipeline: ") and "; " in line and "Traceback" not in err
    return line


def outputs_file(tmp_path: Path, **outputs: object) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def test_hash_prints_the_logs_hash_of_each_address(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "hash", "--hash-key", KEY, "Someone@Example.com", "other@example.org")
    assert status == 0
    assert out.splitlines() == [recipient_hash("Someone@Example.com", KEY.encode()),
                                recipient_hash("other@example.org", KEY.encode())]


def test_hash_of_an_idempotency_key_is_the_status_events_key_hash(capsys: pytest.CaptureFixture[str]) -> None:
    """Case-sensitive, unlike an address's: what a producer matches `keyHash` against."""
    status, out, _ = run(capsys, "hash", "--hash-key", KEY, "--idempotency-key", "Password-Reset-7F3A")
    assert status == 0
    assert out.splitlines() == [hashing.key_hash("Password-Reset-7F3A", KEY.encode())]
    assert out.strip() != hashing.key_hash("password-reset-7f3a", KEY.encode())


def test_hash_takes_the_key_from_the_stack_outputs_before_the_environment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMAIL_RECIPIENT_HASH_KEY", "another-stacks-key")
    outputs = outputs_file(tmp_path, recipientHashKey=KEY)
    _, out, _ = run(capsys, "--stack-outputs", str(outputs), "hash", "a@example.com")
    _, from_env, _ = run(capsys, "hash", "a@example.com")
    assert out.strip() == recipient_hash("a@example.com", KEY.encode())
    assert from_env.strip() == recipient_hash("a@example.com", b"another-stacks-key")


def test_hash_with_a_hidden_secret_says_how_to_reveal_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMAIL_RECIPIENT_HASH_KEY", raising=False)
    outputs = outputs_file(tmp_path, recipientHashKey="[secret]")
    status, out, err = run(capsys, "hash", "a@example.com", "--stack-outputs", str(outputs))
    assert (status, out) == (2, "")
    assert "--show-secrets" in one_line_error(err)


def test_a_bad_stack_outputs_file_is_one_line_from_the_installed_script(tmp_path: Path) -> None:
    script = shutil.which("email-pipeline", path=str(Path(sys.executable).parent))
    assert script, "the console script is missing: reinstall the package (pip install -e .)"
    bad = tmp_path / "outputs.json"
    bad.write_text('{"busName": "email-pipeline-dev-bus",')  # cut short
    result = subprocess.run([script, "--stack-outputs", str(bad), "status"], capture_output=True, text=True,
                            timeout=60)
    assert (result.returncode, result.stdout) == (2, "")
    assert "is not JSON" in one_line_error(result.stderr)


@pytest.mark.parametrize(("content", "complaint"), [
    (None, "does not exist"),
    ("[1, 2]", "holds a JSON list, not an object"),
    ('{"laneQueueUrls": "https://sqs"}', "'laneQueueUrls' in"),
])
def test_stack_outputs_problems_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             content: str | None, complaint: str) -> None:
    path = tmp_path / "outputs.json"
    if content is not None:
        path.write_text(content)
    status, _, err = run(capsys, "--stack-outputs", str(path), "dlq", "list")
    assert status == 2 and complaint in one_line_error(err)


@pytest.mark.parametrize(("argv", "complaint"), [
    (["dlq", "list"], "no lanes are known"),
    (["--queue-url", "normal", "status"], "is not LANE=URL"),
    (["--dlq-url", "normal=http://x", "dlq", "list", "--lane", "marketing"], "unknown lane 'marketing'"),
    (["trace", "k", "--dlq-url", "normal=http://x"], "the stack name is not known"),
    (["replay", "--from", "yesterday", "--to", "2026-11-22T10:00:00Z"], "--from 'yesterday' is not an ISO 8601"),
    (["dlq", "redrive"], "the following arguments are required: --lane"),
    (["status", "--max-receives", "0"], "argument --max-receives"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str) -> None:
    status, out, err = run(capsys, *argv)
    assert (status, out) == (2, "") and complaint in one_line_error(err)


def test_an_unreachable_endpoint_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "--endpoint-url", "http://127.0.0.1:9", "--region", "eu-west-1",
                         "--dlq-url", "normal=http://127.0.0.1:9/123456789012/dlq", "dlq", "list")
    assert status == 2 and "cannot reach http://127.0.0.1:9" in one_line_error(err)


def test_options_are_accepted_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = outputs_file(tmp_path, recipientHashKey=KEY)
    status, out, _ = run(capsys, "hash", "a@example.com", "--stack-outputs", str(outputs))
    assert status == 0 and out.strip() == recipient_hash("a@example.com", KEY.encode())


def test_redrive_help_says_what_the_native_move_cannot_do(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "dlq", "redrive", "--help")
    assert status == 0
    assert "start-message-move-task" in out and "cannot filter" in " ".join(out.split())


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_redrive_progress_is_shown_only_on_a_terminal() -> None:
    moved = Moved("normal", moved=Counter({"InvalidEvent": 3}), skipped=Counter({"OutcomeUnknown": 1}))
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = Progress(stream)
        progress.update(moved)
        progress.done()
    assert terminal.getvalue() == "\rredrive normal: moved 3, left 1\n"
    assert pipe.getvalue() == ""


def test_templates_check_prints_each_problem_as_file_line_column_and_fails(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = tmp_path / "templates" / "order-shipped" / "v1"
    (version / "samples").mkdir(parents=True)
    (version / "subject.txt").write_text("Order {{orderId}}")
    (version / "body.html").write_text('<a href="http://localhost:8000/o/{{orderId}}">{{custmerName}}</a>')
    (version / "body.txt").write_text("{{#each items}}{{qty}} x {{name}}{{/if}}")
    (version / "samples" / "shipped.json").write_text(json.dumps({"orderId": "1", "customerName": "Ada"}))
    status, out, _ = run(capsys, "templates", "check", str(tmp_path / "templates"))
    assert status == 1
    assert out.splitlines() == [
        "templates/order-shipped/v1/body.html:1:4: error: href points at this machine "
        "(http://localhost:8000/o/1): recipients cannot reach it; use the public https address",
        "templates/order-shipped/v1/body.html:1:47: error: `custmerName` is in no sample: did you "
        "mean `customerName`? fix the name, or add it to the samples (every event must then send it)",
        "templates/order-shipped/v1/body.txt:1:34: error: {{/if}} closes {{#each}} (opened "
        "at line 1, column 1): close it with {{/each}}",
        f"3 errors, 0 warnings in 1 template versions under {tmp_path / 'templates'}",
    ]


def test_templates_check_of_the_shipped_templates_passes_and_a_missing_folder_is_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "templates", "check", "--json")
    assert status == 0 and json.loads(out)["errors"] == 0
    status, _, err = run(capsys, "templates", "check", "no/such/folder")
    assert status == 2
    assert one_line_error(err) == ("email-pipeline: no/such/folder is not a folder; give the templates folder (it "
                                   "holds <name>/<version>/)")
