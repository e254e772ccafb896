"""The stack as the email pipeline's policies see it: resources, references, and unknown values.

A preview runs the policies before providers have computed ARNs and names, so a property may be
unknown; the readers here turn pulumi_policy's unknown sentinels into `UNKNOWN` instead of
raising, and the stack view resolves references between resources (a mapping's queue, a
function's log group) by ARN, URL or name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

QUEUE = "aws:sqs/queue:Queue"
REDRIVE_POLICY = "aws:sqs/redrivePolicy:RedrivePolicy"
EVENT_SOURCE_MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
FUNCTION = "aws:lambda/function:Function"

_UNKNOWN_SENTINELS = frozenset({
    UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE,
})


# --- reading properties that may be unknown ------------------------------------------------------


class _Unknown:
    """A value Pulumi cannot know yet: an output computed during the deployment."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()


def plain(value: Any) -> Any:
    """A copy of `value` as plain dicts and lists, with every unknown value replaced by `UNKNOWN`.

    Args:
        value: resource properties as the SDK passes them (proxies), or plain data.

    Returns:
        The same data; reading it never raises `UnknownValueError`.
    """
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {key: _read(lambda key=key: value[key]) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_read(lambda index=index: value[index]) for index in range(len(value))]
    return value


def _read(get: Callable[[], Any]) -> Any:
    try:
        return plain(get())
    except UnknownValueError:
        return UNKNOWN


def lookup(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...`: None where a key is missing, `UNKNOWN` where a step is unknown."""
    for key in path:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def parse_json(value: Any) -> Any:
    """A JSON document property parsed: None when absent, `UNKNOWN` when unknown.

    Raises:
        ValueError: the value is neither JSON text nor an already parsed object.
    """
    if value is None or value is UNKNOWN or isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        return json.loads(value) if value.strip() else None
    raise ValueError(f"expected JSON text, got {type(value).__name__}")


def as_list(value: Any) -> list[Any]:
    """IAM lets Action and Resource be one string or a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- the stack as the stack policies see it --------------------------------------------------------


@dataclass(frozen=True)
class StackResource:
    """One resource with plain properties and, per property, the URNs of the resources it used."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    dependencies: Mapping[str, tuple[str, ...]]


class Stack:
    """Every resource of the stack, and how to follow a reference from one resource to another."""

    def __init__(self, resources: Iterable[PolicyResource]) -> None:
        self.resources = [
            StackResource(
                type=resource.resource_type,
                name=resource.name,
                urn=resource.urn,
                props=plain(resource.props),
                dependencies={prop: tuple(dict.fromkeys(dep.urn for dep in deps))
                              for prop, deps in (getattr(resource, "property_dependencies", None) or {}).items()},
            )
            for resource in resources
        ]
        self._by_urn = {resource.urn: resource for resource in self.resources}

    def of_type(self, typ: str) -> list[StackResource]:
        return [resource for resource in self.resources if resource.type == typ]

    def referenced(self, referrer: StackResource, prop: str, value: Any, typ: str) -> StackResource | None:
        """The resource of type `typ` that `value`, read from `referrer`'s property `prop`, points at.

        A known value is matched against ARNs and URLs (and function names, for functions). An
        unknown one is followed through the property's dependencies when exactly one resource of
        `typ` is among them. Anything else (absent, outside the stack, ambiguous) gives None.
        """
        if isinstance(value, str) and value:
            return next((r for r in self.of_type(typ) if _is_reference_to(r, value)), None)
        if value is UNKNOWN:
            candidates = [self._by_urn[urn] for urn in referrer.dependencies.get(prop, ())
                          if urn in self._by_urn and self._by_urn[urn].type == typ]
            return candidates[0] if len(candidates) == 1 else None
        return None


def _is_reference_to(resource: StackResource, value: str) -> bool:
    if value in (resource.props.get("arn"), resource.props.get("url")):
        return True
    # Event source mappings and invoke configs accept a name, an ARN, or a qualified ARN.
    return resource.type == FUNCTION and resource.props.get("name") == _function_name(value)


def _function_name(reference: str) -> str:
    """`my-fn`, `arn:aws:lambda:r:a:function:my-fn` and `...:function:my-fn:live` all name `my-fn`."""
    if ":function:" in reference:
        return reference.split(":function:", 1)[1].split(":", 1)[0]
    return reference


@dataclass(frozen=True)
class Redrive:
    """A redrive policy: messages of `source` that keep failing move to `target` (an ARN)."""

    source: StackResource
    carrier: StackResource
    target: Any


def redrives(stack: Stack) -> Iterator[Redrive]:
    """Redrive policies set on a queue, and those declared as separate `sqs.RedrivePolicy` resources."""
    for queue in stack.of_type(QUEUE):
        yield Redrive(queue, queue, redrive_target(queue.props.get("redrivePolicy")))
    for policy in stack.of_type(REDRIVE_POLICY):
        source = stack.referenced(policy, "queueUrl", policy.props.get("queueUrl"), QUEUE)
        if source is not None:
            yield Redrive(source, policy, redrive_target(policy.props.get("redrivePolicy")))


def redrive_target(raw: Any) -> Any:
    """The deadLetterTargetArn of a redrive policy: a string, `UNKNOWN`, or None if there is none."""
    try:
        document = parse_json(raw)
    except ValueError:
        return None
    if document is UNKNOWN:
        return UNKNOWN
    target = lookup(document, "deadLetterTargetArn")
    return target if target is UNKNOWN or (isinstance(target, str) and target) else None


def consumers(stack: Stack) -> Iterator[tuple[StackResource, StackResource]]:
    """(event source mapping, SQS queue it reads) for every mapping whose source is a queue in the stack."""
    for mapping in stack.of_type(EVENT_SOURCE_MAPPING):
        queue = stack.referenced(mapping, "eventSourceArn", mapping.props.get("eventSourceArn"), QUEUE)
        if queue is not None:
            yield mapping, queue


