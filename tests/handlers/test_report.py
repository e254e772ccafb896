"""The daily report: the right figures, read from CloudWatch, SQS and SES, sent once per day."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from ses_email_pipeline.handlers import report
from ses_email_pipeline.handlers.errors import InvalidEvent
from ses_email_pipeline.handlers.idempotency.once_only import OnceOnly
from ses_email_pipeline.handlers.report import DailyReport, report_window
from ses_email_pipeline.handlers.sending.ses import SesSender
from ses_email_pipeline.handlers.shared.settings import ReportLane, Settings
from tests.conftest import FakeContext, Lanes
from tests.handlers.fakes import FakeSes

TRIGGER = {"scheduledTime": "2026-11-22T09:00:00Z"}


@pytest.fixture
def daily(aws: Lanes, make_settings: Callable[..., Settings]) -> tuple[DailyReport, FakeSes]:
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
    at = dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.timezone.utc)
    for metric, value in (("EmailsSent", 40), ("EmailsSent", 2), ("EmailsRejected", 3), ("EmailsFailed", 5)):
        cloudwatch.put_metric_data(Namespace="EmailPipeline/test", MetricData=[{
            "MetricName": metric, "Value": value, "Timestamp": at,
            "Dimensions": [{"Name": "Lane", "Value": "normal"}]}])
    for minute, depth in ((0, 5), (170, 2)):  # the depth now is the latest datapoint
        cloudwatch.put_metric_data(Namespace="AWS/SQS", MetricData=[{
            "MetricName": "ApproximateNumberOfMessagesVisible", "Value": depth,
            "Timestamp": at + dt.timedelta(minutes=minute), "Dimensions": [{"Name": "QueueName", "Value": "lane-dlq"}]}])
    settings = make_settings(
        aws, lane="report", report_recipients=("reports@example.com",),
        report_lanes=(ReportLane("normal", aws.queue_url, aws.dlq_url),),
    )
    ses = FakeSes()
    sender = SesSender(settings, ses)
    once = OnceOnly(settings.state_table, 172_800, "test.report", aws.dynamodb)
    return DailyReport(settings, sender, once, cloudwatch), ses


def test_report_carries_the_days_figures(daily: tuple[DailyReport, FakeSes]) -> None:
    reporter, ses = daily
    reporter.handle(TRIGGER, FakeContext())
    [sent] = ses.sent
    assert sent["Destination"] == {"ToAddresses": ["reports@example.com"]}
    assert sent["Content"]["Template"]["TemplateName"] == "email-test-daily-report-v1"
    data = json.loads(sent["Content"]["Template"]["TemplateData"])
    assert data["date"] == "2026-11-22"
    assert data["lanes"] == [{"name": "normal", "sent": 42, "rejected": 3, "failed": 5, "deferred": 0,
                              "dead_letters": 2}]
    assert (data["quota_used"], data["quota_max"], data["quota_percent"]) == (1234, 50000, "2.47%")


def test_retried_or_replayed_trigger_sends_once_per_day(daily: tuple[DailyReport, FakeSes]) -> None:
    reporter, ses = daily
    reporter.handle(TRIGGER, FakeContext())
    reporter.handle(TRIGGER, FakeContext())  # Scheduler retry or async retry
    reporter.handle({"time": "2026-11-22T09:00:00Z", "detail-type": "Scheduled Event"}, FakeContext())
    assert len(ses.sent) == 1
    reporter.handle({"scheduledTime": "2026-11-23T09:00:00Z"}, FakeContext())
    assert len(ses.sent) == 2


@pytest.mark.parametrize("trigger", [{}, {"scheduledTime": "yesterday"}])
def test_trigger_without_a_scheduled_time_is_refused(trigger: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent, match="scheduledTime"):
        report_window(trigger)


def test_report_module_imports_without_settings() -> None:
    """Importing creates clients only; settings are read on the first invocation."""
    assert callable(report.handler)
