"""Monitoring, built alone under the recording mocks: what it alarms on, counts, charts and saves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ses_email_pipeline.monitoring import (
    SES_REVIEW_BOUNCE_RATE,
    Monitoring,
    MonitoringArgs,
    WatchedFunction,
    WatchedLane,
    event_pattern,
)
from ses_email_pipeline.handlers import log
from ses_email_pipeline.handlers.shared.metrics import LANE_DIMENSION, LANE_METRICS
from local.mocks import ACCOUNT, REGION, Recorded, RecordingMocks, run_program

NAME = "email-dev"
NAMESPACE = "EmailPipeline/dev"
BUS = "email-dev-bus"
TAGS = {"stack": "dev", "service": "email"}
FUNCTIONS = (
    WatchedFunction("email-dev-normal", "/aws/lambda/email-dev-normal", "normal"),
    WatchedFunction("email-dev-priority", "/aws/lambda/email-dev-priority", "priority"),
    WatchedFunction("email-dev-report", "/aws/lambda/email-dev-report", "report"),
)
LANES = (
    WatchedLane("normal", "email-dev-normal-queue", "email-dev-normal-dlq", max_message_age_seconds=900),
    WatchedLane("priority", "email-dev-priority-queue", "email-dev-priority-dlq", max_message_age_seconds=120),
)
EXTRA_DLQ = "email-dev-rule-target-dlq"
RULES = {"to-normal": "email-dev-to-normal", "to-priority": "email-dev-to-priority"}
CONFIGURATION_SET = "email-dev"
ALARM_EMAIL = "oncall@example.com"

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
QUERY = "aws:cloudwatch/queryDefinition:QueryDefinition"


def make_args(**overrides: Any) -> MonitoringArgs:
    """The test pipeline: two lanes, three functions, one extra DLQ, two rules."""
    base: dict[str, Any] = {
        "functions": FUNCTIONS,
        "lanes": LANES,
        "metrics_namespace": NAMESPACE,
        "alarm_email": ALARM_EMAIL,
        "event_bus_name": BUS,
        "rule_names": RULES,
        "extra_dead_letter_queue_names": {"rule-target-dlq": EXTRA_DLQ},
        "configuration_set_name": CONFIGURATION_SET,
        "tags": TAGS,
    }
    base.update(overrides)
    return MonitoringArgs(**base)


def build(args: MonitoringArgs) -> tuple[RecordingMocks, dict[str, Any]]:
    """Run the component alone as a program; also return its resolved outputs."""
    outputs: dict[str, Any] = {}

    def program() -> Monitoring:
        monitoring = Monitoring(NAME, args)
        monitoring.alarm_names.apply(lambda names: outputs.update(alarm_names=names))
        monitoring.alarm_topic_arn.apply(lambda arn: outputs.update(alarm_topic_arn=arn))
        monitoring.dashboard_name.apply(lambda dashboard: outputs.update(dashboard_name=dashboard))
        return monitoring

    return run_program(program), outputs


@pytest.fixture(scope="module")
def built() -> Iterator[tuple[RecordingMocks, dict[str, Any]]]:
    yield build(make_args())


@pytest.fixture(scope="module")
def mocks(built: tuple[RecordingMocks, dict[str, Any]]) -> RecordingMocks:
    return built[0]


@pytest.fixture(scope="module")
def outputs(built: tuple[RecordingMocks, dict[str, Any]]) -> dict[str, Any]:
    return built[1]


def only(mocks: RecordingMocks, typ: str) -> Recorded:
    found = mocks.of_type(typ)
    assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
    return found[0]


def alarms_on(mocks: RecordingMocks, namespace: str, metric: str, **dimensions: str) -> list[Recorded]:
    return [
        alarm for alarm in mocks.of_type(ALARM)
        if alarm.inputs.get("namespace") == namespace
        and alarm.inputs.get("metricName") == metric
        and alarm.inputs.get("dimensions", {}) == dimensions
    ]


def fires_on(alarm: Recorded, value: float) -> bool:
    """Whether a datapoint of `value` breaches the alarm's threshold."""
    threshold = alarm.inputs["threshold"]
    return {
        "GreaterThanThreshold": value > threshold,
        "GreaterThanOrEqualToThreshold": value >= threshold,
    }[alarm.inputs["comparisonOperator"]]


def statements(policy_json: str) -> list[dict[str, Any]]:
    return json.loads(policy_json)["Statement"]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def dashboard_body(mocks: RecordingMocks) -> dict[str, Any]:
    return json.loads(only(mocks, "aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])


def metric_rows(body: dict[str, Any]) -> list[list[Any]]:
    return [row for widget in body["widgets"] for row in widget.get("properties", {}).get("metrics", [])]


# --- alarms --------------------------------------------------------------------------------------

@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.label)
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_every_function_alarms_on_a_single_error_and_throttle(mocks: RecordingMocks, function: WatchedFunction,
                                                              metric: str) -> None:
    (alarm,) = alarms_on(mocks, "AWS/Lambda", metric, FunctionName=function.name)
    assert alarm.inputs["statistic"] == "Sum"
    assert fires_on(alarm, 1) and not fires_on(alarm, 0)


@pytest.mark.parametrize("queue", [lane.dead_letter_queue_name for lane in LANES] + [EXTRA_DLQ])
def test_every_dead_letter_queue_alarms_when_it_holds_any_message(mocks: RecordingMocks, queue: str) -> None:
    (alarm,) = alarms_on(mocks, "AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName=queue)
    assert alarm.inputs["statistic"] == "Maximum"
    assert alarm.inputs["period"] == 60
    assert fires_on(alarm, 1) and not fires_on(alarm, 0)


@pytest.mark.parametrize("lane", LANES, ids=lambda lane: lane.name)
def test_every_lane_alarms_when_its_oldest_message_is_too_old(mocks: RecordingMocks, lane: WatchedLane) -> None:
    (alarm,) = alarms_on(mocks, "AWS/SQS", "ApproximateAgeOfOldestMessage", QueueName=lane.queue_name)
    assert alarm.inputs["statistic"] == "Maximum"
    assert fires_on(alarm, lane.max_message_age_seconds + 1)
    assert not fires_on(alarm, lane.max_message_age_seconds)


@pytest.mark.parametrize("rule", RULES.values())
@pytest.mark.parametrize("metric", ["DeadLetterInvocations", "InvocationsFailedToBeSentToDlq"])
def test_every_rule_alarms_on_events_it_could_not_deliver_or_lost(mocks: RecordingMocks, rule: str,
                                                                  metric: str) -> None:
    """Every target has a DLQ, so FailedInvocations (which leaves DLQ'd events out) would never move."""
    (alarm,) = alarms_on(mocks, "AWS/Events", metric, RuleName=rule, EventBusName=BUS)
    assert alarm.inputs["statistic"] == "Sum"
    assert fires_on(alarm, 1) and not fires_on(alarm, 0)
    assert not alarms_on(mocks, "AWS/Events", "FailedInvocations", RuleName=rule, EventBusName=BUS)


def test_rule_alarms_omit_the_bus_dimension_for_default_bus_rules() -> None:
    mocks, _ = build(make_args(event_bus_name=None))
    for rule in RULES.values():
        assert len(alarms_on(mocks, "AWS/Events", "DeadLetterInvocations", RuleName=rule)) == 1


def test_alarms_are_named_by_label_so_adding_a_rule_renames_none() -> None:
    before, _ = build(make_args())
    after, _ = build(make_args(rule_names={"zero": "email-dev-first", **RULES},
                               extra_dead_letter_queue_names={"new-dlq": "x", "rule-target-dlq": EXTRA_DLQ}))
    assert {a.name for a in before.of_type(ALARM)} < {a.name for a in after.of_type(ALARM)}


@pytest.mark.parametrize(("metric", "threshold"), [("Reputation.BounceRate", 0.025),
                                                   ("Reputation.ComplaintRate", 0.0005)])
def test_ses_reputation_alarms_fire_at_half_the_review_rate(mocks: RecordingMocks, metric: str,
                                                            threshold: float) -> None:
    (alarm,) = alarms_on(mocks, "AWS/SES", metric)
    assert alarm.inputs["threshold"] == pytest.approx(threshold)
    assert alarm.inputs["statistic"] == "Maximum"
    assert fires_on(alarm, threshold) and not fires_on(alarm, threshold * 0.99)


@pytest.mark.parametrize("lane", LANES, ids=lambda lane: lane.name)
def test_sending_paused_alarm_watches_the_log_derived_metric(mocks: RecordingMocks, lane: WatchedLane) -> None:
    metric = next(name for name, event in LANE_METRICS.items() if event == log.SES_SENDING_PAUSED)
    (alarm,) = alarms_on(mocks, NAMESPACE, metric, **{LANE_DIMENSION: lane.name})
    assert fires_on(alarm, 1) and not fires_on(alarm, 0)


@pytest.mark.parametrize("lane", LANES, ids=lambda lane: lane.name)
def test_daily_quota_exhausted_alarm_fires_on_the_first_event(mocks: RecordingMocks, lane: WatchedLane) -> None:
    metric = next(name for name, event in LANE_METRICS.items() if event == log.SES_DAILY_QUOTA_EXHAUSTED)
    (alarm,) = alarms_on(mocks, NAMESPACE, metric, **{LANE_DIMENSION: lane.name})
    assert fires_on(alarm, 1) and not fires_on(alarm, 0)


@pytest.mark.parametrize("lane", LANES, ids=lambda lane: lane.name)
def test_send_failure_alarm_counts_failures_over_five_minutes(mocks: RecordingMocks, lane: WatchedLane) -> None:
    metric = next(name for name, event in LANE_METRICS.items() if event == log.EMAIL_SEND_FAILED)
    (alarm,) = alarms_on(mocks, NAMESPACE, metric, **{LANE_DIMENSION: lane.name})
    assert (alarm.inputs["statistic"], alarm.inputs["period"]) == ("Sum", 300)
    assert fires_on(alarm, 10) and not fires_on(alarm, 9)


def test_every_alarm_notifies_the_topic_on_alarm_and_recovery(mocks: RecordingMocks) -> None:
    topic_arn = only(mocks, "aws:sns/topic:Topic").outputs["arn"]
    alarms = mocks.of_type(ALARM)
    assert alarms
    for alarm in alarms:
        assert alarm.inputs["alarmActions"] == [topic_arn], alarm.name
        assert alarm.inputs["okActions"] == [topic_arn], alarm.name
        assert alarm.inputs["treatMissingData"] == "notBreaching", alarm.name


def test_alarm_names_output_lists_every_alarm(mocks: RecordingMocks, outputs: dict[str, Any]) -> None:
    declared = [alarm.outputs["name"] for alarm in mocks.of_type(ALARM)]
    # 3 functions x 2 + 2 lanes x 7 + 1 extra DLQ + 2 rules x 2 + 2 SES
    assert len(declared) == 27
    assert sorted(outputs["alarm_names"]) == sorted(declared)


# --- alarm topic ---------------------------------------------------------------------------------

def test_topic_is_encrypted_with_the_components_rotated_key(mocks: RecordingMocks) -> None:
    key = only(mocks, "aws:kms/key:Key")
    topic = only(mocks, "aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]
    assert topic.inputs["kmsMasterKeyId"] != "alias/aws/sns"
    assert key.inputs["enableKeyRotation"] is True


def test_key_policy_lets_cloudwatch_of_this_account_use_the_key(mocks: RecordingMocks) -> None:
    key = only(mocks, "aws:kms/key:Key")
    (grant,) = [s for s in statements(key.inputs["policy"])
                if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
    assert grant["Effect"] == "Allow"
    assert set(as_list(grant["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_key_policy_lets_the_account_root_administer_the_key(mocks: RecordingMocks) -> None:
    key = only(mocks, "aws:kms/key:Key")
    (admin,) = [s for s in statements(key.inputs["policy"])
                if s.get("Principal") == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}]
    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"} <= set(admin["Action"])


def test_topic_policy_lets_only_this_accounts_alarms_publish(mocks: RecordingMocks) -> None:
    topic = only(mocks, "aws:sns/topic:Topic")
    policy = only(mocks, "aws:sns/topicPolicy:TopicPolicy")
    assert policy.inputs["arn"] == topic.outputs["arn"]
    (statement,) = statements(policy.inputs["policy"])
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert as_list(statement["Action"]) == ["sns:Publish"]
    assert statement["Resource"] == topic.outputs["arn"]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}


def test_no_policy_uses_a_wildcard_action(mocks: RecordingMocks) -> None:
    documents = [only(mocks, "aws:kms/key:Key").inputs["policy"],
                 only(mocks, "aws:sns/topicPolicy:TopicPolicy").inputs["policy"]]
    for document in documents:
        for statement in statements(document):
            for action in as_list(statement["Action"]):
                assert "*" not in action and "?" not in action, action  # key policies too


def test_alarm_email_is_subscribed_to_the_topic(mocks: RecordingMocks) -> None:
    subscription = only(mocks, "aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs["topic"] == only(mocks, "aws:sns/topic:Topic").outputs["arn"]
    assert (subscription.inputs["protocol"], subscription.inputs["endpoint"]) == ("email", ALARM_EMAIL)


def test_no_subscription_without_alarm_email() -> None:
    mocks, _ = build(make_args(alarm_email=None))
    assert mocks.of_type("aws:sns/topicSubscription:TopicSubscription") == []
    assert mocks.of_type("aws:sns/topic:Topic"), "the topic still exists for other subscribers"


def test_taggable_resources_carry_the_tags(mocks: RecordingMocks) -> None:
    taggable = [*mocks.of_type(ALARM), only(mocks, "aws:kms/key:Key"), only(mocks, "aws:sns/topic:Topic")]
    for resource in taggable:
        assert resource.inputs["tags"] == TAGS, resource.name


# --- metric filters ------------------------------------------------------------------------------

@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda f: f.label)
def test_every_log_group_has_one_filter_per_lane_metric(mocks: RecordingMocks, function: WatchedFunction) -> None:
    filters = [f for f in mocks.of_type(FILTER) if f.inputs["logGroupName"] == function.log_group_name]
    by_metric = {f.inputs["metricTransformation"]["name"]: f for f in filters}
    assert len(filters) == len(by_metric) == len(LANE_METRICS)
    for metric, event in LANE_METRICS.items():
        recorded = by_metric[metric]
        assert recorded.inputs["pattern"] == f'{{ $.event = "{event}" }}'
        transformation = recorded.inputs["metricTransformation"]
        assert transformation["namespace"] == NAMESPACE
        assert transformation["value"] == "1"
        assert transformation["unit"] == "Count"
        assert transformation["dimensions"] == {LANE_DIMENSION: "$.lane"}
        assert "defaultValue" not in transformation


def test_event_pattern_matches_the_handlers_json_field() -> None:
    assert event_pattern(log.EMAIL_SENT) == '{ $.event = "email_sent" }'


# --- dashboard -----------------------------------------------------------------------------------

def test_dashboard_is_named_after_the_component(mocks: RecordingMocks, outputs: dict[str, Any]) -> None:
    dashboard = only(mocks, "aws:cloudwatch/dashboard:Dashboard")
    assert dashboard.inputs["dashboardName"] == NAME
    assert outputs["dashboard_name"] == NAME


def test_dashboard_body_is_json_charting_every_queue(mocks: RecordingMocks) -> None:
    rows = metric_rows(dashboard_body(mocks))
    charted = {value for row in rows for value in row if isinstance(value, str)}
    for lane in LANES:
        assert {lane.queue_name, lane.dead_letter_queue_name} <= charted, lane.name
    assert EXTRA_DLQ in charted


def test_dashboard_charts_each_lanes_log_metrics_rules_and_functions(mocks: RecordingMocks) -> None:
    rows = metric_rows(dashboard_body(mocks))
    for lane in LANES:
        lane_metrics = {row[1] for row in rows if row[0] == NAMESPACE and lane.name in row}
        assert lane_metrics == set(LANE_METRICS), lane.name
    for rule in RULES.values():
        assert any(row[:2] == ["AWS/Events", "MatchedEvents"] and rule in row for row in rows)
    for function in FUNCTIONS:
        assert any(row[:2] == ["AWS/Lambda", "Duration"] and function.name in row for row in rows)


def test_dashboard_draws_the_ses_alarm_thresholds(mocks: RecordingMocks) -> None:
    body = dashboard_body(mocks)
    ses = [w["properties"] for w in body["widgets"]
           if any(row[0] == "AWS/SES" for row in w.get("properties", {}).get("metrics", []))]
    annotations = {a["value"] for widget in ses for a in widget["annotations"]["horizontal"]}
    assert {0.025, 0.0005} <= annotations
    assert all(widget["region"] == REGION for widget in ses)


def test_dashboard_widgets_do_not_overlap(mocks: RecordingMocks) -> None:
    cells: set[tuple[int, int]] = set()
    for widget in dashboard_body(mocks)["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        area = {(x, y) for x in range(widget["x"], widget["x"] + widget["width"])
                for y in range(widget["y"], widget["y"] + widget["height"])}
        assert not cells & area
        cells |= area


# --- saved queries -------------------------------------------------------------------------------

def test_every_saved_query_searches_every_log_group(mocks: RecordingMocks) -> None:
    queries = mocks.of_type(QUERY)
    assert sorted(q.inputs["name"].rpartition("/")[2] for q in queries) == [
        "failures-by-error-code", "find-send-by-recipient-hash", "pacing-by-lane"]
    for query in queries:
        assert sorted(query.inputs["logGroupNames"]) == sorted(f.log_group_name for f in FUNCTIONS)


def test_find_send_query_filters_on_a_recipient_hash_placeholder(mocks: RecordingMocks) -> None:
    (query,) = [q for q in mocks.of_type(QUERY) if "recipient-hash" in q.inputs["name"]]
    text = query.inputs["queryString"]
    assert '| filter @message like "RECIPIENT_HASH"' in text
    assert "ses_message_id" in text


def test_pacing_query_reads_each_lane_s_lateness_rebookings_and_ses_time(mocks: RecordingMocks) -> None:
    (query,) = [q for q in mocks.of_type(QUERY) if "pacing" in q.inputs["name"]]
    text = query.inputs["queryString"]
    assert 'filter event = "email_sent"' in text
    assert text.rstrip().endswith("by lane, bin(5m)")
    for field in ("pct(slot_late_ms, 99)", "sum(rebookings)", "pct(ses_ms, 99)"):
        assert field in text


def test_failures_query_counts_by_error_code_lane_and_event(mocks: RecordingMocks) -> None:
    (query,) = [q for q in mocks.of_type(QUERY) if "error-code" in q.inputs["name"]]
    text = query.inputs["queryString"]
    assert "filter ispresent(error_code)" in text
    assert "stats count(*) as occurrences by error_code, lane, event" in text


# --- arguments -----------------------------------------------------------------------------------

def test_outputs_expose_the_topic(mocks: RecordingMocks, outputs: dict[str, Any]) -> None:
    assert outputs["alarm_topic_arn"] == only(mocks, "aws:sns/topic:Topic").outputs["arn"]


@pytest.mark.parametrize("overrides", [
    {"lanes": (LANES[0], LANES[0])},
    {"functions": (FUNCTIONS[0], FUNCTIONS[0])},
    {"functions": ()},
    {"bounce_rate_threshold": SES_REVIEW_BOUNCE_RATE},
    {"complaint_rate_threshold": 0.002},
    {"send_failure_threshold": 0},
    {"metrics_namespace": "AWS/Lambda"},
], ids=["duplicate-lane", "duplicate-label", "no-functions", "bounce-at-review", "complaint-above-review",
        "zero-failures", "aws-namespace"])
def test_args_reject_settings_that_cannot_work(overrides: dict[str, Any]) -> None:
    from ses_email_pipeline.checks import InvalidArgs

    with pytest.raises(InvalidArgs):
        make_args(**overrides)


def test_every_problem_with_the_arguments_is_reported_at_once_each_naming_its_argument() -> None:
    from ses_email_pipeline.checks import InvalidArgs

    with pytest.raises(InvalidArgs) as refused:
        make_args(lanes=(LANES[0], LANES[0], WatchedLane("bulk", "q", "d", max_message_age_seconds=0)),
                  rule_names={"to normal": "r"}, extra_dead_letter_queue_names={"": "q"},
                  metrics_namespace="AWS/Lambda", bounce_rate_threshold=0, send_failure_threshold=0)
    assert [problem.field for problem in refused.value.problems] == [
        "lanes", "rule_names", "extra_dead_letter_queue_names", "metrics_namespace", "bounce_rate_threshold",
        "send_failure_threshold", "lanes.bulk.max_message_age_seconds"]
    message = str(refused.value)
    assert message.startswith("invalid MonitoringArgs:\n")
    assert "lanes: duplicate lane name(s) ['normal']" in message
    assert "rule_names: rule label 'to normal' names alarms" in message
    assert "send_failure_threshold: must be at least 1, got 0" in message


def test_a_name_that_cannot_name_the_dashboard_is_refused_before_anything_is_declared() -> None:
    from ses_email_pipeline.checks import InvalidArgs

    errors: list[InvalidArgs] = []

    def program() -> None:
        try:
            Monitoring("email dev", make_args())
        except InvalidArgs as exc:
            errors.append(exc)

    mocks = run_program(program)
    [error] = errors
    assert [problem.field for problem in error.problems] == ["name"] and "dashboard name" in str(error)
    assert mocks.resources == []


def test_each_lane_alarms_on_an_email_whose_outcome_is_unknown(mocks: RecordingMocks) -> None:
    """One ambiguous send (SES never answered, a function died mid-send) is worth a look."""
    alarms = {alarm.name: alarm.inputs for alarm in mocks.of_type(ALARM)}
    for lane in ("normal", "priority"):
        alarm = alarms[f"{NAME}-{lane}-outcome-unknown"]
        assert (alarm["metricName"], alarm["dimensions"]) == ("OutcomesUnknown", {"Lane": lane})
        assert (alarm["statistic"], alarm["threshold"], alarm["comparisonOperator"]) == (
            "Sum", 1, "GreaterThanOrEqualToThreshold")


def test_the_dashboard_is_pure_data_built_without_mocks() -> None:
    """The body is a plain dict from the component's arguments: no Pulumi runtime needed."""
    from ses_email_pipeline.dashboard import DashboardBody

    body = DashboardBody("email-dev", REGION, make_args()).as_dict()
    widgets = body["widgets"]
    assert widgets[0]["type"] == "text" and "email-dev" in widgets[0]["properties"]["markdown"]
    assert all(w["x"] + w["width"] <= 24 for w in widgets)
    graphs = [w["properties"] for w in widgets if w["type"] == "metric"]
    assert {g["region"] for g in graphs} == {REGION}
    assert any(["AWS/Events", "DeadLetterInvocations", "RuleName", RULES["to-normal"]] == row[:4]
               for g in graphs for row in g["metrics"])
