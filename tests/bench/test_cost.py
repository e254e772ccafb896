"""The billing rules the burst benchmark's cost per email rests on (bench/cost.py)."""

from __future__ import annotations

import pytest

from bench import cost
from bench.cost import PerEmail


def test_lambda_bills_each_invocation_up_to_the_next_millisecond() -> None:
    assert [cost.billed_milliseconds(seconds) for seconds in (0.0000004, 0.1, 0.10201)] == [1, 100, 103]


def test_gb_seconds_count_the_configured_memory() -> None:
    assert cost.gb_seconds(1000, 256) == 0.25


def test_xray_traces_the_first_invocation_each_second_and_five_percent_of_the_rest() -> None:
    starts = [0.1, 0.2, 0.3, 5.0]  # three in second 0, one in second 5
    assert cost.sampled_traces(starts) == pytest.approx(1 + 2 * 0.05 + 1)


def test_lambda_sends_no_platform_lines_at_system_log_level_warn() -> None:
    assert cost.platform_bytes("8f507cfc-xmpl-4697-b07a-ac58fc914c95", 102.52, 256, "WARN") == 0


def test_platform_lines_at_info_follow_the_documented_text_format() -> None:
    request_id = "8f507cfc-xmpl-4697-b07a-ac58fc914c95"
    report = cost.platform_text_lines(request_id, 102.52, 256)[-1]
    assert report == (f"REPORT RequestId: {request_id}\tDuration: 102.52 ms\tBilled Duration: 103 ms\t"
                      "Memory Size: 256 MB\tMax Memory Used: 78 MB")
    assert cost.platform_bytes(request_id, 102.52, 256, "INFO") == sum(
        len(line) + 1 for line in cost.platform_text_lines(request_id, 102.52, 256))


def _usage(**overrides: float) -> PerEmail:
    fields = dict(invocations=0.0, gb_seconds=0.0, log_bytes=0.0, sqs_requests=0.0, idempotency_writes=0.0,
                  idempotency_reads=0.0, coordination_writes=0.0, coordination_reads=0.0, events=0.0, traces=0.0,
                  recipients=1.0)
    return PerEmail(**{**fields, **overrides})


def test_costs_apply_the_list_prices() -> None:
    costs = _usage(idempotency_writes=2, coordination_writes=0.1, events=1, log_bytes=2**30).costs()
    assert costs["DynamoDB"] == pytest.approx(2.1 * 0.625e-6)
    assert costs["EventBridge"] == pytest.approx(1e-6)
    assert costs["Logs"] == pytest.approx(0.50)


def test_the_share_of_ses_compares_with_what_ses_bills_for_the_same_recipients() -> None:
    # One event (one EventBridge event: $1e-6) per email of two recipients (SES: $2e-4).
    assert _usage(events=1, recipients=2).share_of_ses() == pytest.approx(0.005)
