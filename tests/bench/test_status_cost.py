"""bench/status_cost.py on a small run: every email ends in its mailbox's status, and the counts add up."""

from __future__ import annotations

from bench import status_cost


def test_a_small_mix_ends_right_and_is_counted() -> None:
    measured = status_cost.run(20)
    assert measured["wrong"] == []
    # each email has its delivery or bounce; an ooto or complaint adds one event
    assert measured["ses_events"] >= 20 and measured["status_events"] == measured["ses_events"]
    assert 1 <= measured["invocations"] <= measured["ses_events"]
    assert measured["sqs_requests"] == measured["ses_events"] + 2 * measured["invocations"]
    assert 0 < measured["record_bytes_max"] < 2048  # one or two write units per update
