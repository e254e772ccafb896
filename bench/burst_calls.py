"""How the burst benchmark's emulated services answer a call: in real time, one effect at a time.

Every emulated service (bench/burst_ses.py, bench/burst_sqs.py, bench/burst_dynamodb.py) offers
exactly the client methods the handlers call and nothing more: a call the handlers start making
that is missing raises AttributeError, and a request the emulator cannot evaluate raises
`EmulatorGap`, instead of being faked silently (the lane dead-letters the record and logs
`record_failed`, which the benchmark prints).

A call sleeps its service's latency, half before and half after its effect, which runs under the
service's lock, so concurrent instances interleave as they would over the network and a service
judges a request when it arrives. Errors are botocore's `ClientError`, shaped as the handlers' real
clients raise them.
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


def timed(latency: float, lock: threading.Lock, effect: Callable[[], T]) -> T:
    """Run `effect` atomically halfway through a call's latency (the request's arrival).

    Args:
        latency: the call's round trip, in seconds.
        lock: the service's lock: one effect at a time, as one consistent copy of its state.
        effect: what the request does to the service's state; its result is the call's.

    Returns:
        What `effect` returned.
    """
    time.sleep(latency / 2)
    try:
        with lock:
            return effect()
    finally:
        time.sleep(latency / 2)


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
