"""Command line for the local system: `python -m local {demo,send,serve,event new,snapshot}`.

    python -m local demo                      # bundled samples, checked against the expected outcome
    python -m local send events.json [--json] # your events, in `aws events put-events --entries` format
    python -m local serve [--port 4566]       # keep the emulator up and the lanes draining
    python -m local event new --source S --detail-type D --template T   # an events file for a template
    python -m local snapshot                  # record the dev stack's resources (make snapshot)

`send` exits 1 when any event was not sent (dead-lettered, unrouted, refused by the bus, still
queued) or a call was denied, unless `--allow-failures`; every command exits 2 with one line when
a file, the stack, its config or the port is one it cannot use.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from local import snapshot
from local.event_files import EntriesFileError, load_entries
from local.event_outcomes import EventOutcome
from local.event_scaffold import DEFAULT_RECIPIENT, ScaffoldError, write_event
from local.function_roles import PolicyEdits
from local.iam import ProvisioningRefused
from local.program import UnknownStack
from local.send_output import describe
from local.serve import DEFAULT_PORT, SAMPLES, PortTaken, serve_forever
from local.stack_files import StackConfigError
from local.system import LocalSystem

PROG = "python -m local"
#: What the bundled samples must produce on the dev stack: (lane, subject) sent, (lane, field) dead-lettered,
#: and each sent email's final delivery status (SES's mailbox simulator bounces `bounce@`).
EXPECTED_SENT = {("normal", "Test Notification"), ("priority", "[HIGH] High Priority Alert"),
                 ("normal", "Reset your password")}
EXPECTED_DELIVERY = {"Test Notification": {"delivered"}, "[HIGH] High Priority Alert": {"delivered"},
                     "Reset your password": {"bounced"}}
EXPECTED_DEAD_LETTERS = {("normal", "detail.emailConfig.recipient")}


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar (README.md's commands are checked against it)."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="publish the bundled samples and check the outcome")
    send = commands.add_parser("send", help="publish events from a file and show what happened")
    send.add_argument("file", type=Path, help="a JSON list of PutEvents entries (or {'Entries': [...]})")
    send.add_argument("--allow-failures", action="store_true",
                      help="exit 0 even when an event was not sent (by default: exit 1)")
    serve = commands.add_parser("serve", help="keep the emulator running; point the AWS CLI and email-pipeline at it")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the emulator's port (default {DEFAULT_PORT})")
    event = commands.add_parser("event", help="write events files")
    new = event.add_subparsers(dest="event_command", required=True).add_parser(
        "new", help="an events file for a template, which both `send` and `aws events put-events` accept")
    new.add_argument("--source", required=True, help="the event's source, e.g. shop.orders")
    new.add_argument("--detail-type", required=True, help="the event's detail-type, e.g. 'Order Shipped'")
    new.add_argument("--template", required=True, help="a folder under templates/, e.g. order-shipped")
    new.add_argument("--recipient", default=DEFAULT_RECIPIENT,
                     help=f"the recipient (default {DEFAULT_RECIPIENT}: SES's simulator, which every stack accepts)")
    new.add_argument("--out", type=Path, help="the file to write (default <template>-event.json)")
    new.add_argument("--force", action="store_true", help="replace the file if it exists")
    commands.add_parser("snapshot", help=f"record the dev stack's resources in {snapshot.SNAPSHOT.name} "
                                         "(after adding a template, route or lane)")
    for command in (demo, send, serve, new):
        command.add_argument("--stack", default="dev", help="the stack whose Pulumi.<stack>.yaml to run (default: dev)")
    for command in (demo, send):
        command.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; exit status 2 with one line when a file, the stack or the port is one it cannot use.

    A bad file, stack name or config is a mistake in a file, not in this tool: it gets one line
    saying what is wrong and what to do about it, never a traceback.
    """
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except (EntriesFileError, ScaffoldError, UnknownStack, PortTaken) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
    except StackConfigError as error:
        print(f"error: validating stack config: {error}; {error.fix}", file=sys.stderr)
    except ProvisioningRefused as refused:
        print(f"error: provisioning: {refused}", file=sys.stderr)
    except SystemExit as refused:  # the program's own refusal, one line per problem, as `pulumi preview` prints it
        if not isinstance(refused.code, str):
            raise
        print(refused.code, file=sys.stderr)
    except KeyboardInterrupt:  # Ctrl-C before serve's loop (while the program runs or moto starts): nothing to undo
        return 130
    return 2


def _demo_or_send(args: argparse.Namespace) -> int:
    entries = load_entries(SAMPLES if args.command == "demo" else args.file)
    summary = run(args.stack, entries, report=args.command == "demo")
    print(json.dumps(summary, indent=2) if args.json else describe(summary))
    if args.command == "demo":
        return check_demo(summary)
    status = send_status(summary, allow_failures=args.allow_failures)
    if status:
        print(f"{PROG}: {_failures(summary)}; see above, or pass --allow-failures to exit 0 anyway", file=sys.stderr)
    return status


def _serve(args: argparse.Namespace) -> int:
    return serve_forever(args.stack, args.port)


def _event(args: argparse.Namespace) -> int:
    out = args.out or Path(f"{args.template}-event.json")
    made = write_event(out, source=args.source, detail_type=args.detail_type, template=args.template,
                       recipient=args.recipient, stack=args.stack, overwrite=args.force)
    filled = ", ".join(made.variables) or "none: the template prints only what the event brings"
    print(f"wrote {out}: one event for {made.entry['EventBusName']}, templateData placeholders for {filled}")
    if not made.routed:
        print(f"{PROG}: no route on stack {args.stack} takes {args.source} / {args.detail_type}: add one to "
              f"Pulumi.{args.stack}.yaml (README, Extending it), or it will be unrouted", file=sys.stderr)
    print(f"replace the placeholders, then: python -m local send {out} (or aws events put-events --entries "
          f"file://{out})")
    return 0


def _snapshot(_args: argparse.Namespace) -> int:
    change = snapshot.write()
    print(f"wrote {snapshot.SNAPSHOT.relative_to(snapshot.ROOT)}: {change.summary()}")
    return 0


_COMMANDS: Mapping[str, Callable[[argparse.Namespace], int]] = {
    "demo": _demo_or_send, "send": _demo_or_send, "serve": _serve, "event": _event, "snapshot": _snapshot}


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


def run(stack: str, entries: Sequence[Mapping[str, Any]], *, report: bool = False,
        policy_edits: PolicyEdits | None = None) -> dict[str, Any]:
    """Publish, drain every lane (and run the daily report), and summarize; handler logs are kept quiet.

    `policy_edits` changes the functions' role policies first (see `LocalSystem.start`).

    Raises:
        ProvisioningRefused: Lambda would refuse to create a mapping or destination.
        StackConfigError: the stack's config is one `pulumi up` would refuse.
        UnknownStack: the stack has no file.
    """
    with LocalSystem.start(stack, policy_edits=policy_edits) as system, contextlib.redirect_stdout(io.StringIO()):
        system.publish(entries)
        system.drain()
        if report:
            system.run_report()
            system.drain()  # SES's events about the report, for its delivery status
        return system.summary()


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


if __name__ == "__main__":
    raise SystemExit(main())
