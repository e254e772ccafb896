"""`email-pipeline suppression list | show | add | remove`: the grammar and what each command prints.

The calls and the wording live in `cli.suppression`; this module reads the arguments, resolves the
stack and its hash key through the command's context (`cli.__main__.Context`), and prints. It
imports nothing that imports boto3, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from typing import Any

from .problems import NOT_FOUND, CliError


def register(commands: Any, command: Callable[..., Any]) -> None:
    """Add the `suppression` commands; `command(subcommands, name, summary, run)` makes one (as `__main__._command`)."""
    suppression = commands.add_parser("suppression", help="SES's account suppression list: why an address gets no "
                                                          "mail, and lifting it")
    subcommands = suppression.add_subparsers(dest="suppression_command", required=True, metavar="COMMAND")
    listing = command(subcommands, "list", "suppressed addresses as hash and domain, with reason and time", run_list)
    listing.add_argument("--reason", action="append", metavar="BOUNCE|COMPLAINT",
                         help="only this reason (repeat for both; default both)")
    listing.add_argument("--since", metavar="ISO", help="only addresses added at or after this time")
    listing.add_argument("--until", metavar="ISO", help="only addresses added at or before this time")
    listing.add_argument("--limit", type=_limit, default=100, help="at most this many (default 100)")
    _output_options(listing)
    show = command(subcommands, "show", "why and since when one address is suppressed, and the message that "
                   "caused it", run_show)
    show.add_argument("address", metavar="ADDRESS")
    _output_options(show)
    add = command(subcommands, "add", "suppress an address, as SES does after a hard bounce or complaint", run_add)
    add.add_argument("address", metavar="ADDRESS")
    add.add_argument("--reason", required=True, metavar="BOUNCE|COMPLAINT")
    remove = command(subcommands, "remove", "lift an address's suppression: SES sends to it again (asks first; an "
                     "audit line without the address goes to stderr)", run_remove)
    remove.add_argument("address", metavar="ADDRESS")
    remove.add_argument("--yes", action="store_true", help="do not ask (for scripts: you have checked the address)")
    remove.add_argument("--hash-key", help="the stack's key for the audit line's hash, if the outputs do not reveal it")


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--show-addresses", action="store_true", help="also print each address")
    parser.add_argument("--hash-key", help="the stack's key, if the outputs do not reveal it")


def _limit(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def _key(context: Any, *, required: bool) -> bytes | None:
    """The stack's hash key; None when it is not required (addresses shown, or an audit line by domain only)."""
    try:
        return str(context.hash_key()).encode()
    except CliError:
        if required:
            raise
        return None


def _print(document: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    print(json.dumps(document, indent=2, sort_keys=True) if as_json else text(document))


def run_list(context: Any) -> int:
    from . import suppression
    from .replay import parse_time

    args = context.args
    reasons = suppression.check_reasons(args.reason)
    since = parse_time("--since", args.since) if args.since else None
    until = parse_time("--until", args.until) if args.until else None
    key = _key(context, required=not args.show_addresses)
    stack = context.stack()
    found, more = suppression.listing(context.aws(stack), reasons=reasons, since=since, until=until, limit=args.limit)
    _print({"reasons": reasons, "more": more,
            "suppressed": [entry.document(key, show_address=args.show_addresses) for entry in found]},
           args.json, suppression.list_text)
    return 0


def run_show(context: Any) -> int:
    from . import suppression

    key = _key(context, required=not context.args.show_addresses)
    stack = context.stack()
    entry = suppression.find(context.aws(stack), context.args.address)
    _print(entry.document(key, show_address=context.args.show_addresses), context.args.json, suppression.show_text)
    return 0


def run_add(context: Any) -> int:
    from . import suppression

    stack = context.stack()
    reason = context.args.reason.upper()
    suppression.add(context.aws(stack), context.args.address, reason)
    print(f"suppressed ({reason}): SES accepts sends to it and sends nothing; their status is suppressed")
    return 0


def run_remove(context: Any) -> int:
    from . import suppression

    args = context.args
    key = _key(context, required=False)
    stack = context.stack()
    aws = context.aws(stack)
    entry = suppression.find(aws, args.address)
    if not args.yes:
        question = (f"Lift the suppression ({entry.reason} since {entry.since:%Y-%m-%d}) of this address? SES will "
                    "send to it again.")
        if not suppression.confirm(question, sys.stdin, sys.stderr):
            print("left as it is", file=sys.stderr)
            return NOT_FOUND
    suppression.remove(aws, args.address)
    print(suppression.audit_line("removed", entry, key, suppression.caller(aws), dt.datetime.now(dt.timezone.utc)),
          file=sys.stderr)
    print("lifted: SES sends to it again")
    return 0
