"""What SES v2 does that moto 5.2 does not: the account-level suppression list, one contact list per account.

moto's sesv2 server routes every `/v2/...` request to `SESV2Response`, which answers the
operations it has a method for. `install()` gives it the four suppression-list operations
(`PutSuppressedDestination`, `GetSuppressedDestination`, `DeleteSuppressedDestination`,
`ListSuppressedDestinations`), so the operator tool and the emulated SES call the emulator exactly
as they call SES, through botocore; and it holds `CreateContactList` to SES's quota.

What SES does, and so the emulator (SES API v2 Reference for each operation; SES Developer Guide,
"Using the Amazon SES account-level suppression list"):
- the list is the account's in the region; an address is on it once, with a reason (`BOUNCE` or
  `COMPLAINT`) and the time it was added or last changed; adding it again replaces both;
- `Get` and `Delete` of an address not on the list answer `NotFoundException`;
- `List` filters by reasons and by the time an address was added (`StartDate`, `EndDate`), and
  pages (`PageSize`, at most 1000; `NextToken`);
- addresses compare without regard to case (mailbox providers do; SES's console searches so).
- "Only one contact list is allowed per AWS account" (SES Developer Guide, "Using list
  management"): a second `CreateContactList` is refused with `LimitExceededException`.

The state lives on moto's backend object, so `/moto-api/reset` empties it with everything else.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from moto.core.exceptions import JsonRESTError
from moto.sesv2 import urls
from moto.sesv2.models import SESV2Backend
from moto.sesv2.responses import SESV2Response

REASONS = ("BOUNCE", "COMPLAINT")
#: ListSuppressedDestinations' `PageSize` at most (botocore's sesv2 model documents the default as 1000).
MAX_PAGE_SIZE = 1000


@dataclass
class SuppressedDestination:
    address: str
    reason: str
    last_update: dt.datetime
    message_id: str = ""
    feedback_id: str = ""

    def summary(self) -> dict[str, Any]:
        return {"EmailAddress": self.address, "Reason": self.reason, "LastUpdateTime": self.last_update.timestamp()}

    def full(self) -> dict[str, Any]:
        attributes = {k: v for k, v in (("MessageId", self.message_id), ("FeedbackId", self.feedback_id)) if v}
        return {**self.summary(), **({"Attributes": attributes} if attributes else {})}


class _BadRequest(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("BadRequestException", message)


class _NotFound(JsonRESTError):
    code = 404

    def __init__(self, message: str) -> None:
        super().__init__("NotFoundException", message)


class _LimitExceeded(JsonRESTError):
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("LimitExceededException", message)


def suppression_list(backend: SESV2Backend) -> dict[str, SuppressedDestination]:
    """The account's list in the backend's region: lower-cased address -> entry."""
    return backend.__dict__.setdefault("_local_suppression_list", {})


def suppress(backend: SESV2Backend, address: str, reason: str, *, message_id: str = "", feedback_id: str = "",
             at: dt.datetime | None = None) -> SuppressedDestination:
    """Put `address` on the list (what `PutSuppressedDestination` and SES's own additions do)."""
    if reason not in REASONS:
        raise _BadRequest(f"Reason must be one of {', '.join(REASONS)}")
    entry = SuppressedDestination(address.strip(), reason, at or dt.datetime.now(dt.timezone.utc), message_id,
                                  feedback_id)
    suppression_list(backend)[entry.address.lower()] = entry
    return entry


def _put(self: SESV2Response) -> str:
    body = json.loads(self.body or "{}")
    address, reason = body.get("EmailAddress"), body.get("Reason")
    if not isinstance(address, str) or "@" not in address:
        raise _BadRequest("EmailAddress must be an email address")
    suppress(self.sesv2_backend, address, str(reason))
    return "{}"


def _path_address(self: SESV2Response) -> str:
    return unquote(self.path.rstrip("/").rsplit("/", 1)[-1])


def _get(self: SESV2Response) -> str:
    address = _path_address(self)
    entry = suppression_list(self.sesv2_backend).get(address.lower())
    if entry is None:
        raise _NotFound(f"Email address {address} does not exist on your suppression list.")
    return json.dumps({"SuppressedDestination": entry.full()})


def _delete(self: SESV2Response) -> str:
    address = _path_address(self)
    if suppression_list(self.sesv2_backend).pop(address.lower(), None) is None:
        raise _NotFound(f"Email address {address} does not exist on your suppression list.")
    return "{}"


def _list(self: SESV2Response) -> str:
    reasons = self.querystring.get("Reason") or list(REASONS)
    if any(r not in REASONS for r in reasons):
        raise _BadRequest(f"Reason must be one of {', '.join(REASONS)}")
    start, end = _time(self, "StartDate"), _time(self, "EndDate")
    page_size = int((self.querystring.get("PageSize") or [MAX_PAGE_SIZE])[0])
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise _BadRequest(f"PageSize must be between 1 and {MAX_PAGE_SIZE}")
    token = (self.querystring.get("NextToken") or ["0"])[0]
    if not token.isdigit():
        raise JsonRESTError("InvalidNextTokenException", "The NextToken is not valid.")
    matching = [entry for entry in sorted(suppression_list(self.sesv2_backend).values(),
                                          key=lambda e: (e.last_update, e.address.lower()))
                if entry.reason in reasons and (start is None or entry.last_update >= start)
                and (end is None or entry.last_update <= end)]
    offset = int(token)
    page = matching[offset:offset + page_size]
    response: dict[str, Any] = {"SuppressedDestinationSummaries": [entry.summary() for entry in page]}
    if offset + page_size < len(matching):
        response["NextToken"] = str(offset + page_size)
    return json.dumps(response)


def _time(self: SESV2Response, name: str) -> dt.datetime | None:
    """A query-string time as botocore sends it (ISO 8601 for rest-json query strings; epoch seconds tolerated)."""
    raw = (self.querystring.get(name) or [None])[0]
    if raw is None:
        return None
    try:
        return dt.datetime.fromtimestamp(float(raw), dt.timezone.utc)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _BadRequest(f"{name} must be a time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


_moto_create_contact_list = SESV2Response.create_contact_list


def _create_contact_list(self: SESV2Response) -> str:
    if self.sesv2_backend.core_backend.contacts_lists:
        raise _LimitExceeded("Only one contact list is allowed per AWS account.")
    return _moto_create_contact_list(self)


def install() -> None:
    """Give moto's SES v2 what this module adds (idempotent; call before the server takes requests)."""
    SESV2Response.put_suppressed_destination = _put  # type: ignore[attr-defined]
    SESV2Response.get_suppressed_destination = _get  # type: ignore[attr-defined]
    SESV2Response.delete_suppressed_destination = _delete  # type: ignore[attr-defined]
    SESV2Response.list_suppressed_destinations = _list  # type: ignore[attr-defined]
    SESV2Response.create_contact_list = _create_contact_list  # type: ignore[method-assign]
    # moto's catch-all `/v2/.*` is a literal path to Flask: each new path is routed by name.
    urls.url_paths.setdefault("{0}/v2/email/suppression/addresses$", SESV2Response.dispatch)
    urls.url_paths.setdefault("{0}/v2/email/suppression/addresses/(?P<EmailAddress>[^/]+)$", SESV2Response.dispatch)
