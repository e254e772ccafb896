"""Routes as data: which events go to which lane (`Route`, `DEFAULT_ROUTES`), and what a set of routes must satisfy.

`EventRouter` turns each route into a rule, a target and a dead-letter queue; this module holds
what needs no Pulumi runtime: the routes themselves, their patterns as EventBridge reads them,
and `route_problems`, the checks `EventRouterArgs` runs on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .checks import Problem, did_you_mean
from .report_schedule import SCHEDULE_LABEL
from .route_coverage import unrouted_patterns

#: Route names the stack's other resources take: EmailSender's report schedule names its
#: dead-letter queue `<name>-daily-report-dlq`, which a route of that name would collide with.
RESERVED_ROUTE_NAMES = (SCHEDULE_LABEL,)
_NAME_PART = re.compile(r"^[A-Za-z0-9_-]+$")
#: The fields of an event a pattern can name at its top level: the envelope every EventBridge event
#: has (EventBridge User Guide, "Amazon EventBridge events") and `$or` ("Content filtering in event
#: patterns"). PutRule accepts any other key, and the rule then matches nothing: `detail_type` for
#: `detail-type` would route no event at all.
EVENT_FIELDS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail", "$or")


@dataclass(frozen=True)
class Route:
    """A route declared as data: events matching `event_pattern` go to lane `lane`."""

    name: str
    event_pattern: Mapping[str, Any]
    lane: str


DEFAULT_ROUTES: tuple[Route, ...] = (
    Route(
        "email-notification",
        {"source": ["custom.application"], "detail-type": ["Email Notification Request"]},
        "normal",
    ),
    # Priorities match in any case ("HIGH" is high). An alert that is not high or critical (low,
    # normal, missing, or a value the contract refuses) is still mail someone asked for: the
    # normal lane sends it as ordinary mail, or dead-letters it with the reason.
    Route(
        "priority-alert",
        {
            "source": ["custom.application"],
            "detail-type": ["Priority Alert"],
            "detail": {"priority": [{"equals-ignore-case": "high"}, {"equals-ignore-case": "critical"}]},
        },
        "priority",
    ),
    Route(
        "priority-alert-routine",
        {
            "source": ["custom.application"],
            "detail-type": ["Priority Alert"],
            "detail": {"priority": [{"anything-but": {"equals-ignore-case": ["critical", "high"]}},
                                    {"exists": False}]},
        },
        "normal",
    ),
)


def event_pattern_json(pattern: Mapping[str, Any]) -> str:
    """Serialize an event pattern deterministically, so a second preview shows no diff."""
    return json.dumps(pattern, sort_keys=True, separators=(",", ":"), default=_plain_mapping)


def _plain_mapping(value: object) -> dict[str, Any]:
    """Let read-only mappings (e.g. `MappingProxyType`) appear in patterns; json only knows dict."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"event patterns hold mappings, lists and scalars, not {type(value).__name__}")


def route_problems(routes: Sequence[Route], lanes: Collection[str]) -> list[Problem]:
    """Routes that name no known lane, cannot name resources, repeat, match nothing in particular, or leave
    events no catch-all rule could take (`route_coverage`).

    Args:
        routes: the routes, in order.
        lanes: the lanes there are queues for.

    Returns:
        One problem per thing wrong, about `routes.<name>.<field>` (or `routes` as a whole).
    """
    problems = []
    seen: set[str] = set()
    for route in routes:
        where = f"routes.{route.name}"
        if route.lane not in lanes:
            problems.append(Problem(f"{where}.lane", (
                f"route {route.name!r} names lane {route.lane!r}, which is not in lane_queues"
                f"{did_you_mean(route.lane, lanes)} (add the lane's queue or fix the route)")))
        problems += pattern_field_problems(route)
        for part, label, value in (("name", "route name", route.name), ("lane", "lane name", route.lane)):
            if not _NAME_PART.match(value):
                problems.append(Problem(f"{where}.{part}", f"{label} {value!r} must use only letters, digits, '-' "
                                                           "and '_'"))
        if route.name in seen or route.name in RESERVED_ROUTE_NAMES:
            problems.append(Problem(f"{where}.name", (
                f"route name {route.name!r} is used twice (or is the report schedule's {SCHEDULE_LABEL!r}); "
                "route names must be unique")))
        seen.add(route.name)
        if not route.event_pattern:
            problems.append(Problem(f"{where}.event_pattern", f"route {route.name!r} has an empty event pattern; it "
                                                              "must match something specific"))
    try:
        # A pattern naming a field events lack is reported above; its coverage would only mislead.
        unrouted_patterns([route for route in routes if not pattern_field_problems(route)])
    except ValueError as exc:  # the message names the route and how to write it instead
        problems.append(Problem("routes", str(exc)))
    return problems


def pattern_field_problems(route: Route) -> list[Problem]:
    """Top-level pattern keys no event has (`detail_type`): the rule would match nothing."""
    return [Problem(f"routes.{route.name}.event_pattern.{key}",
                    f"{key!r} is not a field of an EventBridge event, so the route would match nothing"
                    f"{did_you_mean(str(key), EVENT_FIELDS)}")
            for key in sorted(set(route.event_pattern) - set(EVENT_FIELDS), key=str)]
