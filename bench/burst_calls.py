"""How the burst benchmark's emulated services answer a call: in real time, one effect at a time.

Every emulated service (bench/burst_ses.py, bench/burst_sqs.py, bench/burst_dynamodb.py) offers
exactly the client methods the handlers call and nothing more: a call the handlers start making
that is missing raises AttributeError, and a request the emulator cannot evaluate raises
`EmulatorGap`, instead of being faked silently (the lane dead-letters the record and logs
`record_failed`, which the benchmark prints).

A call sleeps its service's latency, half before and half after its effect, which runs under the
service's lock, so concurrent instances interleave as they would over the network and a service
judges a request when it arrives: half its latency after it left the instance (`received`, set by
bench/burst_rpc.py when the request comes in), whenever this machine's busy scheduler lets the
effect run. A network whose latency is constant delivers requests in the order and at the spacing
they left; the bench's own wake-ups, late on a loaded machine, must not reorder or bunch them.
Errors are botocore's `ClientError`, shaped as the handlers' real clients raise them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")


class EmulatorGap(Exception):
    """The handlers made a request this emulator does not implement: extend it, do not trust the run."""


_CALL = threading.local()


def received(at: float | None) -> None:
    """The request this thread handles next left its instance at `at` (`time.monotonic`); None: now."""
    _CALL.received = at


def now() -> float:
    """The time at which the request being handled on this thread reaches its service (see `timed`)."""
    at = getattr(_CALL, "arrives", None)
    return time.monotonic() if at is None else float(at)


def timed(latency: float, lock: threading.Lock, effect: Callable[[], T]) -> T:
    """Run `effect` atomically halfway through a call's latency (the request's arrival).

    The arrival is half the latency after the request left its instance (`received`), or after
    this call began; `now()` gives it to the effect, so a service judges the request at the
    moment it arrives even if this thread woke late.

    Args:
        latency: the call's round trip, in seconds.
        lock: the service's lock: one effect at a time, as one consistent copy of its state.
        effect: what the request does to the service's state; its result is the call's.

    Returns:
        What `effect` returned.
    """
    left = getattr(_CALL, "received", None)
    arrives = (time.monotonic() if left is None else left) + latency / 2
    time.sleep(max(0.0, arrives - time.monotonic()))
    try:
        with lock:
            _CALL.arrives = arrives
            try:
                return effect()
            finally:
                _CALL.arrives = None
    finally:
        time.sleep(max(0.0, arrives + latency / 2 - time.monotonic()))


def client_error(code: str, status: int, operation: str, message: str = "", **extra: Any) -> ClientError:
    """A botocore-shaped ClientError, as the handlers' real clients raise them.

    Args:
        code: the error code (`ValidationException`, `TooManyRequestsException`, ...).
        status: the HTTP status the service answers with.
        operation: the API operation's name, as botocore names it in the error's message.
        message: the service's message; the code when not given.
        **extra: further top-level response fields (DynamoDB's `Item` on a failed condition).

    Returns:
        The error, to raise.
    """
    response = {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status},
                **extra}
    return ClientError(response, operation)  # type: ignore[arg-type]
