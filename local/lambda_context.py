"""The Lambda context object a handler is invoked with, for the local system, the tests and the bench.

Lambda passes every invocation a context whose attributes name the function and the request, and
whose `get_remaining_time_in_millis()` counts down to the function's timeout (AWS Lambda Developer
Guide, "Using the Lambda context object to retrieve Python function information"). The handlers read
only the request id and the remaining time; the rest is here so a handler sees the object's shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: Lambda's default memory for a function that sets none (AWS Lambda Developer Guide, "Configuring
#: Lambda function memory").
DEFAULT_MEMORY_MB = 128


@dataclass
class LambdaContext:
    """What a handler reads of its invocation: names, memory, and the time left before the timeout.

    The time left is fixed (`remaining_ms`) unless a `deadline` is given, on `clock`'s scale
    (`time.monotonic` unless injected): then it counts down to it, and never goes below 0, as
    Lambda's does. One of the two is required.

    Args:
        function_name: the function's name.
        aws_request_id: the invocation's request id.
        memory_limit_in_mb: the function's memory.
        invoked_function_arn: the ARN the function was invoked by.
        remaining_ms: the time left, in milliseconds, whenever it is asked (without a `deadline`).
        deadline: when the invocation times out, in `clock` seconds.
        clock: the clock `deadline` is on.

    Raises:
        ValueError: neither `remaining_ms` nor `deadline` is given.
    """

    function_name: str
    aws_request_id: str = "local"
    memory_limit_in_mb: int = DEFAULT_MEMORY_MB
    invoked_function_arn: str = ""
    remaining_ms: int | None = None
    deadline: float | None = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.remaining_ms is None and self.deadline is None:
            raise ValueError(f"the context of {self.function_name} needs its time left: give remaining_ms "
                             "or a deadline")

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation times out (Lambda's method of the same name)."""
        if self.deadline is not None:
            return max(0, int((self.deadline - self.clock()) * 1000))
        assert self.remaining_ms is not None  # __post_init__ refuses a context with neither
        return self.remaining_ms
