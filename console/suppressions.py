"""SES's account-level suppression list in the console: list it, look one address up, lift one.

The calls and the words are the operator tool's (`cli.suppression`: `listing`, `find`, `remove`,
`caller`, `audit_line`), so the page and `email-pipeline suppression` cannot disagree. Addresses
are shown as the stack's keyed recipient hash and domain, as the logs name them, unless the
operator asks for the addresses. Lifting a suppression needs the stack's name typed, as a
redrive does, and writes the operator tool's audit line (who lifted which hash, when, and why it
had been listed: never the address) to the console's terminal.

The list is the account's in the stack's region, not the stack's: another stack in the same
account and region shares it (SES Developer Guide, "Using the Amazon SES account-level
suppression list").
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..cli import suppression
from ..cli.problems import CliError
from ..cli.replay import parse_time
from .http_errors import ConsoleError, bad_request
from .source import ConsoleSource

#: How many the list shows unless asked for more (`email-pipeline suppression list`'s default).
DEFAULT_LIMIT = 100
#: The most one answer holds (one page of ListSuppressedDestinations).
MAX_LIMIT = suppression.PAGE_SIZE
#: Where the audit line goes: the console's terminal, as the operator tool's goes to its stderr.
Audit = Callable[[str], None]


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def listing(source: ConsoleSource, query: Mapping[str, Any]) -> dict[str, Any]:
    """`GET /api/suppressions`: the list, filtered by `reason` (BOUNCE, COMPLAINT; several allowed), `since`,
    `until` (ISO 8601) and capped at `limit`; `addresses=true` shows each address beside its hash.

    Raises:
        ConsoleError: a filter the operator tool refuses (400); the hash key hidden while addresses
            are not shown (400).
    """
    reasons = suppression.check_reasons([r for r in query.get("reasons", []) if r] or None)
    since = _time("since", query.get("since", ""))
    until = _time("until", query.get("until", ""))
    limit = _limit(query.get("limit", ""))
    show = _yes(query.get("addresses", ""))
    key = _key(source, required=not show)
    found, more = suppression.listing(source.aws, reasons=reasons, since=since, until=until, limit=limit)
    return {"stack": source.name, "region": source.aws.region, "reasons": reasons, "limit": limit, "more": more,
            "addresses_shown": show,
            "suppressed": [entry.document(key, show_address=show) for entry in found]}


def lookup(source: ConsoleSource, address: str, *, show_address: bool) -> dict[str, Any]:
    """`GET /api/suppressions/<address>`: why the address is suppressed (reason, since when, the SES message
    and feedback ids SES gives), by hash and domain unless `show_address`.

    Raises:
        ConsoleError: not an address (400), not on the list (404).
    """
    key = _key(source, required=not show_address)
    entry = suppression.find(source.aws, address)
    return {**entry.document(key, show_address=show_address), "region": source.aws.region}


def lift(source: ConsoleSource, body: Mapping[str, Any], *, audit: Audit = _to_stderr,
         now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> dict[str, Any]:
    """`POST /api/suppressions/lift`: `{address, confirm}` (the stack's name): SES sends to the address again.

    The entry is read first, so the audit line says why it had been listed; the line names the
    caller (STS's ARN) and the time, and the address only as its hash and domain.

    Raises:
        ConsoleError: no confirmation naming the stack (409), not an address (400), not on the list (404).
    """
    address = str(body.get("address", "")).strip()
    if str(body.get("confirm", "")).strip() != source.name:
        raise ConsoleError(409, "lifting a suppression needs a confirmation naming the stack",
                           f"type the stack's name, {source.name}, to confirm")
    entry = suppression.find(source.aws, address)
    suppression.remove(source.aws, address)
    line = suppression.audit_line("removed", entry, _key(source, required=False), suppression.caller(source.aws),
                                  now())
    audit(line)
    return {"lifted": True, "reason": entry.reason, "since": entry.document(None, show_address=False)["since"],
            "audit": json.loads(line)}


def _key(source: ConsoleSource, *, required: bool) -> bytes | None:
    """The stack's hash key; None when not required (addresses shown, or an audit line by domain only)."""
    try:
        return source.hash_key()
    except ConsoleError:
        if required:
            raise ConsoleError(400, f"the recipient hash key is not in {source.stack.source}, so addresses "
                                    "cannot be shown as their hash",
                               "export the outputs with `pulumi stack output --json --show-secrets`, or ask to show "
                               "the addresses") from None
        return None


def _time(name: str, value: str) -> dt.datetime | None:
    if not value.strip():
        return None
    try:
        return parse_time(name, value.strip())
    except CliError as error:
        raise bad_request(error.problem, error.remedy) from None


def _limit(value: str) -> int:
    if not str(value).strip():
        return DEFAULT_LIMIT
    if not str(value).strip().isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise bad_request(f"limit {value!r} is not a number from 1 to {MAX_LIMIT}", f"ask for at most {MAX_LIMIT}")
    return int(value)


def _yes(value: str) -> bool:
    return str(value).lower() in ("1", "true", "yes")
