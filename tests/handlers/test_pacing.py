"""The pacer keeps one instance within its share of the send rate."""

from __future__ import annotations

import pytest

from ses_email_pipeline.handlers.pacing import Pacer, instance_rate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_calls_are_spaced_by_cost_over_rate() -> None:
    clock = Clock()
    pacer = Pacer(2.0, clock, clock.sleep)
    for cost in (1, 1, 4, 1):
        pacer.acquire(cost)
    assert clock.sleeps == pytest.approx([0.5, 0.5, 2.0])


def test_idle_time_is_not_banked_as_a_burst() -> None:
    clock = Clock()
    pacer = Pacer(1.0, clock, clock.sleep)
    pacer.acquire(1)
    clock.now += 60  # a minute idle
    pacer.acquire(1)
    pacer.acquire(1)
    assert clock.sleeps == pytest.approx([1.0])


def test_next_delay_predicts_the_wait() -> None:
    clock = Clock()
    pacer = Pacer(4.0, clock, clock.sleep)
    pacer.acquire(2)
    assert pacer.next_delay() == pytest.approx(0.5)


def test_instance_rate_splits_the_lane_share_across_instances() -> None:
    assert instance_rate(14.0, 0.5, 2) == pytest.approx(3.5)
    assert instance_rate(14.0, 0.5, 0) == pytest.approx(7.0)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)
