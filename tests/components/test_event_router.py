"""EventRouter: what it declares (under the recording mocks) and how its patterns route (under moto)."""

from __future__ import annotations

import contextlib

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ses_email_pipeline.checks import InvalidArgs
from ses_email_pipeline.event_router import EventRouter, EventRouterArgs, LaneQueue
from ses_email_pipeline.routes import DEFAULT_ROUTES, Route
from local.mocks import ACCOUNT, REGION, Recorded, RecordingMocks, run_program
from tests.conftest import load_event

NAME = "email-dev"
BUS = f"{NAME}-bus"
LANES = {
    lane: LaneQueue(
        arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:{NAME}-{lane}",
        url=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{NAME}-{lane}",
    )
    for lane in ("normal", "priority")
}
PARTNER_ACCOUNT = "210987654321"
PARTNER_ROLE = "arn:aws:iam::210987654321:role/publisher"
TAGS = {"project": "email-pipeline", "stack": "dev"}
RECEIPT_ROUTE = Route("order-receipt", {"source": ["shop.orders"], "detail-type": ["Order Receipt"]}, "normal")

BUS_TYPE = "aws:cloudwatch/eventBus:EventBus"
BUS_POLICY = "aws:cloudwatch/eventBusPolicy:EventBusPolicy"
ARCHIVE = "aws:cloudwatch/eventArchive:EventArchive"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SCHEDULE = "aws:scheduler/schedule:Schedule"


def build_router(**overrides: Any) -> RecordingMocks:
    """Declare the router alone under the mocks (two lanes); outputs land in `.result`."""
    settings: dict[str, Any] = {
        "lane_queues": LANES,
        "allowed_principals": [PARTNER_ACCOUNT, PARTNER_ROLE],
        "archive_retention_days": 14,
        "tags": TAGS,
    }
    settings.update(overrides)
    outputs: dict[str, Any] = {}

    def program() -> dict[str, Any]:
        router = EventRouter(NAME, EventRouterArgs(**settings))
        for attribute in (
            "bus_name", "bus_arn", "archive_arn", "rule_names", "target_dead_letter_queue_names",
            "unrouted_queue_name", "unrouted_dead_letter_queue_name", "unrouted_rule_names",
        ):
            getattr(router, attribute).apply(lambda value, key=attribute: outputs.__setitem__(key, value))
        return outputs

    return run_program(program)


@pytest.fixture(scope="module")
def router() -> RecordingMocks:
    return build_router()


def only(mocks: RecordingMocks, typ: str) -> Recorded:
    found = mocks.of_type(typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def by_name(mocks: RecordingMocks, typ: str) -> dict[str, Recorded]:
    return {r.name: r for r in mocks.of_type(typ)}


def statements(resource: Recorded, key: str = "policy") -> list[dict[str, Any]]:
    """The Allow statements of a policy (what it grants; every queue policy also denies plain HTTP)."""
    document = json.loads(resource.inputs[key])
    assert document["Version"] == "2012-10-17"
    return [s for s in document["Statement"] if s.get("Effect", "Allow") == "Allow"]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def rule_arn(mocks: RecordingMocks, route: Route) -> str:
    return by_name(mocks, RULE)[f"{NAME}-{route.name}"].outputs["arn"]


# --- what the component declares -------------------------------------------------------------


def test_declares_one_bus_named_from_the_component(router: RecordingMocks) -> None:
    assert only(router, "email-pipeline:index:EventRouter").name == NAME
    assert only(router, BUS_TYPE).inputs["name"] == BUS


def test_archive_keeps_every_bus_event_for_the_configured_retention(router: RecordingMocks) -> None:
    archive = only(router, ARCHIVE)
    assert archive.inputs["eventSourceArn"] == only(router, BUS_TYPE).outputs["arn"]
    assert archive.inputs["retentionDays"] == 14
    assert "eventPattern" not in archive.inputs, "the archive must keep every event, not a filtered subset"


def test_one_rule_per_route_on_the_bus_with_the_exact_pattern_json(router: RecordingMocks) -> None:
    rules = by_name(router, RULE)
    assert sorted(rules) == sorted(f"{NAME}-{route.name}" for route in DEFAULT_ROUTES)
    assert rules[f"{NAME}-email-notification"].inputs["eventPattern"] == (
        '{"detail-type":["Email Notification Request"],"source":["custom.application"]}'
    )
    assert rules[f"{NAME}-priority-alert"].inputs["eventPattern"] == (
        '{"detail":{"priority":[{"equals-ignore-case":"high"},{"equals-ignore-case":"critical"}]},'
        '"detail-type":["Priority Alert"],"source":["custom.application"]}'
    )
    assert rules[f"{NAME}-priority-alert-routine"].inputs["eventPattern"] == (
        '{"detail":{"priority":[{"anything-but":{"equals-ignore-case":["critical","high"]}},{"exists":false}]},'
        '"detail-type":["Priority Alert"],"source":["custom.application"]}'
    )
    assert {r.inputs["eventBusName"] for r in rules.values()} == {BUS}


def test_every_target_retries_then_dead_letters_to_its_own_encrypted_queue(router: RecordingMocks) -> None:
    targets = by_name(router, TARGET)
    queues = {q.outputs["arn"]: q for q in router.of_type(QUEUE)}
    policies = by_name(router, QUEUE_POLICY)
    assert len(targets) == len(DEFAULT_ROUTES)
    for route in DEFAULT_ROUTES:
        target = targets[f"{NAME}-{route.name}-target"]
        assert target.inputs["rule"] == f"{NAME}-{route.name}"
        assert target.inputs["eventBusName"] == BUS
        assert target.inputs["arn"] == LANES[route.lane].arn
        assert target.inputs["retryPolicy"] == {"maximumRetryAttempts": 185, "maximumEventAgeInSeconds": 86_400}
        dlq = queues[target.inputs["deadLetterConfig"]["arn"]]
        assert dlq.name == f"{NAME}-{route.name}-dlq"
        assert dlq.inputs["sqsManagedSseEnabled"] is True
        assert dlq.inputs["messageRetentionSeconds"] == 1_209_600
        [statement] = statements(policies[f"{NAME}-{route.name}-dlq-policy"])
        assert policies[f"{NAME}-{route.name}-dlq-policy"].inputs["queueUrl"] == dlq.outputs["url"]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == dlq.outputs["arn"]
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": [rule_arn(router, route)]}}


def test_each_lane_queue_admits_only_the_rules_that_feed_it(router: RecordingMocks) -> None:
    policies = {p.inputs["queueUrl"]: p for p in router.of_type(QUEUE_POLICY)}
    for lane, queue in LANES.items():
        [statement] = statements(policies[queue.url])
        feeding = [rule_arn(router, route) for route in DEFAULT_ROUTES if route.lane == lane]
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == queue.arn
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": feeding}}


def test_no_policy_grants_a_wildcard_action_resource_or_principal(router: RecordingMocks) -> None:
    documents = [
        (r.name, statement)
        for r in router.resources
        for key in ("policy", "assumeRolePolicy")
        if key in r.inputs
        for statement in statements(r, key)
    ]
    assert len(documents) == 1 + 3 + 2  # the bus's, the route DLQs', the lane queues' (the scheduler's: EmailSender)
    for name, statement in documents:
        assert all("*" not in action for action in as_list(statement["Action"])), name
        assert "*" not in as_list(statement.get("Resource", [])), name
        principal = statement.get("Principal", {})
        assert principal != "*", name
        assert all("*" not in value for values in principal.values() for value in as_list(values)), name


def test_only_the_own_account_and_allowed_principals_may_put_events(router: RecordingMocks) -> None:
    policy = only(router, BUS_POLICY)
    [statement] = statements(policy)
    assert policy.inputs["eventBusName"] == BUS
    assert statement["Principal"] == {
        "AWS": [f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{PARTNER_ACCOUNT}:root", PARTNER_ROLE]
    }
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == only(router, BUS_TYPE).outputs["arn"]


def test_outputs_name_every_rule_and_every_dead_letter_queue(router: RecordingMocks) -> None:
    outputs = router.result  # type: ignore[attr-defined]
    assert outputs["bus_name"] == BUS
    assert outputs["bus_arn"] == only(router, BUS_TYPE).outputs["arn"]
    assert outputs["archive_arn"] == only(router, ARCHIVE).outputs["arn"]
    assert outputs["rule_names"] == {route.name: f"{NAME}-{route.name}" for route in DEFAULT_ROUTES}
    assert outputs["target_dead_letter_queue_names"] == {
        route.name: f"{NAME}-{route.name}-dlq" for route in DEFAULT_ROUTES}
    assert (outputs["unrouted_queue_name"], outputs["unrouted_dead_letter_queue_name"]) == (
        f"{NAME}-unrouted", f"{NAME}-unrouted-dlq")
    assert outputs["unrouted_rule_names"] == []  # the default routes take every event they accept


def test_every_taggable_resource_is_tagged(router: RecordingMocks) -> None:
    taggable = [r for typ in (BUS_TYPE, RULE, QUEUE) for r in router.of_type(typ)]
    assert len(taggable) == 1 + 3 + 5  # bus, rules, route + unrouted queues
    assert all(r.inputs["tags"] == TAGS for r in taggable), [r.name for r in taggable if r.inputs["tags"] != TAGS]


def test_the_router_only_routes_the_report_schedule_is_its_owners(router: RecordingMocks) -> None:
    """The daily report's schedule, its role and DLQ belong to EmailSender (test_report_schedule.py)."""
    assert not router.of_type(SCHEDULE) and not router.of_type(ROLE) and not router.of_type(ROLE_POLICY)
    assert not [r.name for r in router.resources if "daily-report" in r.name]
    assert len(router.result["target_dead_letter_queue_names"]) == len(DEFAULT_ROUTES)  # type: ignore[attr-defined]


# --- routes as data -----------------------------------------------------------------------------


def test_a_route_to_an_unknown_lane_is_rejected_before_anything_is_declared() -> None:
    errors: list[ValueError] = []

    def program() -> None:
        try:
            stray = Route("weekly-digest", {"source": ["custom.application"]}, "bulk")
            EventRouter(NAME, EventRouterArgs(lane_queues=LANES, routes=(*DEFAULT_ROUTES, stray)))
        except ValueError as exc:
            errors.append(exc)

    mocks = run_program(program)
    [error] = errors
    assert "'weekly-digest'" in str(error) and "known: normal, priority" in str(error)
    assert mocks.resources == []


def test_every_problem_with_the_arguments_is_reported_at_once_each_naming_its_argument() -> None:
    stray = Route("weekly-digest", {"source": ["custom.application"]}, "bulk")
    empty = Route("no pattern", {}, "normal")
    with pytest.raises(InvalidArgs) as refused:
        EventRouterArgs(lane_queues=LANES, routes=(*DEFAULT_ROUTES, stray, empty, DEFAULT_ROUTES[0]),
                        allowed_principals=["12345", PARTNER_ROLE], target_max_retry_attempts=186,
                        target_max_event_age_seconds=59, dead_letter_retention_seconds=0)
    assert [problem.field for problem in refused.value.problems] == [
        "routes.weekly-digest.lane", "routes.no pattern.name", "routes.no pattern.event_pattern",
        "routes.email-notification.name", "allowed_principals", "target_max_retry_attempts",
        "target_max_event_age_seconds", "dead_letter_retention_seconds"]
    message = str(refused.value)
    assert message.startswith("invalid EventRouterArgs:\n")
    assert "routes.weekly-digest.lane: route 'weekly-digest' names lane 'bulk'" in message
    assert "allowed_principals: '12345' is neither a 12-digit account id nor an IAM principal ARN" in message
    assert "target_max_retry_attempts: 186 is outside what AWS accepts (0..185)" in message


def test_a_route_whose_rest_cannot_be_caught_is_reported_with_the_others() -> None:
    prefixed = Route("eu-receipts", {"source": ["shop.orders"], "detail-type": ["Order Receipt"],
                                     "detail": {"region": [{"prefix": "eu-"}]}}, "normal")
    with pytest.raises(InvalidArgs) as refused:
        EventRouterArgs(lane_queues=LANES, routes=(*DEFAULT_ROUTES, prefixed), allowed_principals=["x"])
    assert [problem.field for problem in refused.value.problems] == ["routes", "allowed_principals"]
    assert "'eu-receipts'" in refused.value.problems[0].message


def test_a_route_may_not_take_the_report_schedules_name() -> None:
    """EmailSender's schedule names its DLQ `<name>-daily-report-dlq`; a route's would be the same queue."""
    with pytest.raises(InvalidArgs, match="routes.daily-report.name: route name 'daily-report' is used twice "
                                          r"\(or is the report schedule's 'daily-report'\)"):
        EventRouterArgs(lane_queues=LANES, routes=(*DEFAULT_ROUTES, Route("daily-report", {"source": ["x"]}, "normal")))


def test_a_name_too_long_for_aws_is_refused_with_the_longest_that_fits() -> None:
    errors: list[InvalidArgs] = []

    def program() -> None:
        try:
            EventRouter("r" * 42, EventRouterArgs(lane_queues=LANES))
        except InvalidArgs as exc:
            errors.append(exc)

    mocks = run_program(program)
    [error] = errors
    # The archive (48 characters) and the longest route's rule (64) overflow: both are reported.
    assert [problem.field for problem in error.problems] == ["name", "name"]
    assert f"invalid EventRouter {'r' * 42!r}" in str(error)
    assert "EventBridge archive name" in str(error) and "use a component name of at most 40" in str(error)
    assert f"EventBridge rule name '{'r' * 42}-priority-alert-routine'" in str(error)
    assert mocks.resources == []


def test_a_route_added_as_data_gets_a_rule_target_and_lane_permission_and_nothing_else() -> None:
    before = build_router()
    after = build_router(routes=(*DEFAULT_ROUTES, RECEIPT_ROUTE))
    prefix = f"{NAME}-{RECEIPT_ROUTE.name}"
    normal_policy = f"{NAME}-normal-lane-policy"

    added = {r.name for r in after.resources} - {r.name for r in before.resources}
    assert added == {prefix, f"{prefix}-target", f"{prefix}-dlq", f"{prefix}-dlq-policy"}
    new_rule = by_name(after, RULE)[prefix]
    assert new_rule.inputs["eventPattern"] == '{"detail-type":["Order Receipt"],"source":["shop.orders"]}'
    assert by_name(after, TARGET)[f"{prefix}-target"].inputs["arn"] == LANES["normal"].arn
    [statement] = statements(by_name(after, QUEUE_POLICY)[normal_policy])
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        rule_arn(after, DEFAULT_ROUTES[0]), rule_arn(after, DEFAULT_ROUTES[2]), new_rule.outputs["arn"]
    ]
    unchanged = {(r.typ, r.name): r.inputs for r in after.resources if r.name != normal_policy}
    assert all(unchanged[(r.typ, r.name)] == r.inputs for r in before.resources if r.name != normal_policy)


# --- the declared patterns route the recipe's events (moto EventBridge) ---------------------------


def put_events_entry(sample: str, *, source: str | None = None, **detail: Any) -> dict[str, Any]:
    """A PutEvents entry from a sample event, optionally with another source or detail fields."""
    event = load_event(sample)
    return {
        "Source": source or event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps({**event["detail"], **detail}),
        "EventBusName": BUS,
    }


@contextlib.contextmanager
def moto_bus(declared: RecordingMocks) -> Iterator[Callable[[dict[str, Any]], dict[str, list[dict[str, Any]]]]]:
    """A moto bus carrying exactly the rule patterns the component declared, one queue per rule.

    moto's `test_event_pattern` is a stub, but its PutEvents does match rule patterns and deliver
    to SQS targets, so the declared pattern strings are exercised as EventBridge would.
    """
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        events.create_event_bus(Name=BUS)
        queues: dict[str, str] = {}
        for rule in declared.of_type(RULE):
            route = rule.name.removeprefix(f"{NAME}-")
            url = sqs.create_queue(QueueName=route)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            events.put_rule(Name=rule.inputs["name"], EventBusName=BUS, EventPattern=rule.inputs["eventPattern"])
            events.put_targets(Rule=rule.inputs["name"], EventBusName=BUS, Targets=[{"Id": "lane", "Arn": arn}])
            queues[route] = url

        def put(entry: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
            assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
            received: dict[str, list[dict[str, Any]]] = {}
            for route, url in queues.items():
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if messages:
                    received[route] = [json.loads(m["Body"]) for m in messages]
            return received

        yield put


@pytest.fixture
def deliver(router: RecordingMocks) -> Iterator[Callable[[dict[str, Any]], dict[str, list[dict[str, Any]]]]]:
    with moto_bus(router) as put:
        yield put


@pytest.mark.parametrize(
    ("entry", "routes"),
    [
        pytest.param(put_events_entry("email_notification"), {"email-notification"}, id="notification"),
        pytest.param(put_events_entry("priority_alert"), {"priority-alert"}, id="priority-high"),
        pytest.param(
            put_events_entry("priority_alert", priority="critical"), {"priority-alert"}, id="priority-critical"
        ),
        pytest.param(put_events_entry("priority_alert", priority="HIGH"), {"priority-alert"}, id="priority-HIGH"),
        pytest.param(put_events_entry("priority_alert", priority="Critical"), {"priority-alert"}, id="priority-Critical"),
        # Not an alert, but still mail someone asked for: the normal lane sends it, or dead-letters
        # it with the contract's reason (an invalid priority).
        pytest.param(put_events_entry("priority_alert", priority="low"), {"priority-alert-routine"}, id="priority-low"),
        pytest.param(put_events_entry("priority_alert", priority="normal"), {"priority-alert-routine"},
                     id="priority-normal"),
        pytest.param(put_events_entry("priority_alert", priority="jane@example.com"), {"priority-alert-routine"},
                     id="priority-invalid"),
        pytest.param(put_events_entry("priority_alert", priority=None), {"priority-alert-routine"},
                     id="priority-null"),
        # Routing does not validate: the lane's handler dead-letters the event without a recipient.
        pytest.param(put_events_entry("invalid"), {"email-notification"}, id="invalid-still-routed"),
        pytest.param(put_events_entry("email_notification", source="other.application"), set(), id="other-source"),
    ],
)
def test_declared_patterns_route_the_recipe_events(
    deliver: Callable[[dict[str, Any]], dict[str, list[dict[str, Any]]]], entry: dict[str, Any], routes: set[str]
) -> None:
    received = deliver(entry)
    assert set(received) == routes
    for [message] in received.values():
        assert message["detail"] == json.loads(entry["Detail"])


def test_what_a_filtered_route_leaves_is_caught_by_an_unrouted_rule() -> None:
    gold = Route("gold-receipts", {"source": ["shop.orders"], "detail-type": ["Order Receipt"],
                                   "detail": {"tier": ["gold"]}}, "priority")
    declared = build_router(routes=(*DEFAULT_ROUTES, gold))
    [unrouted] = [name for name in by_name(declared, RULE) if name.startswith(f"{NAME}-unrouted-")]
    receipt = {"Source": "shop.orders", "DetailType": "Order Receipt", "EventBusName": BUS}
    with moto_bus(declared) as put:
        assert set(put({**receipt, "Detail": json.dumps({"tier": "gold"})})) == {"gold-receipts"}
        for detail in ({"tier": "silver"}, {}, {"tier": "GOLD"}):
            assert set(put({**receipt, "Detail": json.dumps(detail)})) == {unrouted.removeprefix(f"{NAME}-")}
    target = by_name(declared, TARGET)[f"{unrouted}-target"]
    queues = {q.outputs["arn"]: q.name for q in declared.of_type(QUEUE)}
    assert (queues[target.inputs["arn"]], queues[target.inputs["deadLetterConfig"]["arn"]]) == (
        f"{NAME}-unrouted", f"{NAME}-unrouted-dlq")
    assert declared.result["unrouted_rule_names"] == [unrouted]  # type: ignore[attr-defined]


def test_a_filtered_route_whose_rest_cannot_be_caught_is_refused_before_anything_is_declared() -> None:
    errors: list[ValueError] = []
    prefixed = Route("eu-receipts", {"source": ["shop.orders"], "detail-type": ["Order Receipt"],
                                     "detail": {"region": [{"prefix": "eu-"}]}}, "normal")

    def program() -> None:
        try:
            EventRouter(NAME, EventRouterArgs(lane_queues=LANES, routes=(*DEFAULT_ROUTES, prefixed)))
        except ValueError as exc:
            errors.append(exc)

    mocks = run_program(program)
    [error] = errors
    assert "'eu-receipts'" in str(error) and "without detail filters" in str(error)
    assert mocks.resources == []


def test_every_queue_refuses_requests_without_tls(router: RecordingMocks) -> None:
    policies = {p.inputs["queueUrl"]: json.loads(p.inputs["policy"]) for p in router.of_type(QUEUE_POLICY)}
    for queue in router.of_type(QUEUE):
        [deny] = [s for s in policies[queue.outputs["url"]]["Statement"] if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, queue.name
        assert (deny["Principal"], deny["Resource"]) == ("*", queue.outputs["arn"])
