"""The priority lane: only high and critical alerts, sent to on-call too, marked as important."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ses_email_pipeline.handlers import priority
from ses_email_pipeline.handlers.shared.settings import Settings
from tests.conftest import Lanes, load_event
from tests.handlers.fakes import FakeSes
from tests.handlers.harness import LaneHarness

ONCALL = ("oncall@ops.example.com", "TEST-RECIPIENT@example.com")


@pytest.fixture
def lane(aws: Lanes, make_settings: Callable[..., Settings]) -> LaneHarness:
    settings = make_settings(aws, lane="priority", oncall_recipients=ONCALL)
    return LaneHarness.build(aws, settings, priority.compose, FakeSes())


def alert(**detail: Any) -> dict[str, Any]:
    event = load_event("priority_alert")
    event["detail"].update(detail)
    return event


def test_high_alert_goes_to_recipients_and_on_call_once_each(lane: LaneHarness) -> None:
    lane.enqueue(alert())
    assert lane.run(lane.receive()) == {"batchItemFailures": []}
    [sent] = lane.ses.sent
    # the on-call entry that repeats the event's recipient (in other case) is not added twice
    assert sent["Destination"]["ToAddresses"] == ["test-recipient@example.com", "oncall@ops.example.com"]


@pytest.mark.parametrize(("level", "prefix", "x_priority"), [("high", "[HIGH] ", "2 (High)"),
                                                              ("critical", "[CRITICAL] ", "1 (Highest)")])
def test_alert_is_marked_important(lane: LaneHarness, level: str, prefix: str, x_priority: str) -> None:
    lane.enqueue(alert(priority=level))
    lane.run(lane.receive())
    template = lane.ses.sent[0]["Content"]["Template"]
    assert f'"subject":"{prefix}High Priority Alert"' in template["TemplateData"]
    headers = {h["Name"]: h["Value"] for h in template["Headers"]}
    assert headers == {"Importance": "high", "X-Priority": x_priority, "Priority": "urgent"}


@pytest.mark.parametrize("level", ["low", "normal", None])
def test_other_priorities_are_dead_lettered_with_a_clear_reason(lane: LaneHarness, aws: Lanes,
                                                                level: str | None) -> None:
    event = alert(priority=level)
    if level is None:
        del event["detail"]["priority"]
    lane.enqueue(event)
    lane.run(lane.receive())
    assert lane.ses.sent == []
    [letter] = aws.dead_letters()
    assert letter["attributes"]["FailureField"] == "detail.priority"
    assert "only high or critical" in letter["attributes"]["FailureReason"]
