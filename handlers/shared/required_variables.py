"""Which variables an SES template prints for an event's data, so incomplete data is refused up front.

SES accepts a templated send and only later, asynchronously, reports a rendering failure (a
`RenderingFailure` event) for data that lacks a variable the template prints: the caller sees
success and the recipient gets nothing. Checking the data before sending turns that silent loss
into a specific, dead-lettered validation error. The check must not be stricter than SES, or
optional content becomes impossible: a variable printed only in a block SES skips is not needed.

At deploy time `components/handlebars.py` parses each template and records every top-level
variable it prints with the conditions on the data under which it is printed (`VariableUses`); the
catalog carries that to the handlers, which evaluate it here against each event's data. The
conditions follow Handlebars, which SES templates are (handlebars.js `lib/handlebars/helpers/
{if,each,with}.js` and `Utils.isEmpty` in `lib/handlebars/utils.js`;
https://handlebarsjs.com/guide/builtin-helpers.html):

- `{{#if x}}` renders its block when `x` is truthy, else its `{{else}}`. Falsy are false,
  null/missing, "", 0 and []; an empty object `{}` is truthy. `includeZero=true` makes 0 truthy.
  `{{#unless x}}` is `{{#if x}}` with the branches swapped.
- `{{#each x}}` renders its block per item of a list or value of an object, its `{{else}}` when
  there is none (missing, empty, or neither a list nor an object).
- `{{#with x}}` renders its block unless `x` is empty (false, null/missing, "" or [], not 0).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple


def resolve(path: str, context: Any) -> Any:
    """The value `path` (`a`, `a.b`, `this.a`) names in `context` as Handlebars looks it up; None if none."""
    for prefix in ("this.", "./"):
        if path.startswith(prefix):
            path = path[len(prefix):]
    if path in ("this", "."):
        return context
    current = context
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif part == "length" and isinstance(current, (list, str)):
            current = len(current)  # `{{#if items.length}}`: JavaScript arrays and strings have it
        else:
            return None
    return current


def _truthy(value: Any) -> bool:
    """`{{#if}}`: false, null, "", 0 and [] are falsy; an empty object is truthy."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (str, list)):
        return len(value) > 0
    return True


def _non_empty(value: Any) -> bool:
    """Not `Utils.isEmpty`: truthy, or 0 (`{{#with}}`, `{{#if x includeZero=true}}`)."""
    return _truthy(value) or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _has_items(value: Any) -> bool:
    """`{{#each}}` iterates: a non-empty list, or an object with at least one key."""
    return isinstance(value, (list, Mapping)) and len(value) > 0


class State(enum.Enum):
    """A state a block's argument can be in; a block renders one of its branches per state."""

    TRUTHY = "truthy"
    FALSY = "falsy"
    NON_EMPTY = "nonEmpty"
    EMPTY = "empty"
    HAS_ITEMS = "hasItems"
    NO_ITEMS = "noItems"

    def holds(self, value: Any) -> bool:
        """Whether `value` is in this state."""
        return _STATE_TESTS[self](value)


_STATE_TESTS: dict[State, Callable[[Any], bool]] = {
    State.TRUTHY: _truthy,
    State.FALSY: lambda value: not _truthy(value),
    State.NON_EMPTY: _non_empty,
    State.EMPTY: lambda value: not _non_empty(value),
    State.HAS_ITEMS: _has_items,
    State.NO_ITEMS: lambda value: not _has_items(value),
}


class Condition(NamedTuple):
    """A block's argument, a path in the data, is in a given state."""

    path: str
    state: State

    def holds(self, context: Any) -> bool:
        """Whether the condition holds for the data (or a block's context)."""
        return self.state.holds(resolve(self.path, context))


class Use(NamedTuple):
    """A top-level variable printed where every one of the conditions holds (none: always)."""

    name: str
    when: tuple[Condition, ...] = ()

    def applies(self, data: Mapping[str, Any]) -> bool:
        """Whether the data meets every condition, so SES prints this use."""
        return all(condition.holds(data) for condition in self.when)


class VariableUses(NamedTuple):
    """Where a template, or a part of it, prints top-level variables."""

    uses: frozenset[Use] = frozenset()

    @classmethod
    def of(cls, uses: Iterable[Use]) -> VariableUses:
        """The uses, less the conditional ones of a variable also printed unconditionally."""
        found = set(uses)
        always = {use.name for use in found if not use.when}
        return cls(frozenset(use for use in found if not use.when or use.name not in always))

    @property
    def names(self) -> frozenset[str]:
        """Every variable printed under some condition."""
        return frozenset(use.name for use in self.uses)

    def printed(self, data: Mapping[str, Any]) -> frozenset[str]:
        """The variables SES prints for this data."""
        return frozenset(use.name for use in self.uses if use.applies(data))

    def missing(self, data: Mapping[str, Any]) -> list[str]:
        """The variables SES would print for this data that it lacks (or holds as null), sorted."""
        return sorted(name for name in self.printed(data) if data.get(name) is None)
