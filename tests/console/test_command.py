"""`email-pipeline console`: bound to 127.0.0.1 only, silent about requests, one line when it cannot start, its policy printed."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

import pytest

from ses_email_pipeline.cli.__main__ import main
from ses_email_pipeline.console import server
from ses_email_pipeline.console.http_errors import ConsoleError
from ses_email_pipeline.console.iam_policy import JOBS
from tests.console.conftest import DeployedStack


def outputs_file(stack: DeployedStack, tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({**stack.outputs, "logGroupNames": {"normal": "/aws/lambda/email-test-normal"}}))
    return path


def test_the_console_listens_on_the_loopback_address_only(deployed: DeployedStack) -> None:
    with server.running(deployed.source, 0) as console:
        assert console.server.server_address[0] == "127.0.0.1"
        assert console.url.startswith("http://127.0.0.1:")
        connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
        connection.request("GET", "/api/stack")
        assert connection.getresponse().status == 200


def test_it_answers_only_to_its_own_address(deployed: DeployedStack) -> None:
    with server.running(deployed.source, 0) as console:
        connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
        connection.request("GET", "/api/stack", headers={"Host": f"rebound.example:{console.port}"})
        assert connection.getresponse().status == 421


def test_no_request_is_logged(deployed: DeployedStack, capfd: pytest.CaptureFixture[str]) -> None:
    """A search for an address is in the request line: the console writes no request log."""
    with server.running(deployed.source, 0) as console:
        connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
        connection.request("GET", "/api/messages?q=ada%40example.com")
        connection.getresponse().read()
    captured = capfd.readouterr()
    assert "ada" not in captured.out + captured.err


def test_a_taken_port_is_one_line(deployed: DeployedStack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConsoleError) as refused:
            server.bind(deployed.source, port)
    assert refused.value.line().startswith(f"cannot listen on 127.0.0.1:{port} (")
    assert refused.value.line().endswith("stop what uses that port, or pick another (CONSOLE_PORT / --port)")


def test_the_command_says_a_taken_port_in_one_line(deployed: DeployedStack, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        status = main(["console", "--stack-outputs", str(outputs_file(deployed, tmp_path)),
                       "--port", str(taken.getsockname()[1])])
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1
    assert error.startswith("email-pipeline: cannot listen on 127.0.0.1:")


def test_the_command_prints_the_operator_policy(deployed: DeployedStack, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--print-policy", "--stack-outputs", str(outputs_file(deployed, tmp_path))]) == 0
    policy = json.loads(capsys.readouterr().out)
    assert [statement["Sid"] for statement in policy["Statement"]] == list(JOBS)
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert by_sid["ReadLaneSettings"]["Resource"] == ["arn:aws:lambda:eu-west-1:123456789012:function:email-test-normal"]
    assert by_sid["RenderWithSes"]["Resource"] == ["arn:aws:ses:eu-west-1:123456789012:template/email-test-*"]
    assert by_sid["ReadRecords"]["Condition"] == {"ForAllValues:StringLike": {
        "dynamodb:LeadingKeys": ["email-test.*", "email-test#status#*"]}}
    assert by_sid["SearchByAddress"]["Resource"] == [
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/email-test-normal",
        "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/email-test-normal:*"]
