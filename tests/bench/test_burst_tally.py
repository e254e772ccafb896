"""The burst benchmark's figures (bench/burst_tally.py): drain, percentiles and the ideal they are read against."""

from __future__ import annotations

import pytest

from bench.burst_ses import Sent
from bench.burst_tally import Wait, drain_fraction, drain_window, ideal_wait, percentile


def test_the_drain_window_runs_from_the_backlogs_10_percent_send_to_its_90_percent_send() -> None:
    times = [float(second) for second in range(10)]
    assert drain_window(times, 10) == (0.0, 8.0)


def test_a_backlog_that_never_reached_90_percent_has_no_drain_window() -> None:
    assert drain_window([0.0, 1.0], 10) is None


def test_the_drain_counts_every_recipient_accepted_inside_the_window_over_the_rate() -> None:
    sends = [Sent(at, "normal", f"n-{at}", 1) for at in (0.0, 1.0, 2.0)] + [Sent(1.5, "priority", "a-0", 2)]
    # the send at 0.0 opens the window and is not in it; the alert's two recipients are
    assert drain_fraction(sends, (0.0, 2.0), 2) == pytest.approx((1 + 2 + 1) / 2.0 / 2)


def test_the_ideal_wait_sends_the_alerts_back_to_back_at_the_whole_rate() -> None:
    assert ideal_wait(50, 14, 0.99) == pytest.approx(2 * 50 / 14)


def test_a_percentile_is_a_lower_bound_when_an_unsent_alert_ranks_at_or_below_it() -> None:
    waits = [Wait(1.0), Wait(2.0, at_least=True), Wait(3.0)]
    assert percentile(waits, 0.5) == Wait(2.0, at_least=True)
    assert percentile(waits, 0.33) == Wait(1.0)
    assert percentile([], 0.5) is None
