"""Which pipeline events no route takes: the event patterns of the "unrouted" catch-all rules.

EventBridge has no "else" rule: an event that matches no rule is accepted by PutEvents and then
goes nowhere (only the archive keeps it). The pipeline accepts events by `source` and
`detail-type`; a route that also filters on a detail field (the priority lane takes only high and
critical alerts) leaves the rest of that source and detail-type to nobody. This module computes,
for each accepted (source, detail-type) pair, the pattern of exactly what its routes leave, so
the router can send it to an alarmed "unrouted" queue instead of losing it.

Complementing any event pattern is not possible in one rule, so routes that filter on detail
fields are held to a form that can be complemented exactly: source and detail-type as lists of
plain strings, and one detail field per (source, detail-type) with matchers of the kinds below.
Anything else is refused with a message saying how to write the route instead.

| matcher                                        | set of values it takes                    |
|------------------------------------------------|-------------------------------------------|
| `"high"`, `3`                                  | exactly those values                      |
| `{"equals-ignore-case": "high"}`               | those strings, in any case                |
| `{"anything-but": [...]}`                      | every present value but those             |
| `{"anything-but": {"equals-ignore-case": ...}}`| every present value but those, any case   |
| `{"exists": true}` / `{"exists": false}`       | any present value / the field missing     |

Semantics as documented in the EventBridge User Guide, "Content filtering in event patterns";
`anything-but` and value matchers never match a missing field, `exists: false` only does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

_ENVELOPE = ("source", "detail-type")
_EXACT = "exact"
_IGNORE_CASE = "ignore-case"


class RouteLike(Protocol):
    """What this module reads of a route: its name and event pattern."""

    name: str
    event_pattern: Mapping[str, Any]


@dataclass(frozen=True)
class Unrouted:
    """Events of one source and detail-type that no route takes, as an event pattern."""

    source: str
    detail_type: str
    pattern: Mapping[str, Any]

    @property
    def key(self) -> str:
        """A short stable name part: the same pair always gets the same rule name."""
        return hashlib.sha256(f"{self.source}\0{self.detail_type}".encode()).hexdigest()[:8]


@dataclass(frozen=True)
class _ValueSet:
    """A set of present values: `values` itself (finite), or all present values but `values`."""

    values: frozenset[Any]
    cofinite: bool

    def union(self, other: _ValueSet) -> _ValueSet:
        if not self.cofinite and not other.cofinite:
            return _ValueSet(self.values | other.values, cofinite=False)
        if self.cofinite and other.cofinite:
            return _ValueSet(self.values & other.values, cofinite=True)
        finite, cofinite = (self, other) if other.cofinite else (other, self)
        return _ValueSet(cofinite.values - finite.values, cofinite=True)


_NOTHING = _ValueSet(frozenset(), cofinite=False)
_EVERYTHING = _ValueSet(frozenset(), cofinite=True)


@dataclass(frozen=True)
class _Filter:
    """One route's condition on one detail field."""

    path: tuple[str, ...]
    mode: str | None  # None: only mode-free matchers (exists)
    taken: _ValueSet
    takes_missing: bool


def unrouted_patterns(routes: Sequence[RouteLike]) -> list[Unrouted]:
    """The events each accepted (source, detail-type) pair's routes leave, if any.

    Raises:
        ValueError: a route filters on detail fields in a form that cannot be complemented,
            naming the route and how to write it instead.
    """
    envelopes = {route.name: _envelope(route) for route in routes}
    filters = {route.name: _detail_filter(route) for route in routes}
    pairs = sorted({(s, t) for sources, types in envelopes.values() if sources and types
                    for s in sources for t in types})
    unrouted = []
    for source, detail_type in pairs:
        covering = [name for name, (sources, types) in envelopes.items()
                    if (sources is None or source in sources) and (types is None or detail_type in types)]
        if any(filters[name] is None for name in covering):
            continue  # a route takes every event of the pair
        pattern = _complement([filters[name] for name in covering], covering, source, detail_type)  # type: ignore[misc]
        if pattern is not None:
            unrouted.append(Unrouted(source, detail_type, pattern))
    return unrouted


def _envelope(route: RouteLike) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The route's sources and detail-types when listed as plain strings; None means "any"."""
    filtered = bool(set(route.event_pattern) - set(_ENVELOPE))
    result = []
    for key in _ENVELOPE:
        value = route.event_pattern.get(key)
        if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
            result.append(frozenset(value))
        elif filtered:
            raise ValueError(
                f"route {route.name!r}: it filters on detail fields, so its {key} must be a list of plain strings "
                "(the router catches what it leaves per source and detail-type)")
        else:
            result.append(None)  # a route without detail filters takes every event of its envelope
    return result[0], result[1]


def _detail_filter(route: RouteLike) -> _Filter | None:
    """The route's one detail condition, or None when it takes its whole envelope."""
    rest = {key: value for key, value in route.event_pattern.items() if key not in _ENVELOPE}
    if not rest:
        return None
    how = (f"route {route.name!r}: the router can only catch what a route leaves when the route filters on one "
           "detail field with values, equals-ignore-case, anything-but or exists; split the route, or add a route "
           "without detail filters for its source and detail-type that takes the rest")
    path: list[str] = []
    node: Any = rest
    while isinstance(node, Mapping):
        if len(node) != 1:
            raise ValueError(how)
        key, node = next(iter(node.items()))
        path.append(key)
    if path[0] != "detail" or len(path) < 2 or not isinstance(node, list) or not node:
        raise ValueError(how)
    mode: str | None = None
    taken, missing = _NOTHING, False
    for matcher in node:
        matcher_mode, matched, takes_missing = _matcher(matcher, how)
        if matcher_mode is not None and mode is not None and matcher_mode != mode:
            raise ValueError(f"route {route.name!r}: mixes exact and equals-ignore-case values on one field; "
                             "use one kind, so the router can tell exactly what the route leaves")
        mode = mode or matcher_mode
        taken, missing = taken.union(matched), missing or takes_missing
    return _Filter(tuple(path), mode, taken, missing)


def _matcher(matcher: Any, how: str) -> tuple[str | None, _ValueSet, bool]:
    """(mode, values taken, whether a missing field is taken) for one matcher."""
    if not isinstance(matcher, Mapping):
        return _EXACT, _ValueSet(frozenset({_hashable(matcher)}), cofinite=False), False
    if len(matcher) != 1:
        raise ValueError(how)
    kind, value = next(iter(matcher.items()))
    if kind == "exists" and isinstance(value, bool):
        return None, (_EVERYTHING if value else _NOTHING), not value
    if kind == "equals-ignore-case" and isinstance(value, str):
        return _IGNORE_CASE, _ValueSet(frozenset({value.lower()}), cofinite=False), False
    if kind == "anything-but":
        if isinstance(value, Mapping) and set(value) == {"equals-ignore-case"}:
            names = _as_list(value["equals-ignore-case"])
            if all(isinstance(name, str) for name in names):
                return _IGNORE_CASE, _ValueSet(frozenset(name.lower() for name in names), cofinite=True), False
        elif not isinstance(value, Mapping):
            return _EXACT, _ValueSet(frozenset(_hashable(item) for item in _as_list(value)), cofinite=True), False
    raise ValueError(how)


def _complement(filters: Sequence[_Filter], names: Sequence[str], source: str, detail_type: str) -> dict[str, Any] | None:
    """The pattern of the pair's events that none of `filters` takes, or None if they take all."""
    paths = {f.path for f in filters}
    if len(paths) != 1:
        raise ValueError(
            f"routes {sorted(names)} filter events of source {source!r} and detail-type {detail_type!r} on different "
            "detail fields; the router cannot tell what they leave. Add a route without detail filters for that "
            "source and detail-type (it takes the rest), or filter all of them on one field")
    modes = {f.mode for f in filters if f.mode is not None}
    if len(modes) > 1:
        raise ValueError(f"routes {sorted(names)} mix exact and equals-ignore-case values on one field; use one kind")
    mode = modes.pop() if modes else _EXACT
    taken, missing = _NOTHING, False
    for item in filters:
        taken, missing = taken.union(item.taken), missing or item.takes_missing
    matchers = _matchers_for(_ValueSet(taken.values, cofinite=not taken.cofinite), mode)
    if not missing:
        matchers.append({"exists": False})
    if not matchers:
        return None
    node: Any = matchers
    for key in reversed(next(iter(paths))):
        node = {key: node}
    return {"source": [source], "detail-type": [detail_type], **node}


def _matchers_for(values: _ValueSet, mode: str) -> list[Any]:
    ordered = sorted(values.values, key=lambda value: json.dumps(value))
    if values.cofinite:
        if not ordered:
            return [{"exists": True}]
        if mode == _IGNORE_CASE:
            return [{"anything-but": {"equals-ignore-case": ordered}}]
        return [{"anything-but": ordered}]
    if mode == _IGNORE_CASE:
        return [{"equals-ignore-case": value} for value in ordered]
    return list(ordered)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _hashable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise ValueError(f"event pattern values are strings, numbers, booleans or null, not {type(value).__name__}")
