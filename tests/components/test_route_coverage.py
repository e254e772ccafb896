"""route_coverage: the patterns of what a (source, detail-type) pair's routes leave, checked against moto's matcher."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from moto.events.models import EventPattern

from ses_email_pipeline.routes import DEFAULT_ROUTES, Route
from ses_email_pipeline.route_coverage import Unrouted, unrouted_patterns

SOURCE = "shop.orders"
DETAIL_TYPE = "Order Placed"
ENVELOPE = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}


def route(name: str, detail: Mapping[str, Any] | None = None, **envelope: list[Any]) -> Route:
    """A route for SOURCE / DETAIL_TYPE (or the envelope given, `detail_type` for `detail-type`)."""
    pattern: dict[str, Any] = dict(ENVELOPE)
    pattern.update({key.replace("_", "-"): value for key, value in envelope.items()})
    if detail is not None:
        pattern["detail"] = detail
    return Route(name, pattern, "normal")


def left_by(*routes: Route) -> Mapping[str, Any]:
    """The one unrouted pattern `routes` leave."""
    [unrouted] = unrouted_patterns(routes)
    return unrouted.pattern


# --- what is left ---------------------------------------------------------------------------------


def test_default_routes_leave_nothing_unrouted() -> None:
    assert unrouted_patterns(DEFAULT_ROUTES) == []


def test_route_without_detail_filter_covers_its_pair_even_when_another_route_filters() -> None:
    routes = [route("gold", {"tier": ["gold"]}), route("everything")]

    assert unrouted_patterns(routes) == []


def test_exact_value_leaves_anything_but_that_value_or_a_missing_field() -> None:
    assert unrouted_patterns([route("gold", {"tier": ["gold"]})]) == [Unrouted(SOURCE, DETAIL_TYPE, {
        "source": [SOURCE],
        "detail-type": [DETAIL_TYPE],
        "detail": {"tier": [{"anything-but": ["gold"]}, {"exists": False}]},
    })]


def test_equals_ignore_case_leaves_anything_but_those_in_any_case_sorted_or_a_missing_field() -> None:
    pattern = left_by(route("gold", {"tier": [{"equals-ignore-case": "Silver"}, {"equals-ignore-case": "GOLD"}]}))

    assert pattern["detail"] == {
        "tier": [{"anything-but": {"equals-ignore-case": ["gold", "silver"]}}, {"exists": False}]}


def test_exists_true_leaves_only_a_missing_field() -> None:
    assert left_by(route("tiered", {"tier": [{"exists": True}]}))["detail"] == {"tier": [{"exists": False}]}


def test_anything_but_leaves_exactly_those_values_or_a_missing_field() -> None:
    pattern = left_by(route("common", {"tier": [{"anything-but": ["silver", "gold"]}]}))

    assert pattern["detail"] == {"tier": ["gold", "silver", {"exists": False}]}


def test_nested_detail_path_is_kept_in_the_pattern() -> None:
    pattern = left_by(route("gold", {"customer": {"tier": ["gold"]}}))

    assert pattern == {**ENVELOPE, "detail": {"customer": {"tier": [{"anything-but": ["gold"]}, {"exists": False}]}}}


def test_route_listing_two_sources_and_two_detail_types_leaves_one_pattern_per_pair() -> None:
    routes = [route("gold", {"tier": ["gold"]}, source=["a", "b"], detail_type=["X", "Y"])]

    unrouted = unrouted_patterns(routes)

    assert [(u.source, u.detail_type) for u in unrouted] == [("a", "X"), ("a", "Y"), ("b", "X"), ("b", "Y")]
    assert all(u.pattern["source"] == [u.source] and u.pattern["detail-type"] == [u.detail_type] for u in unrouted)


def test_unrouted_key_is_eight_hex_characters_stable_per_pair_and_distinct_between_pairs() -> None:
    routes = [route("gold", {"tier": ["gold"]}, source=["a", "b"], detail_type=["X", "Y"])]

    keys = [u.key for u in unrouted_patterns(routes)]

    assert all(re.fullmatch(r"[0-9a-f]{8}", key) for key in keys)
    assert len(set(keys)) == 4
    assert keys == [u.key for u in unrouted_patterns(routes)]
    assert Unrouted("a", "X", {}).key == keys[0]


# --- what is refused ------------------------------------------------------------------------------


@pytest.mark.parametrize("matcher", [
    {"prefix": "go"},
    {"numeric": [">", 3]},
    {"wildcard": "g*d"},
], ids=["prefix", "numeric", "wildcard"])
def test_matcher_that_cannot_be_complemented_is_refused_naming_the_route(matcher: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="route 'fancy'"):
        unrouted_patterns([route("fancy", {"tier": [matcher]})])


def test_two_routes_of_one_pair_filtering_different_fields_are_refused_naming_them() -> None:
    routes = [route("gold", {"tier": ["gold"]}), route("europe", {"region": ["eu"]})]

    with pytest.raises(ValueError, match="different detail fields") as refused:
        unrouted_patterns(routes)

    assert "'gold'" in str(refused.value) and "'europe'" in str(refused.value)


@pytest.mark.parametrize("envelope", [
    pytest.param({"source": [SOURCE]}, id="no-detail-type"),
    pytest.param({"source": [SOURCE, 7], "detail-type": [DETAIL_TYPE]}, id="non-string-source"),
    pytest.param({"source": SOURCE, "detail-type": [DETAIL_TYPE]}, id="source-not-a-list"),
])
def test_filtered_route_without_plain_string_source_and_detail_type_lists_is_refused(
        envelope: dict[str, Any]) -> None:
    filtered = Route("gold", {**envelope, "detail": {"tier": ["gold"]}}, "normal")

    with pytest.raises(ValueError, match="route 'gold'"):
        unrouted_patterns([filtered])


def test_mixing_exact_and_equals_ignore_case_on_one_field_is_refused_naming_the_route() -> None:
    with pytest.raises(ValueError, match="route 'gold'.*mixes exact and equals-ignore-case"):
        unrouted_patterns([route("gold", {"tier": ["gold", {"equals-ignore-case": "silver"}]})])


# --- the patterns route as EventBridge would (moto's matcher) -----------------------------------------------


ROUTE_SETS = {
    "exact": [route("gold", {"tier": ["gold"]})],
    "exact-two-routes": [route("gold", {"tier": ["gold"]}), route("silver", {"tier": ["silver"]})],
    "ignore-case": [route("gold", {"tier": [{"equals-ignore-case": "gold"}]})],
    "exists": [route("tiered", {"tier": [{"exists": True}]})],
    "anything-but": [route("common", {"tier": [{"anything-but": ["gold"]}]})],
    "anything-but-ignore-case": [route("common", {"tier": [{"anything-but": {"equals-ignore-case": ["gold"]}}]})],
    "missing": [route("untiered", {"tier": [{"exists": False}]})],
}
EVENTS = {
    "gold": {"order": "1", "tier": "gold"},
    "silver": {"order": "2", "tier": "silver"},
    "missing-tier": {"order": "3"},
    "GOLD": {"order": "4", "tier": "GOLD"},
}


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    return EventPattern.load(json.dumps(pattern)).matches_event(dict(event))


@pytest.mark.parametrize("detail", EVENTS.values(), ids=EVENTS.keys())
@pytest.mark.parametrize("routes", ROUTE_SETS.values(), ids=ROUTE_SETS.keys())
def test_every_event_matches_exactly_one_route_or_unrouted_pattern(routes: list[Route],
                                                                    detail: dict[str, Any]) -> None:
    event = {"source": SOURCE, "detail-type": DETAIL_TYPE, "detail": detail}
    patterns = {r.name: r.event_pattern for r in routes}
    patterns.update({f"unrouted-{u.key}": u.pattern for u in unrouted_patterns(routes)})

    assert len([name for name, pattern in patterns.items() if matches(pattern, event)]) == 1, patterns
