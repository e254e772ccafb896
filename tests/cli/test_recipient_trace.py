"""`email-pipeline trace --recipient ADDRESS`: support's question answered from an address, on the emulated stack.

The lookup is a Logs Insights query over the sending functions' log groups (the emulated Lambda
delivers the handlers' lines there, as Lambda does), then each message's status record; the
README's policy for it is checked against the calls the tool makes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.client
import pytest

from local.system import LocalSystem
from ses_email_pipeline.cli.__main__ import main
from tests.cli.emulated import connection, drain, notification

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "Customer.Care@Example.com"
BOUNCING = "bounce@simulator.amazonses.com"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSystem]:
    with LocalSystem.start("dev") as running:
        running.publish([notification(ADDRESS.lower(), idempotencyKey="reset-1"),
                         notification(BOUNCING, idempotencyKey="reset-2"),
                         notification("someone.else@example.com")])
        drain(running)
        yield running


def run(system: LocalSystem, outputs: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main([*connection(system, outputs), *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_an_address_finds_its_send_and_what_ses_said(system: LocalSystem, outputs: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(system, outputs, capsys, "trace", "--recipient", ADDRESS)  # any case, as mailboxes
    assert status == 0, err
    [sent] = [line for line in out.splitlines() if " sent [normal] notification-v1" in line]
    assert re.search(r", SES message id \S+: delivered at \S+$", sent)
    assert out.splitlines()[-1] == "verdict: 1 sent in the last 7 days (1 delivered)"
    assert ADDRESS.lower() not in out.lower()  # the log holds no address, and the tool prints none


def test_a_bounce_is_told(system: LocalSystem, outputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _err = run(system, outputs, capsys, "trace", "--recipient", BOUNCING, "--json")
    [email] = json.loads(out)["emails"]
    assert status == 0 and (email["outcome"], email["delivery"]["status"]) == ("sent", "bounced")
    assert email["delivery"]["details"] == {"type": "Permanent", "subType": "General"}


def test_an_address_nothing_was_sent_to_is_not_found(system: LocalSystem, outputs: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _err = run(system, outputs, capsys, "trace", "--recipient", "nobody@example.com")
    assert status == 1
    assert "  nothing found" in out and "verdict: no send to this address in the last 7 days" in out


def test_outputs_of_a_stack_deployed_before_log_group_names_still_work(
        system: LocalSystem, outputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Older stacks export no `logGroupNames`: the groups follow from the functions' names."""
    older = {key: value for key, value in json.loads(outputs.read_text()).items() if key != "logGroupNames"}
    (tmp_path / "older.json").write_text(json.dumps(older))
    status, _out, err = run(system, tmp_path / "older.json", capsys, "trace", "--recipient", ADDRESS)
    assert status == 0, err


def test_trace_takes_a_key_or_a_recipient_not_both(system: LocalSystem, outputs: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    status, _out, err = run(system, outputs, capsys, "trace", "reset-1", "--recipient", ADDRESS)
    assert status == 2 and err.count("\n") == 1
    assert err.startswith("email-pipeline: trace takes a key, an event id or an SES message id, or --recipient")


def readme_policy() -> dict[str, Any]:
    """The operator's policy README "Operations" gives for `trace --recipient`."""
    [policy] = [json.loads(body) for body in re.findall(r"```json\n(.*?)```", (ROOT / "README.md").read_text(),
                                                        flags=re.S) if "QueryTheSendingFunctionsLogs" in body]
    return policy


def test_the_readme_policy_allows_exactly_the_calls_the_lookup_makes(
        system: LocalSystem, outputs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Least privilege, checked: every action and resource the tool uses is granted, and nothing more."""
    calls: list[tuple[str, str, dict[str, Any]]] = []
    real = botocore.client.BaseClient._make_api_call

    def record(client: Any, operation: str, params: dict[str, Any]) -> Any:
        calls.append((client.meta.service_model.signing_name, operation, params))
        return real(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    assert run(system, outputs, capsys, "trace", "--recipient", ADDRESS)[0] == 0
    stack = json.loads(outputs.read_text())
    groups = {f"arn:aws:logs:eu-west-1:111122223333:log-group:{group}" for group in stack["logGroupNames"].values()}
    used: set[tuple[str, str]] = set()
    for service, operation, params in calls:
        action = f"{service}:{operation}"
        if operation == "GetItem":
            used.add((action, f"arn:aws:dynamodb:eu-west-1:111122223333:table/{params['TableName']}"))
        else:  # StartQuery names the groups; GetQueryResults is authorized on the query's groups
            used |= {(action, group) for group in groups}
    granted = set()
    for statement in readme_policy()["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        resources = [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        for action in actions:
            # The README's table carries Pulumi's autoname suffix; a group's ARN is also written with ":*".
            granted |= {(action, re.sub(r"-[0-9a-f]{7}$", "", resource).removesuffix(":*")) for resource in resources}
    assert used == granted
