"""Serve the components to every Pulumi language through a component provider.

Pulumi's Python SDK infers a package schema from a component's typed `args` and hosts the
components as a plugin (`provider/` holds the plugin: `PulumiPlugin.yaml` and its entry point), so a
TypeScript, Go, C# or YAML program can `pulumi package add` this repository and use `EmailSender`,
`EventRouter` and `Monitoring` like any other package.

The analyzer reads args as TypedDicts and hands them over as plain dicts, while the Python API
keeps its dataclasses. Rather than maintain a second set of types by hand, the TypedDicts are
derived from the dataclasses here (fields with defaults become optional), and the dicts are turned
back into the dataclasses before the real component runs, so the two can never drift apart.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, Required, TypedDict

import pulumi

from . import __version__
from .email_sender import EmailSender, EmailSenderArgs
from .event_router import EventRouter, EventRouterArgs
from .monitoring import Monitoring, MonitoringArgs

PACKAGE = "email-pipeline"
_COMPONENTS: tuple[tuple[type[pulumi.ComponentResource], type], ...] = (
    (EmailSender, EmailSenderArgs),
    (EventRouter, EventRouterArgs),
    (Monitoring, MonitoringArgs),
)


def _hints(cls: type, *, own_only: bool = False) -> dict[str, Any]:
    """Resolved annotations (the component modules use postponed, string annotations)."""
    # `pulumi.Input[T]` refers to "Output[T]" by name; resolve it where that name is known.
    namespace = {**vars(sys.modules[cls.__module__]), "Output": pulumi.Output, "T": typing.TypeVar("T")}
    if own_only:
        return {name: eval(hint, namespace) if isinstance(hint, str) else hint  # noqa: S307  (our own source)
                for name, hint in inspect.get_annotations(cls).items()}
    return typing.get_type_hints(cls, globalns=namespace)


@functools.cache
def typed_dict_for(cls: type) -> type:
    """The TypedDict the schema analyzer understands, for a dataclass of component inputs."""
    hints = _hints(cls)
    fields = {}
    for field in dataclasses.fields(cls):
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        wrapper = NotRequired if has_default else Required
        fields[field.name] = wrapper[_schema_type(hints[field.name])]  # type: ignore[valid-type]
    schema_type = TypedDict(cls.__name__, fields)  # type: ignore[operator]
    schema_type.__doc__ = cls.__doc__
    schema_type.__module__ = cls.__module__
    return schema_type


def from_inputs(cls: type, value: Any) -> Any:
    """Turn the provider's plain dicts back into the (nested) dataclasses the components take."""
    if not dataclasses.is_dataclass(cls) or not isinstance(value, Mapping):
        return value
    hints = _hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name in value and value[field.name] is not None:
            kwargs[field.name] = _convert(hints[field.name], value[field.name])
    return cls(**kwargs)


def camel_case(name: str) -> str:
    """Schema property names: `rate_share` -> `rateShare`."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def provider_components() -> list[type[pulumi.ComponentResource]]:
    """One class per component, named and typed as the schema should show it."""
    return [_provider_class(component, args) for component, args in _COMPONENTS]


def schema() -> dict[str, Any]:
    """The package schema, generated in-process (what `pulumi package get-schema` prints)."""
    from pulumi.provider.experimental.component import ComponentProvider

    return json.loads(ComponentProvider(provider_components(), PACKAGE, None, __version__).schema)


def main() -> None:
    """Plugin entry point: serve the components to the Pulumi engine."""
    from pulumi.provider.experimental import component_provider_host

    component_provider_host(provider_components(), PACKAGE, version=__version__)


def _provider_class(component: type[pulumi.ComponentResource], args_type: type) -> type[pulumi.ComponentResource]:
    def __init__(self: Any, name: str, args: Any, opts: pulumi.ResourceOptions | None = None) -> None:
        component.__init__(self, name, from_inputs(args_type, args), opts)

    __init__.__annotations__ = {"name": str, "args": typed_dict_for(args_type),
                                "opts": pulumi.ResourceOptions | None, "return": None}
    # Same class name as the component, so the schema token is `email-pipeline:index:<Name>`, the
    # token the component registers with.
    return types.new_class(component.__name__, (component,), exec_body=lambda ns: ns.update({
        "__init__": __init__, "__doc__": component.__doc__, "__module__": __name__,
        "__annotations__": _hints(component, own_only=True),  # the outputs, resolved
    }))


def _schema_type(hint: Any) -> Any:
    """A type hint with dataclasses replaced by TypedDicts and abstract containers by concrete ones."""
    if dataclasses.is_dataclass(hint):
        return typed_dict_for(hint)
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_schema_type(arg) for arg in arguments)]
    if origin in (Sequence, list, tuple) and arguments:
        return list[_schema_type(arguments[0])]  # type: ignore[misc]
    if origin in (Mapping, dict) and len(arguments) == 2:
        return dict[arguments[0], _schema_type(arguments[1])]  # type: ignore[misc]
    if origin is not None and arguments:
        return origin[tuple(_schema_type(arg) for arg in arguments)]
    return hint


def _convert(hint: Any, value: Any) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_inputs(hint, value)
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        targets = [arg for arg in arguments if dataclasses.is_dataclass(arg)]
        return from_inputs(targets[0], value) if targets and isinstance(value, Mapping) else value
    if origin in (Sequence, list, tuple) and arguments and isinstance(value, list):
        return tuple(_convert(arguments[0], item) for item in value)
    if origin in (Mapping, dict) and len(arguments) == 2 and isinstance(value, Mapping):
        return {key: _convert(arguments[1], item) for key, item in value.items()}
    return value


if __name__ == "__main__":
    # `python -m ses_email_pipeline.provider schema`: the schema as JSON, for reading or diffing.
    import sys

    if sys.argv[1:] != ["schema"]:
        raise SystemExit("usage: python -m ses_email_pipeline.provider schema   (prints the package schema as JSON)")
    print(json.dumps(schema(), indent=2, sort_keys=True))
