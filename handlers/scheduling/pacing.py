"""When each email of a batch may go: slots on the stack's schedule, or a local share without it.

`handlers.scheduling.schedule` books slots on the account-wide schedule. This module adds what a lane
instance needs around it:

- the account's rate, as the send module last read it (`SesSender.send_rate` re-reads GetAccount
  every few minutes), so pacing follows a raised (or lowered) MaxSendRate without a deploy;
- a fallback when the schedule's table fails: the instance paces itself at its lane's fixed share,
  `MaxSendRate x lane share / lane maximum concurrency`. The lanes' shares sum to at most 1, so
  every instance on the fallback together stays within R, and sending never waits for the table.
  The schedule is tried again after `FALLBACK_SECONDS`;
- where in a block each email goes (`slot_offsets`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence

from .. import log
from .schedule import START_LEAD_SECONDS, Block, ScheduleUnavailable, SendSchedule, slot_interval
from ..shared.settings import Settings

#: How long an instance paces on its own after the schedule failed, before it tries it again.
FALLBACK_SECONDS = 60.0


def slot_offsets(recipients: Sequence[int], rate_per_second: float) -> tuple[int, list[int]]:
    """Slots to book for emails with these recipient counts, and the slot each email is sent at.

    SES counts all of a send's recipients at the moment it arrives, so a send of k recipients
    needs room in the second before it. With slots of 1.02/R and sends at their first slot, the
    others in the second before a send fill at most the slots of that second that are not empty,
    at most ceil(R/1.02) - 1 - gap; so a gap of k - 1 free slots before it keeps the second at R,
    whoever (another instance, perhaps) sent before. A run of equal sends needs less: n sends of k
    in any second are at most R when they are 1.02/floor(R/k) seconds apart, so each one after
    the first is spaced that far from the one before.
    """
    offsets, size, previous = [], 0, 0
    for count in recipients:
        if count == previous and count > 1:
            size += _run_spacing(count, rate_per_second) - count
        else:
            size += count - 1
        offsets.append(size)
        size += count
        previous = count
    return size, offsets


def _run_spacing(count: int, rate_per_second: float) -> int:
    """Slots from one send of `count` recipients to the next in a run of them (see `slot_offsets`)."""
    per_second = max(1, math.floor(rate_per_second / count))
    return max(count, math.ceil(rate_per_second / per_second - 1e-9))


def fallback_share(settings: Settings) -> float:
    """The share of the account's rate one instance of the lane uses without the schedule.

    The lanes' shares sum to at most 1, and each lane's is split across its instances, so all
    instances on the fallback together stay within R.
    """
    return settings.lane_rate_share / max(1, settings.lane_max_concurrency)


class Pacing:
    """Books send slots for one lane instance.

    Args:
        schedule: the stack's schedule.
        account_rate: the account's MaxSendRate now (cached and refreshed by the caller).
        fallback_share: the share of the account's rate this instance uses without the schedule.
        urgent: the lane books at once, ahead of the horizon (the priority lane).
        clock: epoch seconds, the same clock as the schedule's.
    """

    def __init__(
        self,
        schedule: SendSchedule,
        account_rate: Callable[[], float],
        fallback_share: float,
        *,
        urgent: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._schedule = schedule
        self._account_rate = account_rate
        self._fallback_share = fallback_share
        self._urgent = urgent
        self._clock = clock
        self._fallback_until = 0.0
        self._local_next = 0.0
        self._local_lock = threading.Lock()  # a late or throttled send rebooks from its own thread
        self._log = log.get_logger()

    @property
    def urgent(self) -> bool:
        return self._urgent

    def account_rate(self) -> float:
        """The account's send rate in recipients per second, as last read."""
        return self._account_rate()

    def book(self, size: int, latest_start: float) -> Block | None:
        """Book `size` slots, the last starting by `latest_start`; None if it cannot (see `SendSchedule.book`)."""
        rate = self._account_rate()
        now = self._clock()
        if now >= self._fallback_until:
            try:
                return self._schedule.book(size, rate, urgent=self._urgent, latest_start=latest_start)
            except Exception as exc:  # noqa: BLE001 - sending must never stop for the coordinator
                # ScheduleUnavailable is the expected case; anything else (an answer of a shape
                # nobody foresaw) is treated the same way rather than failing the batch.
                code = exc.code if isinstance(exc, ScheduleUnavailable) else type(exc).__name__
                self._log.warning(log.SEND_SCHEDULE_UNAVAILABLE, error_code=code, retry_in_seconds=int(FALLBACK_SECONDS))
                self._fallback_until = now + FALLBACK_SECONDS
        return self._book_locally(size, rate * self._fallback_share, latest_start)

    def _book_locally(self, size: int, rate: float, latest_start: float) -> Block | None:
        interval = slot_interval(rate)
        with self._local_lock:
            start = max(self._clock() + START_LEAD_SECONDS, self._local_next)  # claims first, as on the schedule
            if start + (size - 1) * interval > latest_start:
                return None
            self._local_next = start + size * interval
        return Block(start, interval, size)
