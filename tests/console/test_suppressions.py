"""The suppression list in the console on the local stack: listed by hash and domain, looked up, lifted after a confirmation.

The emulated SES keeps the account's list (`local.sesv2_extensions`) and checks it on every send,
so what the console lifts is what the next send reaches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID

from ses_email_pipeline.handlers.shared.hashing import recipient_hash

from local import sesv2_extensions
from local.system import REGION
from tests.console.running import Running, api, running_console

ADDRESS = "fixed.mailbox@example.com"
SEND = {"template": "notification", "version": "v1", "sample": "order-shipped.json"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_console(tmp_path_factory.mktemp("console")) as found:
        yield found


@pytest.fixture(autouse=True)
def _empty_list(running: Running) -> None:
    ses = running.local.system.clients["sesv2"]
    for entry in ses.list_suppressed_destinations().get("SuppressedDestinationSummaries", []):
        ses.delete_suppressed_destination(EmailAddress=entry["EmailAddress"])


def suppress(running: Running, address: str, reason: str = "BOUNCE") -> None:
    running.local.system.clients["sesv2"].put_suppressed_destination(EmailAddress=address, Reason=reason)


def hashed(running: Running, address: str) -> str:
    key = json.loads(running.local.outputs.read_text())["recipientHashKey"]
    return recipient_hash(address, key.encode())


def test_the_list_names_each_address_by_hash_and_domain_and_filters_by_reason(running: Running) -> None:
    suppress(running, ADDRESS)
    suppress(running, "angry@example.org", "COMPLAINT")
    status, listed = api(running, "suppressions?reason=BOUNCE")
    assert status == 200, listed
    assert listed["reasons"] == ["BOUNCE"] and listed["more"] is False
    [entry] = listed["suppressed"]
    assert entry["recipient"] == {"hash": hashed(running, ADDRESS), "domain": "example.com"}
    assert entry["reason"] == "BOUNCE" and entry["since"].endswith("Z")
    assert ADDRESS not in json.dumps(listed)
    _, both = api(running, "suppressions")
    assert sorted(e["reason"] for e in both["suppressed"]) == ["BOUNCE", "COMPLAINT"]


def test_addresses_are_shown_only_when_asked_for(running: Running) -> None:
    suppress(running, ADDRESS)
    _, listed = api(running, "suppressions?addresses=true")
    assert [e["recipient"]["address"] for e in listed["suppressed"]] == [ADDRESS]
    assert listed["addresses_shown"] is True


def test_a_lookup_says_why_with_the_ids_ses_gives(running: Running) -> None:
    """SES records the message and feedback report that put an address on the list; the console shows both."""
    backend = get_backend("sesv2")[DEFAULT_ACCOUNT_ID][REGION]
    sesv2_extensions.suppress(backend, ADDRESS, "COMPLAINT", message_id="0102-abc", feedback_id="0102-feedback")
    status, found = api(running, f"suppressions/{ADDRESS}")
    assert status == 200, found
    assert (found["reason"], found["sesMessageId"], found["feedbackId"]) == ("COMPLAINT", "0102-abc", "0102-feedback")
    assert found["recipient"] == {"hash": hashed(running, ADDRESS), "domain": "example.com"}
    status, missing = api(running, "suppressions/nobody@example.com")
    assert status == 404 and "not on the account's suppression list" in missing["error"]


def test_a_lift_needs_the_stacks_name_and_logs_who_without_the_address(running: Running,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    suppress(running, ADDRESS)
    status, refused = api(running, "suppressions/lift", {"address": ADDRESS, "confirm": "yes"})
    assert status == 409 and running.stack_name in refused["error"]
    assert api(running, f"suppressions/{ADDRESS}")[0] == 200
    capsys.readouterr()
    status, lifted = api(running, "suppressions/lift", {"address": ADDRESS, "confirm": running.stack_name})
    assert status == 200, lifted
    assert api(running, f"suppressions/{ADDRESS}")[0] == 404
    [line] = [line for line in capsys.readouterr().err.splitlines() if "suppression_removed" in line]
    audit = json.loads(line)
    assert audit == lifted["audit"]
    assert (audit["recipient_hash"], audit["recipient_domain"], audit["reason"]) == (
        hashed(running, ADDRESS), "example.com", "BOUNCE")
    assert audit["by"] and audit["at"].endswith("Z") and ADDRESS not in line


def test_a_send_to_a_suppressed_address_is_suppressed_until_lifted(running: Running) -> None:
    suppress(running, ADDRESS)
    held = send(running, ADDRESS)
    assert final_status(running, held) == "suppressed"
    api(running, "suppressions/lift", {"address": ADDRESS, "confirm": running.stack_name})
    assert final_status(running, send(running, ADDRESS, sample="long-title.json")) == "delivered"


def test_a_filter_it_cannot_use_is_one_line(running: Running) -> None:
    for query, words in (("reason=SPAM", "SPAM is not a suppression reason"),
                         ("since=last%20week", "is not an ISO 8601 time"), ("limit=5000", "not a number from 1")):
        status, answer = api(running, f"suppressions?{query}")
        assert status == 400 and words in answer["error"] and "\n" not in answer["error"], answer


def send(running: Running, recipient: str, sample: str = "order-shipped.json") -> dict[str, Any]:
    status, sent = api(running, "send-test", {**SEND, "sample": sample, "recipient": recipient})
    assert status == 202, sent
    return dict(sent)


def final_status(running: Running, sent: dict[str, Any]) -> str:
    def found() -> str | None:
        messages = api(running, f"messages?key={sent['idempotency_key']}")[1]["messages"]
        status = messages[0]["recipients"][0]["status"] if messages else "sent"
        return None if status == "sent" else str(status)

    return running.wait_for(found, f"SES's answer to the send to {sent['recipient'].split('@')[1]}")
