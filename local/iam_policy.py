"""IAM's evaluation of an identity-based policy: whether a role's statements allow an action on a resource.

The way AWS evaluates an identity-based policy (IAM User Guide, "Policy evaluation logic"):

- a `Deny` statement that matches the action and the resource wins;
- otherwise some `Allow` statement must match the action (case-insensitive, `*` and `?`
  wildcards) and the resource (ARN wildcards, each colon-separated part matched on its own, as
  `ArnLike` does); `NotAction` and `NotResource` invert their match;
- otherwise the call is denied implicitly.

Conditions are evaluated for the operators the program writes (`StringEquals`, `StringLike`, and
their `ForAllValues:` forms) on the request's context keys (`local.iam_requests.REQUESTS` supplies
them): a plain operator on a key the request lacks is false, a `ForAllValues:` one true, as AWS
evaluates them (IAM User Guide, "Condition operators"; "Multivalued context keys"). A statement
with any other operator is ignored (neither grants nor denies). Not modeled: managed policies
attached to the role, permission boundaries, SCPs, session policies and resource-based policies.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class Decision(enum.Enum):
    """What the policy says of one action on one resource."""

    ALLOWED = "allowed"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: `*` any run of characters, `?` one character; nothing else is special."""
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def action_matches(pattern: str, action: str) -> bool:
    """Whether a policy's action pattern covers `action` (`sqs:Send*` covers `sqs:SendMessage`)."""
    return bool(_glob(pattern, ignore_case=True).match(action))


def resource_matches(pattern: str, resource: str) -> bool:
    """Whether a policy's resource pattern covers the ARN `resource`.

    `*` covers everything; otherwise the six colon-separated parts of an ARN are matched one by
    one (the last part keeps its own colons), so a wildcard never reaches into another part.
    """
    if pattern == "*":
        return True
    wanted, actual = pattern.split(":", 5), resource.split(":", 5)
    return len(wanted) == len(actual) and all(
        _glob(part, ignore_case=False).match(value) for part, value in zip(wanted, actual, strict=True))


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(str(item) for item in value)


@dataclass(frozen=True)
class Statement:
    """One statement of an identity-based policy: its effect, actions and resources."""

    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    #: (operator, context key, values) of each condition; all must hold
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    conditional: bool = False  # has a condition this module cannot evaluate: the statement is ignored

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Statement:
        conditions = tuple((operator, key.lower(), _strings(values))
                           for operator, keys in (raw.get("Condition") or {}).items()
                           for key, values in keys.items())
        return cls(effect=str(raw.get("Effect", "")), actions=_strings(raw.get("Action")),
                   not_actions=_strings(raw.get("NotAction")), resources=_strings(raw.get("Resource")),
                   not_resources=_strings(raw.get("NotResource")), conditions=conditions,
                   conditional=any(operator not in _CONDITION_OPERATORS for operator, _key, _values in conditions))

    def covers(self, action: str, resource: str, context: Mapping[str, tuple[str, ...]] | None = None) -> bool:
        """Whether the statement speaks about `action` on `resource` in a request of `context`."""
        if self.conditional:
            return False  # a condition this module cannot evaluate: see the module docstring
        context = context or {}
        if not all(_CONDITION_OPERATORS[operator](context.get(key), values)
                   for operator, key, values in self.conditions):
            return False
        if self.not_actions:
            acts = not any(action_matches(p, action) for p in self.not_actions)
        else:
            acts = any(action_matches(p, action) for p in self.actions)
        if self.not_resources:
            return acts and not any(resource_matches(p, resource) for p in self.not_resources)
        return acts and any(resource_matches(p, resource) for p in self.resources)


def _string_match(wanted: tuple[str, ...], value: str, *, like: bool) -> bool:
    return any(_glob(pattern, ignore_case=False).match(value) if like else pattern == value for pattern in wanted)


def _single(like: bool) -> Callable[[tuple[str, ...] | None, tuple[str, ...]], bool]:
    """`StringEquals`/`StringLike`: the request's value matches one of the condition's (false without one)."""
    return lambda actual, wanted: bool(actual) and all(_string_match(wanted, value, like=like) for value in actual)


def _for_all(like: bool) -> Callable[[tuple[str, ...] | None, tuple[str, ...]], bool]:
    """`ForAllValues:...`: every value of the request matches one of the condition's (true without any)."""
    return lambda actual, wanted: all(_string_match(wanted, value, like=like) for value in actual or ())


_CONDITION_OPERATORS: Mapping[str, Callable[[tuple[str, ...] | None, tuple[str, ...]], bool]] = {
    "StringEquals": _single(False), "StringLike": _single(True),
    "ForAllValues:StringEquals": _for_all(False), "ForAllValues:StringLike": _for_all(True),
}


@dataclass(frozen=True)
class Policy:
    """All the identity-based statements that apply to one role."""

    statements: tuple[Statement, ...] = ()

    @classmethod
    def from_documents(cls, documents: Iterable[Mapping[str, Any]]) -> Policy:
        statements: list[Statement] = []
        for document in documents:
            raw = document.get("Statement", [])
            statements += [Statement.from_json(s) for s in ([raw] if isinstance(raw, Mapping) else raw)]
        return cls(tuple(statements))

    def decide(self, action: str, resource: str, context: Mapping[str, tuple[str, ...]] | None = None) -> Decision:
        """AWS's evaluation of one action on one resource: explicit deny, then any allow."""
        applying = [s for s in self.statements if s.covers(action, resource, context)]
        if any(s.effect == "Deny" for s in applying):
            return Decision.EXPLICIT_DENY
        if any(s.effect == "Allow" for s in applying):
            return Decision.ALLOWED
        return Decision.IMPLICIT_DENY
