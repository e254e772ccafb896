"""`email-pipeline suppression` against the dev stack on the emulator: find a suppressed address, see why, lift it."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from local.system import LocalSystem
from ses_email_pipeline.handlers.shared.hashing import recipient_hash
from tests.cli.emulated import drain, empty, notification

ADDRESS = "fixed.mailbox@example.com"


@pytest.fixture(autouse=True)
def _fresh(system: LocalSystem) -> None:
    empty(system)
    ses = system.clients["sesv2"]
    for entry in ses.list_suppressed_destinations().get("SuppressedDestinationSummaries", []):
        ses.delete_suppressed_destination(EmailAddress=entry["EmailAddress"])


def hashed(system: LocalSystem, address: str) -> str:
    key = next(iter(system.blueprint.functions.values())).environment["EMAIL_RECIPIENT_HASH_KEY"]
    return recipient_hash(address, key.encode())


def test_a_suppressed_address_is_listed_by_hash_and_domain_never_by_address(system: LocalSystem, cli: Any) -> None:
    assert cli("suppression", "add", ADDRESS, "--reason", "BOUNCE")[0] == 0
    cli("suppression", "add", "angry@example.org", "--reason", "COMPLAINT")
    status, out, err = cli("suppression", "list", "--reason", "BOUNCE")
    assert (status, err) == (0, "")
    assert out.splitlines()[0] == "1 suppressed address (BOUNCE)"
    assert hashed(system, ADDRESS) in out and "example.com" in out and ADDRESS not in out
    status, out, _ = cli("suppression", "list", "--json", "--show-addresses")
    listed = json.loads(out)["suppressed"]
    assert sorted(e["recipient"]["address"] for e in listed) == ["angry@example.org", ADDRESS]


def test_a_send_to_a_suppressed_address_ends_suppressed_and_lifting_it_lets_the_next_one_through(
        system: LocalSystem, cli: Any) -> None:
    cli("suppression", "add", ADDRESS, "--reason", "BOUNCE")
    system.publish([notification(recipient=ADDRESS)])
    drain(system)
    [first] = system.ses.outbox
    assert system.final_statuses()[first.message_id] == {hashed(system, ADDRESS): "suppressed"}
    status, out, _ = cli("suppression", "show", ADDRESS)
    assert status == 0 and "BOUNCE since" in out

    status, _out, err = cli("suppression", "remove", ADDRESS, "--yes")
    assert status == 0
    audit = json.loads(err.strip().splitlines()[-1])
    assert audit["event"] == "suppression_removed" and audit["recipient_hash"] == hashed(system, ADDRESS)
    assert audit["by"].startswith("arn:aws:") and ADDRESS not in err
    system.publish([notification(recipient=ADDRESS, idempotencyKey="after-the-fix")])
    drain(system)
    second = system.ses.outbox[-1]
    assert system.final_statuses()[second.message_id] == {hashed(system, ADDRESS): "delivered"}


def test_remove_without_a_terminal_asks_for_yes_and_changes_nothing(
        system: LocalSystem, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("suppression", "add", ADDRESS, "--reason", "COMPLAINT")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    status, out, err = cli("suppression", "remove", ADDRESS)
    assert status == 2 and out == ""
    assert err.startswith("email-pipeline: removing a suppression needs a confirmation") and "--yes" in err
    assert cli("suppression", "show", ADDRESS)[0] == 0


@pytest.mark.parametrize(("argv", "code", "words"), [
    (("suppression", "show", "nobody@example.com"), 1, "not on the account's suppression list"),
    (("suppression", "remove", "nobody@example.com", "--yes"), 1, "not on the account's suppression list"),
    (("suppression", "list", "--reason", "SPAM"), 2, "--reason SPAM is not a suppression reason"),
    (("suppression", "add", "not-an-address", "--reason", "BOUNCE"), 2, "ADDRESS is not an email address"),
    (("suppression", "list", "--since", "last week"), 2, "--since 'last week' is not an ISO 8601 time"),
])
def test_a_mistake_is_one_line_saying_what_to_do(cli: Any, argv: tuple[str, ...], code: int, words: str) -> None:
    status, out, err = cli(*argv)
    assert (status, out) == (code, "")
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err
