"""The burst benchmark's SES v2: an account's send rate, enforced per sliding second, and its record of sends.

Offers what the lanes call (`get_account`, `send_email`), in real time (bench/burst_calls.py).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.burst_calls import client_error, now, timed

SES_SEND_LATENCY = 0.100
SES_GET_ACCOUNT_LATENCY = 0.050
#: The SendEmail tag that carries the event id: the request has no other trace of it.
EVENT_TAG = "bench_event"
_RECIPIENT_FIELDS = ("ToAddresses", "CcAddresses", "BccAddresses")


@dataclass(frozen=True)
class Sent:
    """One send SES accepted."""

    at: float
    lane: str
    event_id: str
    recipients: int


@dataclass
class FakeSes:
    """SES v2 at `max_send_rate` recipients per second, behind the handlers' SES client.

    A send is refused with 429 `TooManyRequestsException` when accepting it would put more than
    the rate in the sliding second before it. A send with more recipients than the rate (an alert
    at R=1) would never fit: as SES does, it is accepted when nothing else is in the window, and
    its recipients then count for recipients/rate seconds instead of one.

    `send_email` is one attempt, as the handlers' client makes (`handlers.aws.SES_CONFIG`):
    the one retry of a send SES cannot have acted on is `SesSender.send`'s, and a 429 is the
    lane's to retry at a booked slot. Each 429 is counted.
    """

    max_send_rate: float
    clock: Callable[[], float] = now
    sent: list[Sent] = field(default_factory=list)
    throttles: int = 0
    _window: list[tuple[float, float, int]] = field(default_factory=list)  # (arrived, counts until, recipients)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def get_account(self) -> dict[str, Any]:
        """GetAccount: the rate the pacing is sized from."""
        quota = {"MaxSendRate": float(self.max_send_rate), "Max24HourSend": 1e9, "SentLast24Hours": 0.0}
        return timed(SES_GET_ACCOUNT_LATENCY, self._lock, lambda: {"SendQuota": quota, "SendingEnabled": True})

    def send_email(self, **request: Any) -> dict[str, Any]:
        """SendEmail: one attempt (see the class docstring).

        Raises:
            ClientError: TooManyRequestsException (429) above the rate.
        """
        return timed(SES_SEND_LATENCY, self._lock, lambda: self._accept(request))

    def _accept(self, request: Mapping[str, Any]) -> dict[str, Any]:
        now = self.clock()
        cost = sum(len(request["Destination"].get(key, ())) for key in _RECIPIENT_FIELDS)
        # Kept a second longer than they count: requests are judged at their arrival, which may
        # be a little before the one judged last (their threads took the lock in another order).
        self._window = [entry for entry in self._window if entry[1] > now - 1]
        in_window = sum(used for arrived, until, used in self._window if arrived <= now < until)
        if in_window + cost > self.max_send_rate and (in_window or cost <= self.max_send_rate):
            self.throttles += 1
            raise client_error("TooManyRequestsException", 429, "SendEmail")
        self._window.append((now, now + max(1.0, cost / self.max_send_rate), cost))
        tags = {tag["Name"]: tag["Value"] for tag in request.get("EmailTags", ())}
        self.sent.append(Sent(now, tags.get("lane", ""), tags.get(EVENT_TAG, ""), cost))
        return {"MessageId": f"bench-{next(self._ids):07d}"}
