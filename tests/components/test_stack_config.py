"""Stack config is checked before anything is declared, with one message per problem."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ses_email_pipeline.sender_args import EmailSenderArgs
from ses_email_pipeline.stack_config import ConfigErrors, parse

VALID: dict[str, Any] = {
    "sender": "Dev <dev@example.com>",
    "identity": "example.com",
    "recipientAllowlist": ["@example.com"],
}


def problems(**changes: Any) -> list[str]:
    with pytest.raises(ConfigErrors) as caught:
        parse({**VALID, **changes}, recipient_hash_key="k")
    return caught.value.problems


def test_valid_config_parses_with_defaults() -> None:
    settings = parse(VALID, recipient_hash_key="k")
    assert [lane.name for lane in settings.lanes] == ["normal", "priority"]
    assert [route.name for route in settings.routes] == ["email-notification", "priority-alert",
                                                         "priority-alert-routine"]
    assert [lane.delivery.value for lane in settings.lanes] == ["at-most-once", "at-least-once"]
    # Unset: EmailSenderArgs' own default applies, declared once (the parser passes nothing for it).
    assert "reportSchedule" not in VALID and "reportTimezone" not in VALID
    defaults = {f.name: f.default for f in dataclasses.fields(EmailSenderArgs)}
    assert (settings.sender_args.report_schedule, settings.sender_args.report_timezone) == (
        defaults["report_schedule"], defaults["report_timezone"])


def test_the_report_schedule_is_the_senders_setting() -> None:
    """The report's schedule belongs to the report's owner, EmailSender."""
    settings = parse({**VALID, "reportSchedule": "rate(1 day)", "reportTimezone": "Europe/Berlin"},
                     recipient_hash_key="k")
    assert (settings.sender_args.report_schedule, settings.sender_args.report_timezone) == (
        "rate(1 day)", "Europe/Berlin")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"sender": "not an address"}, "sender: 'not an address' is not an address"),
        ({"identity": "other.org"}, "must be the identity 'other.org'"),
        ({"identity": "bad identity"}, "identity: 'bad identity' is neither a domain nor an email address"),
        ({"laneShares": {"normal": 0.8, "priority": 0.4}}, "sum to 1.2"),
        ({"laneDelivery": {"normal": "exactly-once"}}, "laneDelivery.normal: must be at-most-once or at-least-once"),
        ({"laneDelivery": {"bulk": "at-least-once"}}, "laneDelivery.bulk: no such lane"),
        ({"laneShares": {"normal": 0.5, "priority": 0.2, "Bulk Mail": 0.3}}, "laneShares.Bulk Mail: lane names"),
        ({"laneShares": {"normal": 1.0}}, "laneShares.priority: must be above 0"),
        ({"accountSendRate": 0.1}, "raise the account send rate"),
        ({"accountSendRate": -1}, "accountSendRate: -1 must be a positive number"),
        ({"batchSizes": {"normal": 50}}, "batchSizes.normal: 50 must be between 1 and 10"),
        ({"recipientAllowlist": []}, "recipientAllowlist: required on non-production stacks"),
        ({"alarmEmail": "ops"}, "alarmEmail: 'ops' is not an email address"),
        ({"logRetentionDays": 10}, "logRetentionDays: 10 is not a CloudWatch retention"),
        ({"maxReceiveCount": 2}, "maxReceiveCount: 2 is too low"),
        ({"reportRecipients": ["x"]}, "reportRecipients: 1 entries are not email addresses"),
        ({"routes": [{"name": "r", "eventPattern": {"source": ["x"]}, "lane": "bulk"}]},
         "routes[0] (r).lane: no lane 'bulk'"),
    ],
)
def test_each_problem_says_what_to_change(changes: dict[str, Any], expected: str) -> None:
    assert any(expected in problem for problem in problems(**changes)), problems(**changes)


def test_every_problem_is_reported_at_once() -> None:
    found = problems(sender="x", alarmEmail="y", logRetentionDays=2)
    assert len(found) == 3


def test_production_stack_needs_no_allowlist() -> None:
    assert parse({**VALID, "recipientAllowlist": [], "production": True}, recipient_hash_key="k").production


def test_a_lane_added_in_config_is_a_templated_lane() -> None:
    settings = parse({**VALID, "accountSendRate": 14, "laneShares": {"normal": 0.5, "priority": 0.2, "bulk": 0.3},
                      "batchSizes": {"bulk": 10}}, recipient_hash_key="k")
    bulk = settings.lanes[-1]
    assert (bulk.name, bulk.handler, bulk.rate_share, bulk.reserved) == ("bulk", "handlers.templated.handler", 0.3, False)


def test_route_added_in_config_joins_the_defaults() -> None:
    settings = parse({**VALID, "routes": [{"name": "order-receipts", "eventPattern": {"source": ["shop.orders"]},
                                           "lane": "normal"}]}, recipient_hash_key="k")
    assert settings.routes[-1].name == "order-receipts"


def test_the_batch_check_charges_every_recipient_the_priority_lane_adds() -> None:
    """At 1 recipient/s a 5-alert batch to a recipient and on-call needs about 67 s of pacing."""
    found = problems(oncallRecipients=["oncall@example.com"], batchSizes={"priority": 5})
    assert any(p.startswith("lane priority:") and "at least 2 recipient(s) each" in p and "66.6667 s" in p
               for p in found), found
    parse({**VALID, "oncallRecipients": ["oncall@example.com"], "batchSizes": {"priority": 2}},
          recipient_hash_key="k")


def test_the_batch_check_keeps_one_sends_worst_case_in_hand() -> None:
    from ses_email_pipeline.handlers.shared.timeouts import SEND_RESERVE_SECONDS
    from ses_email_pipeline.stack_config import SEND_MARGIN_SECONDS

    assert SEND_MARGIN_SECONDS == SEND_RESERVE_SECONDS == 24


def test_a_reuser_gets_the_same_checks_from_the_args_class() -> None:
    """EmailSenderArgs checks itself: the stack config only renames its problems."""
    from ses_email_pipeline.checks import InvalidArgs

    with pytest.raises(InvalidArgs) as caught:
        EmailSenderArgs(sender="x", identity="example.com", recipient_hash_key="k", log_retention_days=10,
                        oncall_recipients=["not-an-address"], account_send_rate=14)
    assert {problem.field for problem in caught.value.problems} == {"sender", "log_retention_days",
                                                                    "oncall_recipients"}


def test_templates_without_the_default_or_report_template_are_refused_at_preview(tmp_path: Any) -> None:
    from ses_email_pipeline.checks import InvalidArgs

    (tmp_path / "receipt" / "v1").mkdir(parents=True)
    for name in ("subject.txt", "body.html", "body.txt"):
        (tmp_path / "receipt" / "v1" / name).write_text("{{orderId}}")
    with pytest.raises(InvalidArgs) as caught:
        EmailSenderArgs(sender="a@example.com", identity="example.com", recipient_hash_key="k",
                        templates_dir=str(tmp_path))
    messages = [str(problem) for problem in caught.value.problems]
    assert any("'notification'" in m for m in messages) and any("'daily-report'" in m for m in messages)


def test_defaults_are_declared_once_pulumi_yaml_matches_the_args() -> None:
    """Pulumi.yaml's defaults (which the CLI applies) are the Args classes' own."""
    import yaml

    from local.program import ROOT
    from ses_email_pipeline.lanes import LaneConfig
    from ses_email_pipeline.stack_config import _SENDER_ARGS

    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    defaults = {f.name: f.default for f in dataclasses.fields(EmailSenderArgs)}
    for key, field_name in _SENDER_ARGS.items():
        if "default" in declared.get(key, {}) and defaults[field_name] is not dataclasses.MISSING:
            default = defaults[field_name]
            assert declared[key]["default"] == (list(default) if isinstance(default, tuple) else default), key
    lane_default = {f.name: f.default for f in dataclasses.fields(LaneConfig)}["max_receive_count"]
    assert declared["maxReceiveCount"]["default"] == lane_default


# --- keys and fields a user misspells: one problem each, with the closest known name --------------

ORDER_SHIPPED = {"name": "order-shipped", "lane": "normal",
                 "eventPattern": {"source": ["shop.orders"], "detail-type": ["Order Shipped"]}}


def route(**changes: Any) -> dict[str, Any]:
    return {**ORDER_SHIPPED, **changes}


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ([route(eventPattern={"source": ["shop.orders"], "detail_type": ["Order Shipped"]})],
         "routes[0] (order-shipped).eventPattern.detail_type: 'detail_type' is not a field of an EventBridge event, "
         "so the route would match nothing; did you mean detail-type?"),
        ([route(lane="normla")],
         "routes[0] (order-shipped).lane: no lane 'normla'; did you mean normal? (lanes are named in laneShares)"),
        ([{**{k: v for k, v in ORDER_SHIPPED.items() if k != "eventPattern"},
           "event_pattern": ORDER_SHIPPED["eventPattern"]}],
         "routes[0] (order-shipped).event_pattern: not a field of a route; did you mean eventPattern?"),
        ([route(lanes="normal")], "routes[0] (order-shipped).lanes: not a field of a route; did you mean lane?"),
        ([route(eventPattern=["shop.orders"])], "routes[0] (order-shipped).eventPattern: must be an object, e.g. "
                                                 "{source: [shop.orders], detail-type: [Order Shipped]}"),
        (["order-shipped"], "routes[0]: must be an object with name, lane, eventPattern"),
    ],
    ids=["pattern key", "lane", "route key", "route key 2", "pattern not an object", "route not an object"],
)
def test_a_misspelt_route_is_one_line_naming_the_closest_known_name(routes: list[Any], expected: str) -> None:
    assert problems(routes=routes) == [expected]


def test_a_pattern_typo_is_reported_even_beside_another_mistake_in_the_route() -> None:
    found = problems(routes=[route(lane="normla", eventPattern={"source": ["shop.orders"], "detail_type": ["x"]})])
    assert [problem.split(":")[0] for problem in found] == [
        "routes[0] (order-shipped).lane", "routes[0] (order-shipped).eventPattern.detail_type"]


@pytest.mark.parametrize(("setting", "shape"), [("routes", {"name": "r"}), ("laneShares", [0.5]), ("tags", "x")])
def test_a_structured_setting_of_the_wrong_shape_is_one_line(setting: str, shape: Any) -> None:
    kind = "a list" if setting == "routes" else "an object"
    assert problems(**{setting: shape}) == [f"{setting}: must be {kind} (Pulumi.yaml's comment shows its shape)"]


def test_a_batch_size_for_a_misspelt_lane_names_the_lane_it_means() -> None:
    assert "batchSizes.normla: no such lane; did you mean normal? (lanes are named in laneShares)" in problems(
        batchSizes={"normla": 5})
