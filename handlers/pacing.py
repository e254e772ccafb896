"""Keep one handler instance within its share of the account's SES send rate.

SES's rate limit is per account and region, shared by every function and every other system that
sends from it. The lane's event source mapping caps how many instances run at once; each instance
then spaces its own sends so that, together, they stay within the lane's share:

    per-instance rate = account MaxSendRate x lane share / lane maximum concurrency

SES counts every recipient as one message against the rate, so a send to five people costs five.
The pacer schedules each send at the earliest moment the budget allows (a virtual-clock token
bucket with no burst), which is the smoothest shape SES's per-second limiter accepts.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Spaces calls so that `cost` units per call never exceed `rate_per_second` on average.

    Args:
        rate_per_second: the instance's budget; must be positive.
        clock: a monotonic clock in seconds (injectable for tests).
        sleep: how to wait (injectable for tests).
    """

    def __init__(
        self,
        rate_per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError(f"rate_per_second must be positive, got {rate_per_second}")
        self.rate_per_second = rate_per_second
        self._clock = clock
        self._sleep = sleep
        self._next_free = clock()

    def next_delay(self) -> float:
        """Seconds the next call would wait (whatever its cost); lets a caller check its deadline first."""
        return max(0.0, self._next_free - self._clock())

    def acquire(self, cost: int) -> None:
        """Wait until a call of `cost` units fits the budget, then book it."""
        now = self._clock()
        start = max(now, self._next_free)
        if start > now:
            self._sleep(start - now)
        self._next_free = start + cost / self.rate_per_second


def instance_rate(account_rate: float, lane_share: float, lane_max_concurrency: int) -> float:
    """The send rate one instance of a lane's function may use (see the module docstring)."""
    return account_rate * lane_share / max(1, lane_max_concurrency)
