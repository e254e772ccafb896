"""Pulumi.yaml as the Pulumi CLI loads it: the project's name and its config declarations, checked.

Before it runs a program, the CLI loads Pulumi.yaml and refuses a file that breaks its project
schema or a project config rule; `local.stack_files` then checks a stack's values against the
declarations read here. The rules and messages follow pulumi/pulumi, `sdk/go/common/workspace/`:

- `loaders.go` (`LoadProjectBytes`): a schema error in Pulumi.yaml is reported as "could not
  validate 'Pulumi.yaml': ...", a project rule broken as "could not unmarshal 'Pulumi.yaml': ...".
- `project.go` (`ValidateProject`, `project.json`, `RewriteShorthandConfigValues`,
  `Project.Validate`, `ValidateConfigValue`, `InferFullTypeName`): what a config declaration may
  hold, its shorthand, how a default must match its type and what a type accepts.

Not done, on purpose: a Pulumi.yaml schema error gives the one failing rule, where the CLI lists
every branch of the schema's `oneOf` as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from local.go_values import GoYamlLoader, atoi_accepts, is_whole_number

_TYPE_NAMES = ("string", "integer", "boolean", "array")
_ATTRIBUTES = ("default", "description", "items", "secret", "type", "value")


class StackConfigError(ValueError):
    """The CLI would refuse to run the program with this stack's config.

    The message is the CLI's own text; `fix` says what to do about it.
    """

    def __init__(self, message: str, *, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class ConfigType:
    """A declared `type` (with its `items` for arrays), as `ValidateConfigValue` checks it."""

    name: str
    items: ConfigType | None = None

    @property
    def full_name(self) -> str:
        """The name the CLI prints: arrays as `array<string>`, recursively (`InferFullTypeName`)."""
        return f"array<{self.items.full_name}>" if self.items else self.name

    def accepts(self, value: Any) -> bool:
        """Whether `value` (a stack string, a JSON value or a YAML default) is of this type."""
        if self.name == "string":
            return isinstance(value, str)
        if self.name == "integer":
            return is_whole_number(value) or (isinstance(value, str) and atoi_accepts(value))
        if self.name == "boolean":
            return isinstance(value, bool) or (isinstance(value, str) and value in ("true", "false"))
        return isinstance(value, list) and self.items is not None and all(map(self.items.accepts, value))


@dataclass(frozen=True)
class Declaration:
    """One entry of Pulumi.yaml's `config:`, after the shorthand is expanded."""

    key: str
    namespace: str
    type: ConfigType | None = None
    secret: bool = False
    default: Any = None
    value: Any = None


@dataclass(frozen=True)
class Project:
    """What the CLI keeps of Pulumi.yaml for the config check: its name and config declarations."""

    name: str
    declarations: Mapping[str, Declaration]


def load_project(project_file: Path) -> Project:
    """Pulumi.yaml's name and config declarations, refused where the CLI refuses to load it.

    Raises:
        StackConfigError: the file breaks the project schema or a project config rule.
    """
    name = project_file.name
    fix = f"fix the config section of {name}"
    try:
        raw = yaml.load(project_file.read_text(), Loader=GoYamlLoader) or {}
    except yaml.YAMLError as error:
        raise StackConfigError(f"could not unmarshal '{name}': {error}", fix=fix) from error
    problem = _schema_problem(raw)
    if problem:
        raise StackConfigError(f"could not validate '{name}': {problem}", fix=fix)
    entries = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    declarations = {key: _declaration(raw["name"], key, entry) for key, entry in entries.items()}
    for key in sorted(declarations):
        problem = _project_problem(raw["name"], declarations[key])
        if problem:
            raise StackConfigError(f"could not unmarshal '{name}': {problem}", fix=fix)
    return Project(raw["name"], declarations)


# --- the project schema and rules ---------------------------------------------------------------


def _schema_problem(raw: Any) -> str | None:
    """The first way Pulumi.yaml breaks the CLI's project schema (`project.json`), or None."""
    if not isinstance(raw, dict):
        return f"expected project to be an object, was '{_json_type(raw)}'"
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        return "project is missing a non-empty string 'name' attribute"
    config = raw.get("config")
    if config is not None and not isinstance(config, (dict, str)):
        return f"#/config: expected object or null, but got {_json_type(config)}"
    for key, entry in (config.items() if isinstance(config, dict) else ()):
        problem = _entry_problem(f"#/config/{key}", entry)
        if problem:
            return problem
    return None


def _entry_problem(where: str, entry: Any) -> str | None:
    """How one config entry breaks the schema: a shorthand scalar or list, or a declaration."""
    if isinstance(entry, (str, int, list)):  # bool is an int
        return None
    if not isinstance(entry, dict):
        return f"{where}: expected string, integer, boolean, array or object, but got {_json_type(entry)}"
    for attribute in entry:
        if attribute not in _ATTRIBUTES:
            return f"{where}: additionalProperties '{attribute}' not allowed{_did_you_mean(str(attribute))}"
    for attribute, kind in (("description", str), ("secret", bool)):
        if attribute in entry and not isinstance(entry[attribute], kind):
            expected = "string" if kind is str else "boolean"
            return f"{where}/{attribute}: expected {expected}, but got {_json_type(entry[attribute])}"
    return _type_problem(where, entry) if "type" in entry or "items" in entry else None


def _type_problem(where: str, declaration: Mapping[str, Any]) -> str | None:
    """How a `type` and its `items` break the schema: a known type; arrays need typed items."""
    if "type" in declaration and declaration["type"] not in _TYPE_NAMES:
        return f'{where}/type: value must be one of "string", "integer", "boolean", "array"'
    if declaration.get("type") == "array" and "items" not in declaration:
        return f'{where}: missing properties: "items"'
    if "items" not in declaration:
        return None
    items = declaration["items"]
    if not isinstance(items, dict):
        return f"{where}/items: expected object, but got {_json_type(items)}"
    if "type" not in items:
        return f'{where}/items: missing properties: "type"'
    return _type_problem(f"{where}/items", items)


def _did_you_mean(attribute: str) -> str:
    """The CLI's hint for an unknown attribute: the closest known one within two edits."""
    closest = min(_ATTRIBUTES, key=lambda known: _edit_distance(attribute.lower(), known))
    if _edit_distance(attribute.lower(), closest) <= 2:
        return f"; did you mean '{closest}'?"
    listed = ", ".join(f"'{known}'" for known in _ATTRIBUTES[:-1])
    return f"; the allowed attributes are {listed} and '{_ATTRIBUTES[-1]}'"


def _declaration(project: str, key: str, entry: Any) -> Declaration:
    """A declaration from its entry; a bare scalar or list is a project key's default, another's value."""
    namespace = key.split(":", 1)[0] if ":" in key else project
    if not isinstance(entry, dict):
        return Declaration(key, namespace, **({"default": entry} if namespace == project else {"value": entry}))
    return Declaration(key, namespace, _config_type(entry), bool(entry.get("secret")),
                       entry.get("default"), entry.get("value"))


def _config_type(declaration: Mapping[str, Any]) -> ConfigType | None:
    """The declared type with its items, None for an untyped declaration (which is not checked)."""
    if "type" not in declaration:
        return None
    items = declaration.get("items")
    return ConfigType(declaration["type"], _config_type(items) if isinstance(items, dict) else None)


def _project_problem(project: str, declaration: Declaration) -> str | None:
    """How a declaration breaks the CLI's project rules (`Project.Validate`), or None."""
    key = declaration.key
    if declaration.default is not None and declaration.value is not None:
        return f"project config '{key}' cannot have both a 'default' and 'value' attribute"
    if declaration.namespace == project:
        typ = declaration.type
        if typ and declaration.default is not None and not typ.accepts(declaration.default):
            return (f"The default value specified for configuration key '{key}' is not of the expected type "
                    f"'{typ.full_name}'")
        return None
    if declaration.type:
        return f"Configuration key '{key}' is not namespaced by the project and should not define a type"
    if declaration.default is not None:
        return (f"Configuration key '{key}' is not namespaced by the project and should not define a default "
                f"value. Did you mean to use the 'value' attribute instead of 'default'?")
    if declaration.value is None:
        return f"Configuration key '{key}' is namespaced and must provide an attribute 'value'"
    return None


def _json_type(value: Any) -> str:
    """A value's JSON type name, as the schema's messages call it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array"}.get(type(value), "string")


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, substitutions costing one (the CLI's measure for suggestions)."""
    row = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, char_b in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (char_a != char_b))
    return row[-1]
