"""Command line for the local system: `python -m local {demo,send,serve}`.

    python -m local demo                      # bundled samples, checked against the expected outcome
    python -m local send events.json [--json] # your events, in `aws events put-events --entries` format
    python -m local serve [--port 4566]       # keep the emulator up and the lanes draining

`send` exits 1 when any event was not sent (dead-lettered, unrouted, refused by the bus, still
queued) or a call was denied, unless `--allow-failures`; 2 when the file or the stack config is
one it cannot run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from botocore.session import get_session
from botocore.validate import ParamValidator

from local.emulated_lambda import ROLE_POLICY_SOURCE
from local.event_outcomes import EventOutcome
from local.function_roles import PolicyEdits
from local.iam import ProvisioningRefused
from local.stack_files import StackConfigError
from local.system import REGION, LocalSystem, detail_text

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "events.json"
#: What the bundled samples must produce on the dev stack: (lane, subject) sent, (lane, field) dead-lettered,
#: and each sent email's final delivery status (SES's mailbox simulator bounces `bounce@`).
EXPECTED_SENT = {("normal", "Test Notification"), ("priority", "[HIGH] High Priority Alert"),
                 ("normal", "Reset your password")}
EXPECTED_DELIVERY = {"Test Notification": {"delivered"}, "[HIGH] High Priority Alert": {"delivered"},
                     "Reset your password": {"bounced"}}
EXPECTED_DEAD_LETTERS = {("normal", "detail.emailConfig.recipient")}
#: What a file of entries should look like, for messages about one that does not.
ENTRIES_HINT = "write a JSON list of PutEvents entries, as in samples/events.json"
#: JSON's kinds of value, as a message names them.
_KINDS = {str: "a string", int: "a number", float: "a number", bool: "true or false", list: "a list",
          dict: "an object", type(None): "null"}


class EntriesFileError(Exception):
    """A file `send` cannot read as PutEvents entries; its text says what is wrong, then what to do."""

    def __init__(self, problem: str, fix: str = ENTRIES_HINT) -> None:
        super().__init__(f"{problem}; {fix}")


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar (README.md's commands are checked against it)."""
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="publish the bundled samples and check the outcome")
    send = commands.add_parser("send", help="publish events from a file and show what happened")
    send.add_argument("file", type=Path, help="a JSON list of PutEvents entries (or {'Entries': [...]})")
    send.add_argument("--allow-failures", action="store_true",
                      help="exit 0 even when an event was not sent (by default: exit 1)")
    serve = commands.add_parser("serve", help="keep the emulator running; point the AWS CLI at it")
    serve.add_argument("--port", type=int, default=4566)
    for command in (demo, send, serve):
        command.add_argument("--stack", default="dev", help="stack config to run (default: dev)")
    for command in (demo, send):
        command.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; exit status 2 when the events file or the stack's config is one it cannot run.

    A bad file or a refused config is a mistake in a file, not in this tool: it gets one line saying
    what is wrong and what to do about it, never a traceback.
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve_forever(args.stack, args.port)
        entries = load_entries(SAMPLES if args.command == "demo" else args.file)
        summary = run(args.stack, entries, report=args.command == "demo")
    except EntriesFileError as error:
        print(f"python -m local: {error}", file=sys.stderr)
        return 2
    except StackConfigError as error:
        print(f"error: validating stack config: {error}; {error.fix}", file=sys.stderr)
        return 2
    except ProvisioningRefused as refused:
        print(f"error: provisioning: {refused}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2) if args.json else describe(summary))
    if args.command == "demo":
        return check_demo(summary)
    status = send_status(summary, allow_failures=args.allow_failures)
    if status:
        print(f"python -m local: {_failures(summary)}; see above, or pass --allow-failures to exit 0 anyway",
              file=sys.stderr)
    return status


def send_status(summary: Mapping[str, Any], *, allow_failures: bool = False) -> int:
    """Exit status of `send`: 0 when every event was sent or skipped as a duplicate and no call was denied."""
    failed = any(not EventOutcome(event["outcome"]).delivered for event in summary["events"])
    return 1 if (failed or summary["access_denied"]) and not allow_failures else 0


def _failures(summary: Mapping[str, Any]) -> str:
    events = summary["events"]
    failed = sum(not EventOutcome(event["outcome"]).delivered for event in events)
    parts = [f"{failed} of {len(events)} events were not sent"] if failed else []
    if summary["access_denied"]:
        parts.append(f"{len(summary['access_denied'])} calls were denied by a function's role policy")
    return " and ".join(parts)


def load_entries(path: Path) -> list[dict[str, Any]]:
    """Entries as `aws events put-events --entries` takes them (a list, or `{"Entries": [...]}`).

    Raises:
        EntriesFileError: the file is missing, not JSON, or not entries PutEvents would take.
    """
    data = _read_json(path)
    if isinstance(data, dict):
        if "Entries" not in data:
            keys = ", ".join(f'"{key}"' for key in list(data)[:5]) or "no keys"
            raise EntriesFileError(f'{path} has no "Entries" (it is an object with {keys})',
                                   'write a JSON list of PutEvents entries, or {"Entries": [...]}, '
                                   "as in samples/events.json")
        data = data["Entries"]
        where = f'{path}: "Entries"'
    else:
        where = str(path)
    if not isinstance(data, list):
        raise EntriesFileError(f"{where} is {_kind(data)}, not a list of entries")
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise EntriesFileError(f"{path}: Entries[{index}] is {_kind(entry)}, not an object",
                                   'write each entry as {"Source": ..., "DetailType": ..., "Detail": ...}, '
                                   "as in samples/events.json")
    if data:  # none is nothing to send, not a mistake (PutEvents itself wants at least one)
        _check_put_events(path, data)
    return data


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EntriesFileError(f"{path}: no such file", "give the path of a JSON file of PutEvents entries, "
                                                        "such as samples/events.json") from None
    except UnicodeDecodeError:
        raise EntriesFileError(f"{path} is not JSON (not UTF-8 text)") from None
    except OSError as error:
        raise EntriesFileError(f"cannot read {path} ({error.strerror})",
                               "give the path of a readable JSON file of PutEvents entries") from None
    if not text.strip():
        raise EntriesFileError(f"{path} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise EntriesFileError(f"{path} is not JSON ({error.msg} at {where})") from None


def _check_put_events(path: Path, entries: Sequence[Mapping[str, Any]]) -> None:
    """What the AWS CLI checks before it calls PutEvents: the request's shape, from the service model."""
    shape = get_session().get_service_model("events").operation_model("PutEvents").input_shape
    request = {"Entries": [{**entry, "Detail": detail_text(entry.get("Detail", {}))} for entry in entries]}
    report = ParamValidator().validate(request, shape)
    if report.has_errors():
        # One error per line; an unknown key's line ends with the keys an entry may have, said once here.
        problems, keys = [], ""
        for line in report.generate_report().splitlines():
            problem, _, names = line.partition(", must be one of: ")
            problems.append(problem)
            keys = names or keys
        said = " and ".join(problems) + (f" (an entry's keys are {keys})" if keys else "")
        raise EntriesFileError(f"{path} is not what PutEvents takes: {said}",
                               'write each entry as {"Source": ..., "DetailType": ..., "Detail": "<JSON text>"}, '
                               "as in samples/events.json (an event as EventBridge delivers it is not an entry)")


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def run(stack: str, entries: Sequence[Mapping[str, Any]], *, report: bool = False,
        policy_edits: PolicyEdits | None = None) -> dict[str, Any]:
    """Publish, drain every lane (and run the daily report), and summarize; handler logs are kept quiet.

    `policy_edits` changes the functions' role policies first (see `LocalSystem.start`).

    Raises:
        ProvisioningRefused: Lambda would refuse to create a mapping or destination.
        StackConfigError: the stack's config is one `pulumi up` would refuse.
    """
    with LocalSystem.start(stack, policy_edits=policy_edits) as system, contextlib.redirect_stdout(io.StringIO()):
        system.publish(entries)
        system.drain()
        if report:
            system.run_report()
            system.drain()  # SES's events about the report, for its delivery status
        return system.summary()


def describe(summary: Mapping[str, Any]) -> str:
    """The summary as a person reads it: a block per event, then what no event accounts for (the report)."""
    events = summary.get("events", [])
    notes = _bus_notes(events)
    lines = [*notes, ""] if notes else []
    emails = {email.get("ses_message_id"): email for email in summary["sent"]}
    for event in events:
        lines += [*_EVENT_BLOCKS[EventOutcome(event["outcome"])](event, emails), ""]
    ids = {event["event_id"] for event in events}
    told = {event.get("ses_message_id") for event in events if event["outcome"] == EventOutcome.SENT}
    for email in summary["sent"]:
        if email.get("ses_message_id") not in told:
            lines += [_email_head(f"SENT [{email['lane']}]", email), *_email_body(email), ""]
    for letter in summary["dead_letters"]:
        if not isinstance(letter["event"], dict) or letter["event"].get("id") not in ids:
            lines += [f"DEAD LETTER [{letter['lane']}] {letter['reason']}",
                      f"  event: {json.dumps(letter['event'])[:200]}", ""]
    for event in summary["unrouted"]:
        if not isinstance(event, dict) or event.get("id") not in ids:
            lines += [f"UNROUTED {event.get('source')} / {event.get('detail-type')}: no route takes it",
                      f"  event: {json.dumps(event)[:200]}", ""]
    for denial in summary.get("access_denied", []):
        verdict = ("its role policy denies it explicitly; narrow the Deny statement" if denial["explicit"]
                   else "its role policy allows no such call; add a statement for it")
        lines += [f"ACCESS DENIED: {denial['function']} called {denial['action']} on {denial['resource']}: "
                  f"{verdict} in {ROLE_POLICY_SOURCE}", ""]
    counts = ", ".join(f"{lane}: {c['sent']} sent, {c['dead_letters']} dead-lettered"
                       for lane, c in sorted(summary["counts"].items()))
    unrouted = f"{len(summary['unrouted'])} unrouted" if summary["unrouted"] else ""
    lines.append(f"counts: {', '.join(filter(None, [counts, unrouted])) or 'nothing happened'}")
    if events:
        outcomes = [EventOutcome(event["outcome"]) for event in events]
        tally = ", ".join(f"{outcomes.count(outcome)} {outcome}" for outcome in EventOutcome if outcome in outcomes)
        lines.append(f"events: {len(events)} ({tally})")
    return "\n".join(lines)


def _bus_notes(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per bus name the entries were written with that is not the stack's bus."""
    notes: dict[str, None] = {}
    for event in events:
        written, bus = event.get("bus_in_entry"), event["bus"]
        if written is None:
            notes[f"entries that name no bus went to this stack's '{bus}' (aws events put-events would put them "
                  "on the default bus, which accepts them and routes them nowhere)"] = None
        elif written != bus:
            notes[f"bus '{written}' is this stack's '{bus}'"] = None
    return list(notes)


def _email_head(head: str, email: Mapping[str, Any]) -> str:
    return f"{head} to {', '.join(email['to'])}" + (f" cc {', '.join(email['cc'])}" if email["cc"] else "")


def _email_body(email: Mapping[str, Any]) -> list[str]:
    return [f"  subject: {email['subject']}",
            *(f"  | {line}" for line in email["text"].strip().splitlines() if line.strip()),
            *_delivery_line(email)]


def _delivery_line(email: Mapping[str, Any]) -> list[str]:
    """What SES said of each recipient since (the status handler's final status), when the stack tracks it."""
    delivery = email.get("delivery") or {}
    return [f"  delivery: {', '.join(f'{address} {status}' for address, status in delivery.items())}"] \
        if delivery else []


def _event_id(event: Mapping[str, Any], *more: str) -> str:
    return ", ".join([f"  event id {event['event_id']}", *more])


def _sent_block(event: Mapping[str, Any], emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    head = f"Entries[{event['index']}]: SENT [{event['lane']}]"
    email = emails.get(event["ses_message_id"])
    body = [_email_head(head, email), *_email_body(email)] if email else [head]
    return [*body, _event_id(event, f"SES message id {event['ses_message_id']}")]


def _skipped_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [f"Entries[{event['index']}]: DUPLICATE SKIPPED [{event['lane']}]: an event with its idempotency key "
            "was sent before", _event_id(event, f"SES message id of that send {event['ses_message_id']}")]


def _dead_letter_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    where = f" {event['field']}" if event["field"] != "-" else ""
    return [f"Entries[{event['index']}]: DEAD LETTER [{event['lane']}] {event['code']}{where}: {event['reason']}",
            _event_id(event)]


def _unrouted_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [f"Entries[{event['index']}]: UNROUTED {event['source']} / {event['detail_type']}: {event['reason']}",
            _event_id(event)]


#: What to do about an entry PutEvents refuses, by its ErrorCode (the entry never reached the bus).
_REFUSAL_FIXES = {
    "MalformedDetail": "Detail must be a JSON object written as text, such as \"{\\\"title\\\": \\\"T\\\"}\"",
    "InvalidArgument": "give the entry a Source, a DetailType and a Detail",
}


def _refused_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    fix = _REFUSAL_FIXES.get(event["code"], "fix the entry as the message says")
    return [f"Entries[{event['index']}]: REFUSED BY THE BUS: {event['code']}: {event['message']}",
            f"  it never reached the bus; {fix}"]


def _queued_block(event: Mapping[str, Any], _emails: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [f"Entries[{event['index']}]: STILL QUEUED [{event['lane']}]: {event['reason']}", _event_id(event)]


_EVENT_BLOCKS: Mapping[EventOutcome, Callable[[Mapping[str, Any], Mapping[str, Mapping[str, Any]]], list[str]]] = {
    EventOutcome.SENT: _sent_block,
    EventOutcome.DUPLICATE_SKIPPED: _skipped_block,
    EventOutcome.DEAD_LETTERED: _dead_letter_block,
    EventOutcome.UNROUTED: _unrouted_block,
    EventOutcome.REFUSED: _refused_block,
    EventOutcome.STILL_QUEUED: _queued_block,
}


def check_demo(summary: Mapping[str, Any]) -> int:
    """Exit status of the demo: 0 when the samples did exactly what they should."""
    sent = {(e["lane"], e["subject"]) for e in summary["sent"] if e["lane"] != "report"}
    letters = {(d["lane"], d["reason"].split(":")[0]) for d in summary["dead_letters"]}
    reports = [e for e in summary["sent"] if e["lane"] == "report"]
    problems = []
    if sent != EXPECTED_SENT:
        problems.append(f"sent {sorted(sent)}, expected {sorted(EXPECTED_SENT)}")
    if letters != EXPECTED_DEAD_LETTERS:
        problems.append(f"dead letters {sorted(letters)}, expected {sorted(EXPECTED_DEAD_LETTERS)}")
    if len(reports) != 1:
        problems.append(f"{len(reports)} daily reports sent, expected 1")
    for email in summary["sent"]:
        expected = EXPECTED_DELIVERY.get(email["subject"])
        if expected is not None and set(email.get("delivery", {}).values()) != expected:
            problems.append(f"{email['subject']!r} ended {email.get('delivery')}, expected {sorted(expected)}")
    if summary.get("access_denied"):
        problems.append(f"{len(summary['access_denied'])} calls denied by a function's role policy "
                        "(ACCESS DENIED above)")
    for problem in problems:
        print(f"demo: UNEXPECTED: {problem}", file=sys.stderr)
    if not problems:
        print("demo: every sample did what it should", file=sys.stderr)
    return 1 if problems else 0


def serve_forever(stack: str, port: int) -> int:
    """Keep the emulator up on 127.0.0.1:`port` and drain the lanes every second."""
    with LocalSystem.start(stack, port=port) as system:
        print("\n".join(serve_banner(system)), flush=True)
        watch = ServeWatch(system)
        try:
            while True:
                for line in watch.new_lines():
                    print(line, flush=True)
                time.sleep(1)
        except KeyboardInterrupt:
            return 0


def serve_banner(system: LocalSystem, cwd: Path | None = None) -> list[str]:
    """Where the emulator is, and a command that puts the samples on the stack's bus, to run as printed.

    The command carries its region and placeholder credentials, so it runs with no AWS profile; the
    samples' path is as seen from `cwd` (default: the current directory).
    """
    bus = system.blueprint.buses[0]
    lines = [f"emulated AWS on {system.endpoint} (region {REGION}, any credentials); bus {bus}"]
    sample_buses = sorted({str(entry.get("EventBusName")) for entry in load_entries(SAMPLES)})
    samples = _shown_path(SAMPLES, cwd or Path.cwd())
    if sample_buses == [bus]:
        lines.append(f"  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url {system.endpoint} "
                     f"--region {REGION} events put-events --entries file://{samples}")
    else:
        lines.append(f"  {samples} is written for bus {', '.join(sample_buses)}, not this stack's: "
                     f"copy it with \"EventBusName\": \"{bus}\" in each entry to send it here")
    lines.append(f"  (your entries need \"EventBusName\": \"{bus}\": without it they go to the default bus, "
                 "which accepts them and routes them nowhere); Ctrl-C to stop")
    return lines


def _shown_path(path: Path, cwd: Path) -> str:
    """`path` relative to `cwd` when it is below it (as `make serve` runs), else absolute."""
    return os.path.relpath(path, cwd) if path.is_relative_to(cwd) else str(path)


class ServeWatch:
    """What `serve` prints as the lanes drain: each email sent, dead letter and unrouted event, once."""

    def __init__(self, system: LocalSystem) -> None:
        self._system = system
        self._shown = 0
        self._seen: set[str] = set()

    def new_lines(self) -> list[str]:
        """Drain every lane (the handlers' logs kept quiet) and describe what is new since the last call."""
        system = self._system
        with contextlib.redirect_stdout(io.StringIO()):
            system.drain()
        lines = [f"SENT [{email.lane}] to {', '.join(email.to)}: {email.subject}"
                 for email in system.ses.outbox[self._shown:]]
        self._shown = len(system.ses.outbox)
        for letter in system.dead_letters():
            if self._first_time(letter.event):
                lines.append(f"DEAD LETTER [{letter.lane}] {letter.reason}")
        for event in system.unrouted():
            if self._first_time(event):
                lines.append(f"UNROUTED {event.get('source')} / {event.get('detail-type')}: no route takes it; "
                             "it waits in the unrouted queue")
        return lines

    def _first_time(self, event: Any) -> bool:
        key = json.dumps(event, sort_keys=True)
        seen = key in self._seen
        self._seen.add(key)
        return not seen


if __name__ == "__main__":
    raise SystemExit(main())
