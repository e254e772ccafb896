"""`python -m local send FILE`: any file gets a one-line answer, every event gets its outcome."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import __main__ as cli
from local.system import LocalSystem

STACK_BUS = "email-pipeline-dev-bus"  # what `pulumi stack output busName` gives for dev
RECIPE_BUS = "email-pipeline-event-bus"  # how the recipe's commands name the bus: "<project>-event-bus"


def entry(detail: dict[str, Any] | str, detail_type: str = "Email Notification Request",
          source: str = "custom.application", **fields: Any) -> dict[str, Any]:
    text = detail if isinstance(detail, str) else json.dumps(detail)
    return {"Source": source, "DetailType": detail_type, "Detail": text, **fields}


def notification(recipient: str = "someone@example.com", **detail: Any) -> dict[str, Any]:
    return entry({"emailConfig": {"recipient": recipient, "subject": "Hello"}, "title": "T", "message": "M", **detail})


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    return tmp_path / "events.json"


def send(path: Path, *options: str) -> tuple[int, str, str]:
    """Run `python -m local send` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["send", str(path), *options])
    return status, out.getvalue(), err.getvalue()


# --- a file that is not a list of entries: one line, exit 2 ------------------------------------------

BAD_FILES = {
    "not JSON": ('[{"Source": "custom.application",}]', "is not JSON"),
    "empty": ("", "is empty"),
    "an object without Entries": ('{"entries": []}', 'has no "Entries"'),
    "entries that are not objects": ('["custom.application"]', "Entries[0] is a string, not an object"),
    "a number": ("42", "is a number, not a list of entries"),
    "an event as EventBridge delivers it": (
        json.dumps([{"source": "custom.application", "detail-type": "Email Notification Request", "detail": {}}]),
        'Unknown parameter in Entries[0]: "source"'),
}


@pytest.mark.parametrize(("content", "problem"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_file_that_is_not_a_list_of_entries_gets_one_line_and_exit_2(events_file: Path, content: str,
                                                                     problem: str) -> None:
    events_file.write_text(content)
    status, out, err = send(events_file)
    assert status == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith("python -m local: ") and problem in line
    assert "; " in line.split(problem, 1)[1]  # then what to do about it


def test_a_detail_written_as_an_object_is_refused_as_put_events_refuses_it(events_file: Path) -> None:
    """`aws events put-events` refuses the file (Detail is JSON text), so `send` does: one line naming the entries."""
    as_object = {"Source": "custom.application", "DetailType": "Email Notification Request",
                 "Detail": {"emailConfig": {"recipient": "someone@example.com"}, "title": "T"}}
    events_file.write_text(json.dumps([notification(), as_object, as_object]))
    status, out, err = send(events_file)
    assert status == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith(f"python -m local: {events_file}: the Detail of Entries[1] and Entries[2] is written as a "
                           "JSON object, and PutEvents (aws events put-events too) takes Detail only as JSON text; ")
    assert "python -m local event new" in line


def test_a_missing_file_gets_one_line_and_exit_2(tmp_path: Path) -> None:
    status, out, err = send(tmp_path / "nowhere.json")
    assert status == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith("python -m local: ") and "nowhere.json" in line and "no such file" in line


# --- the recipe's bus name -----------------------------------------------------------------------------

def test_entries_naming_another_bus_go_to_the_stacks_bus_and_say_so_once(events_file: Path) -> None:
    recipe = {**notification(idempotencyKey="k-1"), "EventBusName": RECIPE_BUS}
    events_file.write_text(json.dumps([recipe, recipe]))
    status, out, err = send(events_file)
    assert status == 0, err  # one sent, one skipped as a duplicate: nothing failed
    assert "Traceback" not in err
    assert out.count(f"bus '{RECIPE_BUS}' is this stack's '{STACK_BUS}'") == 1
    assert "Entries[0]: SENT [normal]" in out and "Entries[1]: DUPLICATE SKIPPED [normal]" in out


# --- one outcome per event -------------------------------------------------------------------------------

MIXED = [
    {**notification(idempotencyKey="reset-42"), "EventBusName": STACK_BUS},  # 0: sent
    notification(idempotencyKey="reset-42"),                               # 1: duplicate skipped
    entry({"invalidField": "x"}),                                           # 2: dead-lettered
    entry({"orderId": "1042"}, detail_type="Order Placed", source="shop.orders"),  # 3: not accepted
    entry("this is not JSON"),                                              # 4: refused by the bus
]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    """One run of `send --json` over MIXED: (exit status, the document, stderr)."""
    path = tmp_path_factory.mktemp("send") / "mixed.json"
    path.write_text(json.dumps({"Entries": MIXED}))
    status, out, err = send(path, "--json")
    return status, json.loads(out), err


def test_json_keeps_the_summary_keys_and_adds_events(mixed: tuple[int, dict[str, Any], str]) -> None:
    _status, document, _err = mixed
    assert set(document) == {"sent", "dead_letters", "unrouted", "counts", "access_denied", "events"}
    assert [event["index"] for event in document["events"]] == list(range(len(MIXED)))


def test_a_sent_event_reports_its_lane_and_ses_message_id(mixed: tuple[int, dict[str, Any], str]) -> None:
    _status, document, _err = mixed
    event = document["events"][0]
    assert (event["outcome"], event["lane"]) == ("sent", "normal")
    [email] = document["sent"]
    assert event["ses_message_id"] == email["ses_message_id"] and event["event_id"]


def test_a_duplicate_is_reported_as_skipped(mixed: tuple[int, dict[str, Any], str]) -> None:
    _status, document, _err = mixed
    first, duplicate = document["events"][:2]
    assert duplicate["outcome"] == "duplicate skipped" and duplicate["lane"] == "normal"
    assert duplicate["event_id"] != first["event_id"]  # two events; one idempotency key
    assert duplicate["ses_message_id"] == first["ses_message_id"]  # the send it duplicates


def test_a_dead_letter_is_reported_with_its_code_field_and_reason(mixed: tuple[int, dict[str, Any], str]) -> None:
    _status, document, _err = mixed
    event = document["events"][2]
    assert event["outcome"] == "dead-lettered" and event["event_id"]
    assert (event["lane"], event["code"], event["field"]) == ("normal", "InvalidEvent", "detail.emailConfig.recipient")
    assert event["reason"] and not event["reason"].startswith(event["field"])


def test_an_event_the_pipeline_does_not_accept_is_unrouted_and_not_accepted(
        mixed: tuple[int, dict[str, Any], str]) -> None:
    _status, document, _err = mixed
    event = document["events"][3]
    assert (event["outcome"], event["accepted"], event["queue"]) == ("unrouted", False, None)
    assert event["event_id"]  # the bus took it, and no rule matched it
    assert "custom.application / Email Notification Request" in event["reason"]  # what it does accept


def test_an_entry_the_bus_refuses_is_reported_with_the_bus_error(mixed: tuple[int, dict[str, Any], str]) -> None:
    _status, document, _err = mixed
    event = document["events"][4]
    assert (event["outcome"], event["event_id"], event["code"]) == ("refused by the bus", None, "MalformedDetail")
    assert event["message"]


def test_any_event_not_sent_makes_the_exit_status_1(mixed: tuple[int, dict[str, Any], str]) -> None:
    status, _document, err = mixed
    assert status == 1
    assert "3 of 5 events were not sent" in err and "--allow-failures" in err


def test_the_human_output_has_one_block_per_event(mixed: tuple[int, dict[str, Any], str]) -> None:
    _status, document, _err = mixed
    blocks = [block for block in cli.describe(document).split("\n\n") if block.startswith("Entries[")]
    heads = [block.splitlines()[0] for block in blocks]
    assert [head.split(":")[1].split("[")[0].strip() for head in heads] == [
        "SENT", "DUPLICATE SKIPPED", "DEAD LETTER", "UNROUTED shop.orders / Order Placed", "REFUSED BY THE BUS"]
    assert "MalformedDetail" in heads[4]
    assert document["events"][0]["event_id"] in blocks[0]


def test_allow_failures_exits_0_when_events_failed(events_file: Path) -> None:
    events_file.write_text(json.dumps([entry("not JSON")]))
    assert send(events_file, "--allow-failures")[0] == 0


def test_an_access_denial_fails_the_run_even_when_every_event_was_sent() -> None:
    summary = {"events": [{"index": 0, "outcome": "sent"}], "access_denied": [{"function": "f"}]}
    assert cli.send_status(summary) == 1
    assert cli.send_status(summary, allow_failures=True) == 0
    assert cli.send_status({**summary, "access_denied": []}) == 0


# --- outcomes that need a route filter or a halted account --------------------------------------------

@pytest.fixture(scope="module")
def filtered() -> Iterator[dict[str, Any]]:
    """A gold-only route (so silver receipts are accepted and unrouted) and SES paused for one event."""
    gold = {"name": "gold-receipts", "lane": "priority",
            "eventPattern": {"source": ["shop.orders"], "detail-type": ["Order Receipt"], "detail": {"tier": ["gold"]}}}
    with LocalSystem.start("dev", routes=[gold]) as system, contextlib.redirect_stdout(io.StringIO()):
        system.publish([entry({"tier": "silver"}, detail_type="Order Receipt", source="shop.orders")])
        system.ses.faults.paused = True
        system.publish([notification()])
        system.drain(fast_forward=False)  # as long as SES is paused, the message waits: no redrive
        yield system.summary()


def test_an_accepted_event_no_route_takes_is_unrouted_in_the_unrouted_queue(filtered: dict[str, Any]) -> None:
    event = filtered["events"][0]
    assert (event["outcome"], event["accepted"]) == ("unrouted", True)
    assert event["queue"].endswith("-unrouted")
    assert [unrouted["id"] for unrouted in filtered["unrouted"]] == [event["event_id"]]


def test_an_event_still_waiting_on_its_lane_is_reported_as_queued(filtered: dict[str, Any]) -> None:
    event = filtered["events"][1]
    assert (event["outcome"], event["lane"], event["code"]) == ("still queued", "normal", "SendingPausedException")
    assert cli.send_status(filtered) == 1
