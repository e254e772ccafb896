"""One send schedule for the whole stack: every instance of every lane books its sends on it.

SES limits the account to R recipients per second (`MaxSendRate`), whoever sends. Instances that
pace themselves alone cannot share R fairly (a fixed share per lane wastes what an idle lane
leaves) and cannot keep a common phase (together they go over R in some seconds, and SES
answers 429). So the stack keeps one virtual schedule, a GCRA: one DynamoDB item in the
state table (`<stack>#send-schedule`) whose `next_free` is the epoch second from which the
send rate is still unbooked. Booking n recipients takes the block [start, start + n x interval):

- schedule busy (`next_free` ahead of now): `SET next_free = next_free + :length`. DynamoDB applies
  it atomically, so concurrent bookers never conflict, and `ReturnValues=UPDATED_OLD` gives the
  block's start;
- schedule idle (`next_free` behind now, or no item yet): `SET next_free = :end` on condition it
  is still idle; the block starts now.

A booking whose form does not match the item's state fails its condition and gets the item back
(`ReturnValuesOnConditionCheckFailure=ALL_OLD`), so the retry needs no read. A failed conditional
write still costs a write unit, but conflicts only happen when the schedule turns idle or busy.

Alerts first: a lane that is not urgent books only while `next_free` is within `HORIZON_SECONDS`
of now, and at most `HORIZON_SECONDS` of slots at a time; beyond that it waits without writing.
An urgent lane books at once. So an alert waits for at most about two horizons of ordinary mail,
then its own slots, whatever the backlog; and any lane may use whatever the others leave idle.

If the table cannot be reached, `book` raises `ScheduleUnavailable` and the instance falls back to
its lane's local share (`handlers.scheduling.pacing.Pacing`): sending never stops for the coordinator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from ..shared import table_keys

#: How far ahead of now a lane that is not urgent may book, and how much it books at once.
HORIZON_SECONDS = 0.5
#: Slots are this much longer than 1/R, so that a send that leaves up to this much late (thread
#: wake-up, network) still never makes a one-second window hold more than R.
JITTER_ALLOWANCE = 0.02
#: A send later than this after its slot could make a window hold more than R (slots are 2% longer
#: than 1/R: 20 ms in every second); the lane books it a new slot instead (`handlers.sending.lane`).
MAX_LATENESS_SECONDS = JITTER_ALLOWANCE * 1.0
#: A block starts this far ahead of its booking: its requests are ready (claimed, built and signed:
#: `handlers.scheduling.pacing.BlockBooking`), and what comes between is the booking's answer and
#: each send's thread waking up, on a fraction of a vCPU; a slot that passed meanwhile would send late.
START_LEAD_SECONDS = 0.1
#: No booking is legitimately further ahead than Lambda's longest timeout (900 s): no instance
#: books past its own deadline. A `next_free` beyond this came from a skewed clock or a bug, and
#: is reset instead of stalling every lane behind it.
STALE_AHEAD_SECONDS = 900.0
#: Digits kept after the decimal point of an epoch second: microseconds.
_PLACES = Decimal("0.000001")
#: Failed writes in a row (with no wait for the horizon between them) one booking may take before
#: the instance paces on its own. A failed write is not an error: it returns where the schedule
#: is; only a schedule that keeps changing under every attempt ends the loop. Waits for the
#: horizon are bounded by the invocation's deadline instead (`latest_start`).
_MAX_CONFLICTS = 20


class ScheduleUnavailable(Exception):
    """The schedule's table could not be read or written; the caller paces on its own."""

    def __init__(self, code: str) -> None:
        super().__init__(f"send schedule unavailable ({code})")
        self.code = code


class Block(NamedTuple):
    """Consecutive send slots booked for one instance.

    Attributes:
        start: epoch second of the first slot.
        interval: seconds per recipient.
        size: recipients booked.
    """

    start: float
    interval: float
    size: int

    @property
    def end(self) -> float:
        return self.start + self.size * self.interval


def slot_interval(rate_per_second: float) -> float:
    """Seconds one recipient takes of the account's rate, with the jitter allowance."""
    return (1 + JITTER_ALLOWANCE) / rate_per_second


def horizon_slots(rate_per_second: float) -> int:
    """How many recipients a lane that is not urgent books at once (at least one)."""
    return max(1, math.floor(HORIZON_SECONDS / slot_interval(rate_per_second)))


class SendSchedule:
    """Books blocks of send slots on the stack's schedule item.

    Args:
        table_name: the state table (partition key `id`).
        stack: the stack's name; the item is `<stack>#send-schedule`.
        dynamodb_client: the handlers' DynamoDB client.
        clock: epoch seconds; every instance's clock must agree (Lambda's hosts keep time with
            the Amazon Time Sync Service, to well under a millisecond).
        sleep: how to wait while the schedule is beyond the horizon (injectable for tests).
    """

    def __init__(
        self,
        table_name: str,
        stack: str,
        dynamodb_client: Any,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table_name
        self._key = {"id": {"S": table_keys.schedule_id(stack)}}
        self._dynamodb = dynamodb_client
        self._clock = clock
        self._sleep = sleep
        # The last `next_free` this instance read, as DynamoDB wrote it. Only a hint for which write
        # to try first (a send thread may rebook while the batch's thread books): a stale value
        # costs one failed write, which returns the current one.
        self._seen: str | None = None

    def book(self, size: int, rate_per_second: float, *, urgent: bool, latest_start: float) -> Block | None:
        """Book `size` consecutive recipient slots, waiting for the horizon if not urgent.

        Args:
            size: recipients to book, at least one.
            rate_per_second: the account's MaxSendRate as this instance last read it.
            urgent: book at once, however far ahead the schedule is (the priority lane).
            latest_start: the block's last slot must start by then (the invocation's deadline
                less the time a send needs); past it the caller cannot use the slots.

        Returns:
            The block, or None if its last slot cannot start by `latest_start`.

        Raises:
            ScheduleUnavailable: DynamoDB failed, or the item changed under every attempt;
                nothing was booked.
        """
        interval = slot_interval(rate_per_second)
        length = size * interval
        latest = latest_start - (length - interval)  # the latest the block may start
        conflicts = 0
        while conflicts < _MAX_CONFLICTS:
            now = self._clock() + START_LEAD_SECONDS  # the earliest a slot can be used
            seen_raw = self._seen  # read once: a send thread may rebook meanwhile
            seen = None if seen_raw is None else float(seen_raw)
            if seen is None or seen < now or seen > now + STALE_AHEAD_SECONDS:
                if now > latest:
                    return None  # no write: a block it cannot use would hold up every lane
                start = self._book_idle(now, length) if seen_raw is None or seen < now \
                    else self._reset(now, length, seen_raw)
            else:
                # Not urgent: wait, without writing, until the schedule is within the horizon.
                wait = 0.0 if urgent else seen - HORIZON_SECONDS - now
                if max(now + wait, seen) > latest:
                    return None
                if wait > 0:
                    self._sleep(wait)
                    now = self._clock() + START_LEAD_SECONDS
                    conflicts = 0  # waiting for the horizon is not contention; time bounds it
                limit = latest if urgent else min(latest, now + HORIZON_SECONDS)
                start = self._book_busy(now, length, limit)
            if start is not None:
                return Block(start, interval, size) if start <= latest else None
            conflicts += 1
        raise ScheduleUnavailable("ScheduleContended")

    def _book_idle(self, now: float, length: float) -> float | None:
        """Start a block now, if the schedule is still idle (or has never been used)."""
        end = _number(now + length)
        if self._update("SET next_free = :end", "attribute_not_exists(next_free) OR next_free < :now",
                        {":end": end, ":now": _number(now)}) is None:
            return None
        self._seen = end["N"]
        return now

    def _reset(self, now: float, length: float, seen: str) -> float | None:
        """Replace a `next_free` too far ahead to be real (see STALE_AHEAD_SECONDS)."""
        end = _number(now + length)
        if self._update("SET next_free = :end", "next_free = :seen", {":end": end, ":seen": {"N": seen}}) is None:
            return None
        self._seen = end["N"]
        return now

    def _book_busy(self, now: float, length: float, limit: float) -> float | None:
        """Append a block to a busy schedule whose end is no later than `limit`."""
        step = _number(length)
        response = self._update("SET next_free = next_free + :length", "next_free >= :now AND next_free <= :limit",
                                {":length": step, ":now": _number(now), ":limit": _number(limit)},
                                ReturnValues="UPDATED_OLD")
        if response is None:
            return None
        old = response["Attributes"]["next_free"]["N"]
        self._seen = str(Decimal(old) + Decimal(step["N"]))
        return float(old)

    def _update(self, update: str, condition: str, values: dict[str, dict[str, str]],
                **extra: str) -> dict[str, Any] | None:
        """One conditional UpdateItem; None when the condition failed (the item's state is then known)."""
        try:
            return dict(self._dynamodb.update_item(
                TableName=self._table, Key=self._key, UpdateExpression=update, ConditionExpression=condition,
                ExpressionAttributeValues=values, ReturnValuesOnConditionCheckFailure="ALL_OLD", **extra,
            ))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code != "ConditionalCheckFailedException":
                raise ScheduleUnavailable(code) from exc
            self._seen = exc.response.get("Item", {}).get("next_free", {}).get("N")
            return None
        except BotoCoreError as exc:
            raise ScheduleUnavailable(type(exc).__name__) from exc


def _number(seconds: float) -> dict[str, str]:
    """A DynamoDB number with microsecond precision (exact decimal arithmetic on the server)."""
    return {"N": str(Decimal(repr(seconds)).quantize(_PLACES))}
