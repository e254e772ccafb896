"""Command line for the local system: `python -m local {demo,send,serve}`.

    python -m local demo                      # bundled samples, checked against the expected outcome
    python -m local send events.json [--json] # your events, in `aws events put-events --entries` format
    python -m local serve [--port 4566]       # keep the emulator up and the lanes draining
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from local.iam import ProvisioningRefused
from local.stack_files import StackConfigError
from local.system import ROLE_POLICY_SOURCE, LocalSystem, PolicyEdits

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "events.json"
#: What the bundled samples must produce on the dev stack: (lane, subject) sent, (lane, field) dead-lettered.
EXPECTED_SENT = {("normal", "Test Notification"), ("priority", "[HIGH] High Priority Alert")}
EXPECTED_DEAD_LETTERS = {("normal", "detail.emailConfig.recipient")}


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar (README.md's commands are checked against it)."""
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="publish the bundled samples and check the outcome")
    send = commands.add_parser("send", help="publish events from a file and show what happened")
    send.add_argument("file", type=Path, help="a JSON list of PutEvents entries (or {'Entries': [...]})")
    serve = commands.add_parser("serve", help="keep the emulator running; point the AWS CLI at it")
    serve.add_argument("--port", type=int, default=4566)
    for command in (demo, send, serve):
        command.add_argument("--stack", default="dev", help="stack config to run (default: dev)")
    for command in (demo, send):
        command.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; exit status 2 when the stack's config is one `pulumi up` would refuse.

    A refused config is a mistake in a file, not in this tool: it gets the CLI's one-line error
    and what to do about it, never a traceback.
    """
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve_forever(args.stack, args.port)
        entries = load_entries(SAMPLES if args.command == "demo" else args.file)
        summary = run(args.stack, entries, report=args.command == "demo")
    except StackConfigError as error:
        print(f"error: validating stack config: {error}; {error.fix}", file=sys.stderr)
        return 2
    except ProvisioningRefused as refused:
        print(f"error: provisioning: {refused}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2) if args.json else describe(summary))
    if args.command == "demo":
        return check_demo(summary)
    return 1 if summary["access_denied"] else 0


def load_entries(path: Path) -> list[dict[str, Any]]:
    """Entries as `aws events put-events --entries` takes them (a list, or `{"Entries": [...]}`)."""
    data = json.loads(path.read_text())
    return list(data["Entries"] if isinstance(data, Mapping) else data)


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
        return system.summary()


def describe(summary: Mapping[str, Any]) -> str:
    """The summary as a person reads it."""
    lines = []
    for email in summary["sent"]:
        lines += [f"SENT [{email['lane']}] to {', '.join(email['to'])}" + (f" cc {', '.join(email['cc'])}" if email["cc"] else ""),
                  f"  subject: {email['subject']}",
                  *(f"  | {line}" for line in email["text"].strip().splitlines() if line.strip()), ""]
    for letter in summary["dead_letters"]:
        lines += [f"DEAD LETTER [{letter['lane']}] {letter['reason']}",
                  f"  event: {json.dumps(letter['event'])[:200]}", ""]
    for event in summary["unrouted"]:
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
    return "\n".join(lines)


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
        bus = system.blueprint.buses[0]
        print(f"emulated AWS on {system.endpoint} (region eu-west-1, any credentials); bus {bus}")
        print(f"  aws --endpoint-url {system.endpoint} events put-events --entries file://samples/events.json")
        print("  (entries need \"EventBusName\": \"" + bus + "\"); Ctrl-C to stop")
        shown, letters_seen = 0, set()
        try:
            while True:
                with contextlib.redirect_stdout(io.StringIO()):
                    system.drain()
                for email in system.ses.outbox[shown:]:
                    print(f"SENT [{email.lane}] to {', '.join(email.to)}: {email.subject}", flush=True)
                shown = len(system.ses.outbox)
                for letter in system.dead_letters():
                    key = json.dumps(letter.event, sort_keys=True)
                    if key not in letters_seen:
                        letters_seen.add(key)
                        print(f"DEAD LETTER [{letter.lane}] {letter.reason}", flush=True)
                time.sleep(1)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
