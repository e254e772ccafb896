"""When each email of a batch may go: slots on the stack's schedule, or a local share without it.

`handlers.scheduling.schedule` books slots on the account-wide schedule. This module adds what a lane
instance needs around it:

- the account's rate, as the send module last read it (`SesSender.send_rate` re-reads GetAccount
  every few minutes), so pacing follows a raised (or lowered) MaxSendRate without a deploy;
- a fallback when the schedule's table fails: the instance paces itself at its lane's fixed share,
  `MaxSendRate x lane share / lane maximum concurrency`. The lanes' shares sum to at most 1, so
  every instance on the fallback together stays within R, and sending never waits for the table.
  The schedule is tried again after `FALLBACK_SECONDS`;
- where in a block each email goes (`slot_offsets`);
- when each email leaves (`BlockBooking`, `Departure`): a block is booked once its emails'
  requests are ready (claimed, built and signed), and each request leaves at its slot, or books a
  new one if it would leave later than the schedule allows.

Booking once the requests are ready is what keeps sends on their slots on a small function: the
work before a send (a DynamoDB claim, botocore building and signing the request) takes CPU, and a
function has a fraction of a vCPU (0.145 at 256 MB; Lambda gives CPU in proportion to memory), so
how long it takes varies from batch to batch; what is left after the slot is booked is a
wake-up. A block booked first and prepared after would have to guess how long to leave for the
work, and every guess short by more than the schedule's 20 ms allowance is a missed slot.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import log
from .schedule import MAX_LATENESS_SECONDS, START_LEAD_SECONDS, Block, ScheduleUnavailable, SendSchedule, slot_interval
from ..shared.settings import Settings

#: How long an instance paces on its own after the schedule failed, before it tries it again.
FALLBACK_SECONDS = 60.0
#: New slots a late send may book before it goes out anyway (late by at most one wake-up).
REBOOKINGS = 3


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
        #: One booking at a time per instance. A batch's chunks get ready, and book, on threads of
        #: their own: racing each other for the horizon, all but one would lose, and each lost
        #: write is billed (at R=1, 7.5 writes per email instead of 1.7; bench/README.md).
        self._booking = threading.Lock()
        self._log = log.get_logger()

    @property
    def urgent(self) -> bool:
        return self._urgent

    def account_rate(self) -> float:
        """The account's send rate in recipients per second, as last read."""
        return self._account_rate()

    def book(self, size: int, latest_start: float) -> Block | None:
        """Book `size` slots, the last starting by `latest_start`; None if it cannot (see `SendSchedule.book`).

        Safe to call from any thread; an instance's bookings are made one after another.
        """
        with self._booking:
            return self._book(size, latest_start)

    def _book(self, size: int, latest_start: float) -> Block | None:
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
            start = max(self._clock() + START_LEAD_SECONDS, self._local_next)  # a lead, as on the schedule
            if start + (size - 1) * interval > latest_start:
                return None
            self._local_next = start + size * interval
        return Block(start, interval, size)


class SlotMissed(Exception):
    """Raised at the last moment by a send that would leave later than the schedule allows; it books anew.

    It is raised from inside the SES client's call (botocore's `before-send`, where the request is
    signed and about to go out), the only way to keep that request off the wire, and the lane
    catches it around that call (`handlers.sending.lane`).
    """


class BlockBooking:
    """One booking for a chunk of a batch's emails, made once their requests are ready.

    Each email's thread calls `slot` when its request is ready (claimed, built, signed) and
    `gone` when it will never be (a duplicate skipped, a claim that failed); once every email of
    the chunk is one or the other, the thread that came last books a block for the ready ones
    (`book`, in the chunk's order, so the chunk's recipient counts lay the block out) and every
    waiting thread gets its slot. With `concurrent` 1 the emails get ready one after another on
    one thread, so the first ready books for every email not gone.

    Args:
        recipients: each email's recipient count, in the chunk's order.
        book: books a block for these recipient counts: each one's slot, or the error that
            explains why none (the lane's `_book`).
        concurrent: how many of the chunk's emails get ready at once.
    """

    def __init__(self, recipients: Sequence[int], book: Callable[[list[int]], list[Any]], concurrent: int) -> None:
        self._recipients, self._book, self._concurrent = list(recipients), book, max(1, concurrent)
        self._ready: set[int] = set()
        self._gone: set[int] = set()
        self._slots: dict[int, Any] | None = None
        self._booking = False
        self._changed = threading.Condition()

    def slot(self, index: int) -> Any:
        """Email `index` is ready: its slot (epoch seconds) once the block is booked, or why there is none."""
        with self._changed:
            self._ready.add(index)
        self._book_if_complete()
        with self._changed:
            self._changed.wait_for(lambda: self._slots is not None)
            assert self._slots is not None
            return self._slots[index]

    def gone(self, index: int) -> None:
        """Email `index` will not be sent at a slot of this block (never ready, or it already took its slot)."""
        with self._changed:
            if index in self._ready:
                return
            self._gone.add(index)
        self._book_if_complete()

    def _book_if_complete(self) -> None:
        with self._changed:
            settled = len(self._ready) + len(self._gone)
            complete = settled == len(self._recipients) or (self._concurrent == 1 and self._ready)
            if self._booking or not complete:
                return
            self._booking = True
            indices = [index for index in range(len(self._recipients)) if index not in self._gone]
        try:
            slots = self._book([self._recipients[index] for index in indices]) if indices else []
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting send; none may wait forever
            slots = [exc] * len(indices)
        with self._changed:
            self._slots = dict(zip(indices, slots))
            self._changed.notify_all()


class Departure:
    """When one email's request goes out: at its slot, and never later than the schedule allows.

    `SesSender` calls `leave` once the request is built and signed, at the last moment before the
    wire: the first time, it announces the request ready and waits for the block's booking
    (`BlockBooking`); then it waits for the slot, and refuses (`SlotMissed`) a departure later than
    `MAX_LATENESS_SECONDS`, which would land beside the next slot's send and could put R + 1 in
    some second. After `REBOOKINGS` new slots it goes anyway (late by one wake-up at most). How late
    it left and how many new slots it needed go on its `email_sent` line.

    Args:
        booking, index: the email's block and its place in it.
        clock, sleep: the lane's.
        may_start: the lane's last check before a send starts (the batch's gate, the time left);
            raises to stop it.
        stopped: whether the batch has stopped (then a late send is not booked again).
    """

    def __init__(self, booking: BlockBooking, index: int, clock: Callable[[], float], sleep: Callable[[float], None],
                 may_start: Callable[[], None], stopped: Callable[[], bool]) -> None:
        self._booking, self._index = booking, index
        self._clock, self._sleep, self._may_start, self._stopped = clock, sleep, may_start, stopped
        self.slot: float | None = None
        self.rebookings, self.late, self.throttled = 0, 0.0, False

    def leave(self) -> None:
        """Wait for the slot; go now if it is not too late (and the batch may still send), else raise `SlotMissed`."""
        if self.slot is None:
            slot = self._booking.slot(self._index)
            if isinstance(slot, BaseException):
                raise slot
            self.slot = slot
        wait = self.slot - self._clock()
        if wait > 0:
            self._sleep(wait)
        self.late = max(0.0, self._clock() - self.slot)
        if self.late > MAX_LATENESS_SECONDS and self.rebookings < REBOOKINGS and not self._stopped():
            raise SlotMissed()
        self._may_start()

    def rebook(self, slot: float) -> None:
        self.slot, self.rebookings = slot, self.rebookings + 1

    def abandon(self) -> None:
        """The email will not take a slot of its block (it ended before its request was ready)."""
        self._booking.gone(self._index)

    def log_fields(self) -> dict[str, Any]:
        """How late the request left against its slot, and how many new slots it needed (throttles included)."""
        return {"slot_late_ms": round(1000 * self.late, 1), "rebookings": self.rebookings}
