"""Every alarm the dev stack declares watches a metric that moves for the failure it names.

CloudWatch alarms never evaluate offline, so an alarm on a metric AWS does not publish, with the
wrong dimensions or statistic, or on a metric that stays at zero for its failure, would be green
here and silent in production. Each alarm is checked against how AWS documents its metric (the
table below, with its source) or, for the pipeline's own metrics, against the metric filter that
produces it; and each alarm names the failure that fires it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from local.mocks import RecordingMocks
from local.program import run_stack

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"


@dataclass(frozen=True)
class Documented:
    """An AWS metric as its service documents it."""

    dimensions: tuple[frozenset[str], ...]
    statistics: frozenset[str]
    source: str


_SUM = frozenset({"Sum"})
_LEVEL = frozenset({"Maximum", "Average"})
DOCUMENTED: dict[tuple[str, str], Documented] = {
    # docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html ("Invocation metrics")
    ("AWS/Lambda", "Errors"): Documented((frozenset({"FunctionName"}),), _SUM, "Lambda invocation metrics"),
    ("AWS/Lambda", "Throttles"): Documented((frozenset({"FunctionName"}),), _SUM, "Lambda invocation metrics"),
    # docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): Documented(
        (frozenset({"QueueName"}),), _LEVEL | _SUM, "SQS CloudWatch metrics"),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage"): Documented(
        (frozenset({"QueueName"}),), frozenset({"Maximum"}), "SQS CloudWatch metrics"),
    # docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html: RuleName alone for the
    # default bus, EventBusName and RuleName for a custom bus; published only when non-zero.
    # FailedInvocations is left out on purpose: it "doesn't count failed invocations that are
    # counted in DeadLetterInvocations", and every target here has a DLQ, so it never moves.
    ("AWS/Events", "DeadLetterInvocations"): Documented(
        (frozenset({"RuleName"}), frozenset({"RuleName", "EventBusName"})), _SUM, "EventBridge metrics"),
    ("AWS/Events", "InvocationsFailedToBeSentToDlq"): Documented(
        (frozenset({"RuleName"}), frozenset({"RuleName", "EventBusName"})), _SUM, "EventBridge metrics"),
    # docs.aws.amazon.com/ses/latest/dg/reputationdashboard-cloudwatch-alarm.html (account-wide)
    ("AWS/SES", "Reputation.BounceRate"): Documented((frozenset(),), _LEVEL, "SES reputation metrics"),
    ("AWS/SES", "Reputation.ComplaintRate"): Documented((frozenset(),), _LEVEL, "SES reputation metrics"),
}

#: alarm name pattern -> the failure that fires it (every alarm matches exactly one).
FAILURES: dict[str, str] = {
    r"-(normal|priority|report|status)-errors$": "a handler raised or timed out (a bug: records fail alone)",
    r"-(normal|priority|report|status)-throttles$": "Lambda refused an invocation (concurrency)",
    r"-status-dlq-not-empty$": "an SES event the status handler could not read, or kept failing to publish",
    r"-status-undelivered-not-empty$": "EventBridge could not deliver SES events to the status queue",
    r"-(normal|priority)-dlq-not-empty$": "an email was dead-lettered (invalid, rejected, outcome unknown)",
    r"-(normal|priority)-oldest-message-age$": "a lane stopped draining (paused, denied, failing)",
    r"-report-failures-not-empty$": "the daily report failed all its attempts",
    r"-route-[a-z-]+-dlq-not-empty$": "EventBridge could not deliver events to a lane",
    r"-daily-report-dlq-not-empty$": "Scheduler could not invoke the report",
    r"-unrouted-not-empty$": "a pipeline event no route takes",
    r"-unrouted-dlq-not-empty$": "EventBridge could not deliver an unrouted event",
    r"-rule-[a-z-]+-undelivered$": "a rule's events went to its DLQ instead of its lane",
    r"-rule-[a-z-]+-events-lost$": "a rule's events reached neither its lane nor its DLQ",
    r"-ses-bounce-rate$": "bounces approaching SES's review rate",
    r"-ses-complaint-rate$": "complaints approaching SES's review rate",
    r"-(normal|priority)-sending-paused$": "SES paused sending",
    r"-(normal|priority)-sending-not-authorized$": "SES refused the stack's sends (IAM, identity)",
    r"-(normal|priority)-daily-quota-exhausted$": "the 24-hour quota ran out",
    r"-(normal|priority)-outcome-unknown$": "SES may or may not have sent an email",
    r"-(normal|priority)-send-failures$": "a burst of retryable SES failures",
}


@pytest.fixture(scope="module")
def dev() -> RecordingMocks:
    return run_stack("dev")


def alarms(dev: RecordingMocks) -> list[Any]:
    return dev.of_type(ALARM)


def test_every_alarm_names_exactly_one_failure(dev: RecordingMocks) -> None:
    for alarm in alarms(dev):
        matches = [failure for pattern, failure in FAILURES.items() if re.search(pattern, alarm.name)]
        assert len(matches) == 1, (alarm.name, matches)


@pytest.mark.parametrize("pattern", FAILURES)
def test_every_named_failure_has_its_alarm(dev: RecordingMocks, pattern: str) -> None:
    assert any(re.search(pattern, alarm.name) for alarm in alarms(dev)), FAILURES[pattern]


def test_every_aws_metric_alarm_matches_how_aws_documents_the_metric(dev: RecordingMocks) -> None:
    for alarm in alarms(dev):
        inputs = alarm.inputs
        if not inputs["namespace"].startswith("AWS/"):
            continue
        documented = DOCUMENTED.get((inputs["namespace"], inputs["metricName"]))
        assert documented, f"{alarm.name}: {inputs['namespace']} {inputs['metricName']} is not a metric that moves"
        assert frozenset(inputs.get("dimensions") or {}) in documented.dimensions, alarm.name
        assert inputs["statistic"] in documented.statistics, alarm.name


def test_every_pipeline_metric_alarm_watches_a_metric_a_filter_produces(dev: RecordingMocks) -> None:
    produced = {(f.inputs["metricTransformation"]["namespace"], f.inputs["metricTransformation"]["name"],
                 frozenset(f.inputs["metricTransformation"].get("dimensions") or {})) for f in dev.of_type(FILTER)}
    for alarm in alarms(dev):
        inputs = alarm.inputs
        if inputs["namespace"].startswith("AWS/"):
            continue
        key = (inputs["namespace"], inputs["metricName"], frozenset(inputs.get("dimensions") or {}))
        assert key in produced, alarm.name
        assert inputs["statistic"] == "Sum", alarm.name  # each log line counts 1


def test_an_alarm_on_failed_invocations_would_be_refused() -> None:
    """The old rule alarm: FailedInvocations excludes what went to a target DLQ, so it never fires here."""
    assert ("AWS/Events", "FailedInvocations") not in DOCUMENTED
