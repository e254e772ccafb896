"""`email-pipeline`: the command line. `main(argv)` parses, runs one command and returns its status.

Every problem the operator can fix is one line on stderr, `email-pipeline: <what>; <what to do>`,
with exit status 2 (1 when the answer is "not found" or "not healthy"); never a traceback.

Modules that import boto3 or botocore are imported by the commands that call AWS: `--help` and
`hash` stay fast, and a missing dependency is reported as one line too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from . import suppression_commands
from .dead_letters import DEFAULT_MAX_RECEIVES
from .problems import NOT_FOUND, PROG, USAGE, CliError
from .stack import HIDDEN_SECRET, LOCAL_STACK_OUTPUTS, Stack, load_outputs, resolve

_EPILOG = """\
names: --stack-outputs FILE reads `pulumi stack output --json --show-secrets > FILE`; flags
override it. The local emulator (`make serve`): --local, from the repository's root.
exit status: 0 done, 1 not found or not healthy, 2 usage or AWS error (one line on stderr)."""

_REDRIVE_HELP = """\
Move dead letters back to their lane: receive, send to the lane with the body and every message
attribute, then delete from the DLQ. Unlike SQS's native start-message-move-task (which moves
everything and cannot filter), --code moves only one FailureCode. A redriven OutcomeUnknown dead
letter is the operator's decision to send that email again: the lane does, and it may already
have reached its recipients. Events already sent are skipped by the lane's idempotency."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        raise CliError(message, f"see `{self.prog} --help`")


@dataclass
class Context:
    """What a command needs: its arguments, the stack's names and AWS clients (made on demand)."""

    args: argparse.Namespace

    def stack(self) -> Stack:
        path = self.args.stack_outputs
        if self.args.local:
            if path:
                raise CliError("--local and --stack-outputs both name the stack", "pass one of them")
            path = str(LOCAL_STACK_OUTPUTS)
            if not LOCAL_STACK_OUTPUTS.exists():
                raise CliError(f"no local stack here ({path} does not exist)",
                               "start it with `make serve` and run this from the repository's root")
        outputs = load_outputs(Path(path)) if path else {}
        return resolve(outputs, source=path or "the command line", bus=self.args.bus,
                       queue_urls=self.args.queue_url or [], dlq_urls=self.args.dlq_url or [],
                       unrouted_url=self.args.unrouted_url, table=self.args.table, stack_name=self.args.stack_name)

    def hash_key(self) -> str:
        """The stack's recipient hash key: the flag, else the stack outputs' key, else the environment's.

        The most explicit wins: an exported variable outlives the shell's last stack; `--stack-outputs`
        names this one.
        """
        from ses_email_pipeline.handlers.shared.settings import Env

        variable = Env.RECIPIENT_HASH_KEY
        if self.args.hash_key:
            return str(self.args.hash_key)
        stack = self.stack() if self.args.stack_outputs or self.args.local else None
        if stack is not None and stack.hash_key and stack.hash_key != HIDDEN_SECRET:
            return str(stack.hash_key)
        if os.environ.get(variable):
            return os.environ[variable]
        if stack is not None and stack.hash_key == HIDDEN_SECRET:
            raise CliError(f"recipientHashKey in {stack.source} is hidden ({HIDDEN_SECRET})",
                           f"export the outputs with `pulumi stack output --json --show-secrets`, or set {variable}")
        raise CliError("no recipient hash key", f"set {variable} (pulumi stack output recipientHashKey "
                                                "--show-secrets), or pass --stack-outputs or --hash-key")

    def aws(self, stack: Stack) -> Any:
        from .session import Aws

        if self.args.local:
            return Aws(self.args.region or stack.region, self.args.endpoint_url or stack.local_endpoint(),
                       emulator_credentials=True)
        return Aws(self.args.region or stack.region, self.args.endpoint_url)


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    parser = _Parser(prog=PROG, description="Operate the email pipeline: status, dead letters, replays, "
                     "recipient hashes, one event's trace.", epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _stack_options(parser, default=None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = _command(commands, "status", "queues, dead letters by failure code, SES account, alarms in ALARM",
                      _run_status)
    _json(status)
    _max_receives(status)

    dlq = commands.add_parser("dlq", help="read the lanes' dead letters, or move them back")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    listing = _command(dlq_commands, "list", "counts by lane and failure code, and each message's id, code, "
                       "field, reason and time (no addresses)", _run_dlq_list)
    listing.add_argument("--lane", help="only this lane")
    _show_addresses(listing)
    _json(listing)
    _max_receives(listing)
    show = _command(dlq_commands, "show", "one dead letter, its reason and its event (addresses hidden)", _run_dlq_show)
    show.add_argument("message_id", metavar="MESSAGE_ID", help="its DLQ message id or EventBridge event id")
    show.add_argument("--lane", help="only search this lane's DLQ")
    _show_addresses(show)
    _json(show)
    _max_receives(show)
    redrive = _command(dlq_commands, "redrive", "move dead letters back to their lane, optionally one failure "
                       "code only", _run_dlq_redrive, description=_REDRIVE_HELP)
    redrive.add_argument("--lane", required=True, help="the lane whose DLQ to move back")
    redrive.add_argument("--code", help="only dead letters with this FailureCode (as `dlq list` shows it)")
    redrive.add_argument("--limit", type=_positive, help="move at most this many")
    redrive.add_argument("--dry-run", action="store_true", help="only count what would move")
    _max_receives(redrive, "with --dry-run: ")

    replay = _command(commands, "replay", "replay a window of the bus archive onto the bus", _run_replay,
                      description="Replay archived events of a window onto the stack's bus (EventBridge "
                                  "StartReplay); the lanes skip what was already sent. Times are ISO 8601; "
                                  "without a zone, UTC.")
    replay.add_argument("--from", dest="start", required=True, metavar="ISO", help="window start")
    replay.add_argument("--to", dest="end", required=True, metavar="ISO", help="window end")
    replay.add_argument("--archive-arn", help="the archive (default: the bus's only archive)")
    replay.add_argument("--name", help="replay name (default: from the window and the time now)")
    replay.add_argument("--wait", action="store_true", help="report progress until the replay has finished")
    replay.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)

    hashing = _command(commands, "hash", "the hash under which the logs name a recipient", _run_hash,
                       description="Print each address's recipient hash, one a line, as the handlers log it "
                                   "(with --idempotency-key: each key's keyHash, as status events carry it). "
                                   "The key: --hash-key, else the stack outputs' recipientHashKey, else "
                                   "$EMAIL_RECIPIENT_HASH_KEY.")
    hashing.add_argument("addresses", nargs="+", metavar="ADDRESS")
    hashing.add_argument("--idempotency-key", action="store_true",
                         help="the values are idempotency keys (case-sensitive), not addresses")
    hashing.add_argument("--hash-key", help="the stack's key (prefer the environment variable: a flag stays "
                                            "in shell history)")

    templates = commands.add_parser("templates", help="check the SES templates before they ship")
    template_commands = templates.add_subparsers(dest="templates_command", required=True, metavar="COMMAND")
    check = template_commands.add_parser(
        "check", help="what SES would refuse or mis-render, one line each: file:line:column", epilog=_EPILOG,
        description="Check every template version: parse errors, helpers SES lacks, each printed name against the "
                    "version's samples/*.json (did you mean...), links. Exit 1 on an error.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("folder", nargs="?", help="the templates folder (default: ./templates, else the package's)")
    check.set_defaults(run=_run_templates_check)
    _json(check)

    trace = _command(commands, "trace", "what happened to one event (idempotency records, dead letters, delivery), "
                                        "to one SES message, or to the emails to one address", _run_trace)
    trace.add_argument("value", metavar="KEY-OR-EVENT-ID", nargs="?",
                       help="the event's idempotencyKey, or its EventBridge id when it had none; or an SES message id")
    trace.add_argument("--recipient", metavar="ADDRESS",
                       help="every send to this address (Logs Insights over the sending functions' logs, by the "
                            "address's hash under the stack's key), each with its delivery status")
    trace.add_argument("--days", type=_positive, default=7,
                       help="with --recipient: how far back to search (default 7; the logs keep logRetentionDays)")
    trace.add_argument("--hash-key", help="with --recipient: the stack's key, if the outputs do not reveal it")
    trace.add_argument("--lane", help="only this lane")
    _json(trace)
    _max_receives(trace)

    suppression_commands.register(commands, _command)

    console = _command(commands, "console", "the web console for this stack on 127.0.0.1: templates rendered by SES, "
                                            "the message log, test sends, dead letters", _run_console,
                       description="Serve the console (docs/console.md) for this stack on http://127.0.0.1:PORT "
                                   "with your own AWS credentials: templates rendered by SES (TestRenderEmailTemplate), "
                                   "what trace knows of each message, test sends (after a confirmation naming the "
                                   "stack), dead letters and redrive. --print-policy prints the least IAM policy it "
                                   "needs on this stack.")
    console.add_argument("--port", type=int, help="the console's port (default $CONSOLE_PORT, else 8025)")
    console.add_argument("--templates", metavar="FOLDER", help="the templates folder (default: ./templates, else the "
                                                               "package's)")
    console.add_argument("--print-policy", action="store_true",
                         help="print the IAM policy (JSON) an operator needs for the console on this stack, and exit")
    return parser


def _command(commands: Any, name: str, summary: str, run: Callable[[Context], int], **kwargs: Any) -> Any:
    command = commands.add_parser(name, help=summary, description=kwargs.pop("description", summary), epilog=_EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    _stack_options(command, default=argparse.SUPPRESS)  # also accepted after the command
    command.set_defaults(run=run)
    return command


def _stack_options(parser: argparse.ArgumentParser, default: Any) -> None:
    group = parser.add_argument_group("stack")
    group.add_argument("--stack-outputs", metavar="FILE", default=default,
                       help="JSON of `pulumi stack output --json` (--show-secrets for the hash key)")
    group.add_argument("--stack-name", metavar="PREFIX", default=default,
                       help="<project>-<stack>, e.g. email-pipeline-dev (default: from the outputs)")
    group.add_argument("--bus", metavar="NAME_OR_ARN", default=default, help="the event bus")
    group.add_argument("--queue-url", metavar="LANE=URL", action="append", default=default, help="a lane's queue")
    group.add_argument("--dlq-url", metavar="LANE=URL", action="append", default=default,
                       help="a lane's dead-letter queue")
    group.add_argument("--unrouted-url", metavar="URL", default=default, help="the unrouted queue")
    group.add_argument("--table", metavar="NAME", default=default, help="the state table")
    group.add_argument("--endpoint-url", metavar="URL", default=default,
                       help="an emulator (moto, `make serve`: http://127.0.0.1:4566)")
    group.add_argument("--region", default=default, help="default: the stack's (from its ARNs), else AWS_REGION")
    group.add_argument("--local", action="store_true", default=default,
                       help=f"the local emulator of `make serve`: its outputs ({LOCAL_STACK_OUTPUTS}), its endpoint, "
                            "placeholder credentials")


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def _show_addresses(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--show-addresses", action="store_true",
                        help="also print event bodies, which hold recipient addresses")


def _max_receives(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument("--max-receives", type=_positive, default=DEFAULT_MAX_RECEIVES, metavar="N",
                        help=f"{prefix}receives per DLQ when reading it (10 messages each; default "
                             f"{DEFAULT_MAX_RECEIVES}); messages stay in the queue")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not positive")
    return number


# --- commands ------------------------------------------------------------------------------------

def _run_status(context: Context) -> int:
    from . import status

    stack = context.stack()
    document = status.collect(stack, context.aws(stack), max_receives=context.args.max_receives)
    _print(document, context.args.json, status.text)
    return status.exit_status(document)


def _run_dlq_list(context: Context) -> int:
    from . import dlq

    stack = context.stack()
    args = context.args
    document = dlq.collect(stack, context.aws(stack), args.lane, max_receives=args.max_receives,
                           show_addresses=args.show_addresses)
    _print(document, args.json, dlq.list_text)
    return 0


def _run_dlq_show(context: Context) -> int:
    from . import dlq

    stack = context.stack()
    args = context.args
    letter = dlq.find(stack, context.aws(stack), args.message_id, args.lane, max_receives=args.max_receives)
    _print(dlq.show_document(letter, args.show_addresses), args.json, dlq.show_text)
    return 0


def _run_dlq_redrive(context: Context) -> int:
    from . import dlq

    stack = context.stack()
    args = context.args
    [lane] = stack.lane_names(args.lane)
    code = dlq.check_code(args.code)
    aws = context.aws(stack)
    stack.queue_url(lane)  # both queues known before anything moves
    if args.dry_run:
        moved, sample = dlq.dry_run(stack, aws, lane, code, max_receives=args.max_receives)
        print(moved.text(code))
        if not sample.complete:
            print(f"(read {len(sample.letters)} of ~{sample.depth}; --max-receives reads more)")
        return 0
    progress = dlq.Progress()
    try:
        moved = dlq.redrive(stack, aws, lane, code, limit=args.limit, progress=progress.update)
    finally:
        progress.done()
    print(moved.text(code))
    return NOT_FOUND if moved.failed else 0


def _run_replay(context: Context) -> int:
    import datetime as dt

    from . import replay

    args = context.args
    start, end = replay.parse_time("--from", args.start), replay.parse_time("--to", args.end)
    replay.check_window(start, end)
    stack = context.stack()
    aws = context.aws(stack)
    bus = replay.bus_arn(stack, aws)
    archive = args.archive_arn or replay.archive_arn(aws, bus)
    name = args.name or replay.replay_name(start, end, dt.datetime.now(dt.timezone.utc))
    started = replay.start(aws, name=name, archive=archive, bus=bus, start_time=start, end_time=end)
    print(f"replay {name} started ({started.get('State', '?')}): {archive} "
          f"{start.isoformat(timespec='seconds')} .. {end.isoformat(timespec='seconds')} onto {bus}")
    if not args.wait:
        print(f"progress: aws events describe-replay --replay-name {name}")
        return 0
    finished = replay.wait(aws, name, poll_seconds=args.poll_seconds, report=replay.printer(sys.stdout))
    return 0 if finished.get("State") == "COMPLETED" else NOT_FOUND


def _run_templates_check(context: Context) -> int:
    from . import templates

    document = templates.collect(templates.folder(context.args.folder))
    _print(document, context.args.json, templates.text)
    return templates.exit_status(document, not_healthy=NOT_FOUND)


def _run_hash(context: Context) -> int:
    from ses_email_pipeline.handlers.shared import hashing
    from ses_email_pipeline.handlers.shared.hashing import recipient_hash

    key = context.hash_key()
    hashed = hashing.key_hash if context.args.idempotency_key else recipient_hash
    for value in context.args.addresses:
        print(hashed(value, key.encode()))
    return 0


def _run_trace(context: Context) -> int:
    from . import trace

    args = context.args
    if (args.value is None) == (args.recipient is None):
        raise CliError("trace takes a key, an event id or an SES message id, or --recipient ADDRESS",
                       f"give one of them (see `{PROG} trace --help`)")
    if args.recipient is not None:
        return _run_recipient_trace(context)
    stack = context.stack()
    document = trace.collect(stack, context.aws(stack), args.value, args.lane, max_receives=args.max_receives)
    _print(document, args.json, lambda doc: trace.text(args.value, doc))
    return 0 if document["found"] else NOT_FOUND


def _run_recipient_trace(context: Context) -> int:
    from ses_email_pipeline.handlers.shared.hashing import recipient_hash

    from . import recipient_trace

    stack = context.stack()
    hashed = recipient_hash(context.args.recipient, context.hash_key().encode())
    document = recipient_trace.collect(stack, context.aws(stack), hashed, days=context.args.days)
    _print(document, context.args.json, recipient_trace.text)
    return 0 if document["found"] else NOT_FOUND


def _run_console(context: Context) -> int:
    try:
        from ..console import deployed, iam_policy
        from ..console.http_errors import ConsoleError
    except ImportError as exc:
        raise CliError(f"the console is not installed ({exc.name or 'a dependency'} is missing)",
                       'pip install "ses-email-pipeline[console]" (make console installs it)') from None
    from . import templates

    args = context.args
    stack = context.stack()
    outputs = load_outputs(Path(stack.source)) if Path(stack.source).is_file() else {}
    if args.print_policy:
        print(json.dumps(iam_policy.operator_policy(stack, outputs), indent=2))
        return 0
    source = deployed.deployed_source(stack, context.aws(stack), outputs, templates.folder(args.templates))
    port = args.port if args.port is not None else int(os.environ.get("CONSOLE_PORT") or 8025)
    try:
        deployed.serve(source, port)
    except ConsoleError as error:
        raise CliError(error.problem, error.remedy) from None
    except ImportError as exc:
        raise CliError(f"the console is not installed ({exc.name or 'a dependency'} is missing)",
                       'pip install "ses-email-pipeline[console]" (make console installs it)') from None
    except KeyboardInterrupt:
        return 0
    return 0


def _print(document: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    print(json.dumps(document, indent=2, sort_keys=True, default=str) if as_json else text(document))


# --- entry point ---------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status (0, 1 not found/not healthy, 2 usage or AWS error)."""
    try:
        return _main(argv)
    except CliError as error:
        print(error.line(), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; what was moved or started stays so (a replay goes on in EventBridge), "
              "run the command again to carry on", file=sys.stderr)
        return 130
    except SystemExit as exit_:  # --help and --version exit through argparse
        return exit_.code if isinstance(exit_.code, int) else USAGE


def _main(argv: Sequence[str] | None) -> int:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise _missing("botocore") from None
    from .problems import from_aws

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(Context(args)))
    except (ClientError, BotoCoreError) as exc:
        raise from_aws(exc, args.endpoint_url) from None
    except ImportError as exc:
        raise _missing(exc.name or "a dependency") from None


def _missing(module: str) -> CliError:
    return CliError(f"{module} is not installed",
                    "install the tool's dependencies: pip install boto3 (or the repository's requirements.txt)")


if __name__ == "__main__":
    raise SystemExit(main())
