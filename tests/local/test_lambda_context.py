"""The one fake Lambda context: a fixed time left, or a countdown to a deadline on an injected clock."""

from __future__ import annotations

import pytest

from local.lambda_context import DEFAULT_MEMORY_MB, LambdaContext
from tests.conftest import FakeContext


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_fixed_remaining_time_is_the_same_whenever_it_is_asked() -> None:
    context = LambdaContext("email-normal", remaining_ms=30_000)
    assert context.get_remaining_time_in_millis() == 30_000
    assert context.get_remaining_time_in_millis() == 30_000


def test_a_deadline_counts_down_on_the_injected_clock_and_stops_at_zero() -> None:
    clock = Clock()
    context = LambdaContext("email-normal", deadline=clock() + 60, clock=clock)
    assert context.get_remaining_time_in_millis() == 60_000
    clock.now += 59.5
    assert context.get_remaining_time_in_millis() == 500
    clock.now += 10
    assert context.get_remaining_time_in_millis() == 0


def test_a_context_without_its_time_left_is_refused() -> None:
    with pytest.raises(ValueError, match="remaining_ms or a deadline"):
        LambdaContext("email-normal")


def test_the_context_names_the_function_and_the_request_as_lambdas_does() -> None:
    context = LambdaContext("email-normal", aws_request_id="req-1", remaining_ms=1)
    assert (context.function_name, context.aws_request_id, context.memory_limit_in_mb) == (
        "email-normal", "req-1", DEFAULT_MEMORY_MB)


def test_the_tests_fake_context_is_the_same_context_with_test_defaults() -> None:
    context = FakeContext(remaining_ms=5_000, aws_request_id="req-2", function_name="email-priority")
    assert isinstance(context, LambdaContext)
    assert (context.get_remaining_time_in_millis(), context.aws_request_id, context.function_name) == (
        5_000, "req-2", "email-priority")
    assert FakeContext().get_remaining_time_in_millis() == 60_000
