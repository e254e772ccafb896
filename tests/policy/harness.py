"""Run the pack's policies on resources recorded under the Pulumi mocks, the way the engine would.

There is no Pulumi CLI in the test environment, so this stands in for the engine: it turns each
`Recorded` resource into the `PolicyResource` the engine would send (outputs merged over inputs,
behind the SDK's unknown-checking proxy, with property dependencies), calls a policy's validate
function, and collects what it reports.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from inspect import isawaitable
from typing import Any

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from local.mocks import Recorded

PROJECT = "email-pipeline"
STACK = "dev"
#: Outputs other resources refer to a resource by; unknown during a first preview.
_REFERENCE_KEYS = ("arn", "url")


@dataclass(frozen=True)
class Violation:
    """One `report_violation` call: the policy, its message, and the resource it is about."""

    policy: str
    message: str
    urn: str


def urn_of(resource: Recorded) -> str:
    """The URN a recorded resource would have (without the parent chain the engine adds)."""
    return f"urn:pulumi:{STACK}::{PROJECT}::{resource.typ}::{resource.name}"


@dataclass(frozen=True)
class Snapshot:
    """One resource as the engine sees it: plain properties, and per property the URNs it used."""

    typ: str
    name: str
    urn: str
    props: dict[str, Any]
    dependencies: dict[str, list[str]]


def snapshot(recorded: Iterable[Recorded], *, preview: bool = False) -> list[Snapshot]:
    """The stack as the engine hands it to policies.

    Args:
        recorded: resources recorded under the mocks.
        preview: pretend this is the stack's first preview: every ARN and URL is unknown, and so is
            every value built from one (the JSON documents, the `Output.concat`s). Names given as
            inputs stay known, as the engine propagates inputs to outputs during a preview.

    Returns:
        One snapshot per recorded resource, its outputs merged over its inputs; `dependencies`
        lists, per property, the resources whose ARN or URL the property holds, as the engine
        records them from Outputs.
    """
    recorded = list(recorded)
    # A resource owns the ARN or URL its provider computed; an `arn` input (an EventBridge
    # target's) refers to another resource.
    owners = {r.outputs[key]: urn_of(r) for r in recorded for key in _REFERENCE_KEYS
              if isinstance(r.outputs.get(key), str) and key not in r.inputs}
    references = re.compile("|".join(re.escape(ref) for ref in sorted(owners, key=len, reverse=True))
                            + r"(?![\w-])") if owners else None
    snapshots = []
    for r in recorded:
        props = copy.deepcopy({**r.inputs, **r.outputs})
        dependencies: dict[str, list[str]] = {}
        if references:
            for key, value in props.items():
                urns = {owners[m.group(0)] for m in references.finditer(json.dumps(value, default=repr))}
                if urns - {urn_of(r)}:
                    dependencies[key] = sorted(urns - {urn_of(r)})
            if preview:
                props = {key: _computed(value, references) for key, value in props.items()}
        snapshots.append(Snapshot(r.typ, r.name, urn_of(r), props, dependencies))
    return snapshots


def policy_resources(recorded: Iterable[Recorded], *, preview: bool = False) -> list[PolicyResource]:
    """`snapshot()` as the SDK's `PolicyResource`s, properties behind its unknown-checking proxy."""
    snapshots = snapshot(recorded, preview=preview)
    resources = [PolicyResource(s.typ, unknown_checking_proxy(s.props), s.urn, s.name, _options(), None, None, [], {})
                 for s in snapshots]
    by_urn = {resource.urn: resource for resource in resources}
    for resource, s in zip(resources, snapshots):
        resource.property_dependencies = {key: [by_urn[urn] for urn in urns] for key, urns in s.dependencies.items()}
    return resources


def _computed(value: Any, references: re.Pattern[str]) -> Any:
    """`value` as a first preview sees it: any string holding an ARN or URL is unknown."""
    if isinstance(value, str):
        return UNKNOWN_STRING_VALUE if references.search(value) else value
    if isinstance(value, dict):
        return {key: _computed(item, references) for key, item in value.items()}
    if isinstance(value, list):
        return [_computed(item, references) for item in value]
    return value


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def violations(policy: Policy, resources: Sequence[PolicyResource]) -> list[Violation]:
    """Everything `policy` reports on `resources`; a resource policy runs once per resource."""
    found: list[Violation] = []

    def collector(default_urn: str) -> Callable[..., None]:
        def report_violation(message: str, urn: str | None = None) -> None:
            assert isinstance(message, str) and message, "a violation needs a message"
            found.append(Violation(policy.name, message, urn or default_urn))
        return report_violation

    if isinstance(policy, StackValidationPolicy):
        _synchronous(policy.validate(StackValidationArgs(resources), collector("")))
    elif isinstance(policy, ResourceValidationPolicy):
        for r in resources:
            args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, r.provider)
            # The engine attaches a resource policy's violations to the resource validated.
            _synchronous(policy.validate(args, collector(r.urn)))
    else:
        raise TypeError(f"unexpected policy type {type(policy).__name__}")
    return found


def _synchronous(result: object) -> None:
    assert not isawaitable(result), "the pack's policies are synchronous"


# --- editing a recorded stack to break it ---------------------------------------------------------------


def one(resources: Iterable[Recorded], typ: str, name: str) -> Recorded:
    """The recorded resource of type `typ` with logical name `name`."""
    [match] = [r for r in resources if r.typ == typ and r.name == name]
    return match


def set_prop(resource: Recorded, key: str, value: Any) -> None:
    """Set a property as both input and output, as a program declaring it would."""
    resource.inputs[key] = value
    resource.outputs[key] = value


def drop_prop(resource: Recorded, key: str) -> None:
    resource.inputs.pop(key, None)
    resource.outputs.pop(key, None)


def edit_document(resource: Recorded, edit: Callable[[dict[str, Any]], None], key: str = "policy") -> None:
    """Change a JSON document property (an IAM policy, a redrive policy) in place."""
    document = json.loads(resource.outputs[key])
    edit(document)
    set_prop(resource, key, json.dumps(document))
