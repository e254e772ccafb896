"""`email-pipeline suppression`: SES's account-level suppression list, read and lifted without raw API calls.

SES adds an address to the account's list (in the region) when a message to it hard-bounces or
draws a complaint (the configuration set suppresses both reasons), and from then on accepts sends
to it without sending: the delivery status is `suppressed`. A support person whose customer fixed
their mailbox lifts it with `remove`. The calls are sesv2's `ListSuppressedDestinations`,
`GetSuppressedDestination`, `PutSuppressedDestination` and `DeleteSuppressedDestination` (botocore's
sesv2 model): an operator's role needs exactly those four `ses:` actions (README, "Suppressions").

Addresses are shown as the stack's keyed recipient hash and domain, as the logs name them
(`--show-addresses` adds the address). Lifting a suppression is asked for again (or `--yes`), and
an audit line says who lifted which hash, when, and why it had been suppressed: never the address.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from ..handlers.shared.hashing import recipient_hash
from .problems import CliError, not_found

if TYPE_CHECKING:
    from .session import Aws

REASONS = ("BOUNCE", "COMPLAINT")
#: ListSuppressedDestinations' largest page (botocore's sesv2 model: `PageSize` defaults to 1000).
PAGE_SIZE = 1000
_WHEN = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Suppressed:
    """One address on the list: why, since when, and (when SES added it) the message and report behind it."""

    address: str
    reason: str
    since: dt.datetime
    ses_message_id: str = ""
    feedback_id: str = ""

    @classmethod
    def from_ses(cls, item: dict[str, Any]) -> Suppressed:
        attributes = item.get("Attributes") or {}
        return cls(address=str(item["EmailAddress"]), reason=str(item["Reason"]), since=_utc(item["LastUpdateTime"]),
                   ses_message_id=str(attributes.get("MessageId", "")), feedback_id=str(attributes.get("FeedbackId", "")))

    def document(self, key: bytes | None, *, show_address: bool) -> dict[str, Any]:
        """What the tool prints: the keyed hash and domain, the address only when asked for."""
        recipient: dict[str, Any] = {"domain": self.address.rpartition("@")[2].lower()}
        if key is not None:
            recipient["hash"] = recipient_hash(self.address, key)
        if show_address:
            recipient["address"] = self.address
        found: dict[str, Any] = {"recipient": recipient, "reason": self.reason, "since": self.since.strftime(_WHEN)}
        if self.ses_message_id:
            found["sesMessageId"] = self.ses_message_id
        if self.feedback_id:
            found["feedbackId"] = self.feedback_id
        return found


def check_reasons(reasons: Sequence[str] | None) -> list[str]:
    """The reasons to filter by, upper-cased; all of them when none is given."""
    chosen = [reason.upper() for reason in reasons or REASONS]
    unknown = sorted(set(chosen) - set(REASONS))
    if unknown:
        raise CliError(f"--reason {', '.join(unknown)} is not a suppression reason", f"use {' or '.join(REASONS)}")
    return chosen


def listing(aws: Aws, *, reasons: Sequence[str], since: dt.datetime | None, until: dt.datetime | None,
            limit: int) -> tuple[list[Suppressed], bool]:
    """Up to `limit` suppressed addresses, and whether there are more."""
    ses = aws.client("sesv2")
    request: dict[str, Any] = {"Reasons": list(reasons), "PageSize": min(PAGE_SIZE, limit)}
    if since is not None:
        request["StartDate"] = since
    if until is not None:
        request["EndDate"] = until
    found: list[Suppressed] = []
    while True:
        page = _call(lambda: ses.list_suppressed_destinations(**request))
        found += [Suppressed.from_ses(item) for item in page.get("SuppressedDestinationSummaries", [])]
        token = page.get("NextToken")
        if not token or len(found) >= limit:
            return found[:limit], bool(token) or len(found) > limit
        request["NextToken"] = token


def find(aws: Aws, address: str) -> Suppressed:
    """The list's entry for `address`.

    Raises:
        CliError: not on the list (exit status 1), or the call failed.
    """
    _check_address(address)
    ses = aws.client("sesv2")
    response = _call(lambda: ses.get_suppressed_destination(EmailAddress=address), missing=_not_listed)
    return Suppressed.from_ses(response["SuppressedDestination"])


def add(aws: Aws, address: str, reason: str) -> None:
    """Put `address` on the list, as SES would after a hard bounce or complaint."""
    _check_address(address)
    [reason] = check_reasons([reason])
    ses = aws.client("sesv2")
    _call(lambda: ses.put_suppressed_destination(EmailAddress=address, Reason=reason))


def remove(aws: Aws, address: str) -> None:
    """Lift the suppression of `address`: SES sends to it again."""
    ses = aws.client("sesv2")
    _call(lambda: ses.delete_suppressed_destination(EmailAddress=address), missing=_not_listed)


def caller(aws: Aws) -> str:
    """Who is calling (STS GetCallerIdentity's ARN), for the audit line; "unknown" when STS cannot say."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return str(aws.client("sts").get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError):
        return "unknown"


def audit_line(action: str, entry: Suppressed, key: bytes | None, by: str, now: dt.datetime) -> str:
    """The JSON line written for a change: what, which hash and domain, why it had been listed, who, when."""
    recipient = entry.document(key, show_address=False)["recipient"]
    return json.dumps({"event": f"suppression_{action}", "recipient_hash": recipient.get("hash"),
                       "recipient_domain": recipient["domain"], "reason": entry.reason,
                       "listed_since": entry.since.strftime(_WHEN), "by": by, "at": now.strftime(_WHEN)},
                      sort_keys=True)


def confirm(question: str, stdin: TextIO, stderr: TextIO) -> bool:
    """Ask on stderr, read y/yes from stdin; a closed or non-interactive stdin is a refusal to guess."""
    if not stdin.isatty():
        raise CliError("removing a suppression needs a confirmation and stdin is not a terminal",
                       "pass --yes once you are sure the address should receive mail again")
    stderr.write(f"{question} [y/N] ")
    stderr.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def list_text(document: dict[str, Any]) -> str:
    entries = document["suppressed"]
    lines = [f"{len(entries)} suppressed address{'es' if len(entries) != 1 else ''} "
             f"({', '.join(document['reasons'])}){' (more: raise --limit)' if document['more'] else ''}"]
    for entry in entries:
        recipient = entry["recipient"]
        who = recipient.get("address") or recipient.get("hash", "")
        lines.append(f"  {who:<34} {recipient['domain']:<24} {entry['reason']:<9} since {entry['since']}")
    return "\n".join(lines)


def show_text(document: dict[str, Any]) -> str:
    recipient = document["recipient"]
    lines = [f"{recipient.get('address') or recipient.get('hash')} ({recipient['domain']}) is suppressed: "
             f"{document['reason']} since {document['since']}"]
    if document.get("sesMessageId"):
        lines.append(f"  after message {document['sesMessageId']} (email-pipeline trace {document['sesMessageId']})")
    lines.append("  lift it: email-pipeline suppression remove ADDRESS")
    return "\n".join(lines)


def _check_address(address: str) -> None:
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        raise CliError("ADDRESS is not an email address", "give the whole address, e.g. someone@example.com")


def _not_listed() -> CliError:
    return not_found("that address is not on the account's suppression list",
                     "nothing to lift: SES sends to it (check the region: the list is per region)")


def _call(call: Callable[[], Any], missing: Callable[[], CliError] | None = None) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    from .problems import from_aws

    try:
        return call()
    except ClientError as exc:
        if missing is not None and exc.response.get("Error", {}).get("Code") == "NotFoundException":
            raise missing() from None
        raise from_aws(exc) from None
    except BotoCoreError as exc:
        raise from_aws(exc) from None


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc)
    return dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
