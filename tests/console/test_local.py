"""The console on the local stack (`make console`): test sends through the pipeline, the outbox, dead letters.

The whole system runs (tests/console/running.py): a test send is an event on the bus, routed to
the normal lane, sent by the emulated SES, answered by its mailbox simulator, recorded by the
status handler; the console shows each step from the same records `email-pipeline trace` reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.running import NO_MESSAGE, Running, api, running_console

SEND = {"template": "notification", "version": "v1", "sample": "order-shipped.json"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_console(tmp_path_factory.mktemp("console")) as found:
        yield found


def send(running: Running, recipient: str, **extra: Any) -> dict[str, Any]:
    status, sent = api(running, "send-test", {**SEND, "recipient": recipient, **extra})
    assert status == 202, sent
    return sent


def message_of(running: Running, key: str, final: bool = True) -> dict[str, Any]:
    """The one outbox email the test send with idempotency key `key` became (once SES said something of it)."""
    def found() -> dict[str, Any] | None:
        _, listing = api(running, f"messages?key={key}")
        messages = listing["messages"]
        if messages and (not final or all(r["status"] != "sent" for r in messages[0]["recipients"])):
            return dict(messages[0])
        return None

    return running.wait_for(found, f"the email of test send {key}")


def test_a_test_send_to_the_bounce_simulator_shows_the_bounce_in_its_timeline(running: Running) -> None:
    sent = send(running, "bounce@simulator.amazonses.com")
    message = message_of(running, sent["idempotency_key"])
    assert [(r["address"], r["status"]) for r in message["recipients"]] == [("bounce@simulator.amazonses.com", "bounced")]
    assert message["event_id"] == sent["event_id"] and message["correlation_id"] == sent["correlation_id"]
    _, detail = api(running, f"messages/{message['id']}")
    assert [step["status"] for step in detail["timeline"]] == ["sent", "bounced"]
    assert detail["timeline"][1]["details"] == {"type": "Permanent", "subType": "General"}
    assert "Your order 1042 has shipped" in detail["html"] and detail["tags"]["template"] == "notification-v1"


def test_an_allowlisted_recipient_is_delivered(running: Running) -> None:
    sent = send(running, "ada@example.com")
    assert message_of(running, sent["idempotency_key"])["recipients"][0]["status"] == "delivered"


def test_the_outbox_is_newest_first_and_searchable(running: Running) -> None:
    first = send(running, "success@simulator.amazonses.com")
    second = send(running, "complaint@simulator.amazonses.com")
    message_of(running, first["idempotency_key"])
    message_of(running, second["idempotency_key"])
    _, everything = api(running, "messages")
    ids = [m["event_id"] for m in everything["messages"]]
    assert ids.index(second["event_id"]) < ids.index(first["event_id"])
    for query in ("recipient=complaint%40simulator", "q=complaint", f"key={second['idempotency_key']}",
                  f"key={second['event_id']}"):
        _, found = api(running, f"messages?{query}")
        assert [m["event_id"] for m in found["messages"]] == [second["event_id"]], query
    _, by_template = api(running, "messages?template=notification-v1&source=custom.application")
    assert {first["event_id"], second["event_id"]} <= {m["event_id"] for m in by_template["messages"]}


def test_a_sample_the_lane_would_refuse_is_dead_lettered_with_the_reason_the_preview_gave(running: Running) -> None:
    _, preview = api(running, f"templates/notification/v1/preview?sample={NO_MESSAGE}")
    assert preview["lane_check"]["sends"] is False
    sent = send(running, "success@simulator.amazonses.com", sample=NO_MESSAGE)

    def dead_letter() -> dict[str, Any] | None:
        _, found = api(running, "dead-letters")
        return next((m for m in found["lanes"]["normal"]["messages"] if m["event_id"] == sent["event_id"]), None)

    letter = running.wait_for(dead_letter, "the dead letter of the refused sample")
    assert (letter["code"], letter["field"]) == ("InvalidEvent", preview["lane_check"]["field"])
    assert letter["reason"].endswith(preview["lane_check"]["reason"])


def test_the_make_console_output_tells_each_outcome(running: Running) -> None:
    sent = send(running, "bounce@simulator.amazonses.com")
    message = message_of(running, sent["idempotency_key"])
    running.wait_for(lambda: any(f"STATUS bounced bounce@simulator.amazonses.com (SES message id {message['id']})"
                                 in line for line in running.lines), "the status line")


def test_a_template_added_since_the_start_is_said_to_be_undeployed(running: Running) -> None:
    _, preview = api(running, "templates/order-shipped/v1/preview?sample=shipped.json")
    assert preview["changed_since_start"] is True
    _, deployed = api(running, "templates/notification/v1/preview?sample=long-title.json")
    assert deployed["changed_since_start"] is False


def test_the_banner_prints_both_addresses(running: Running, tmp_path: Path) -> None:
    banner = running.local.banner()
    assert banner[0].startswith(f"console on {running.url}")
    assert banner[1].startswith(f"emulated AWS on {running.local.system.endpoint}")
