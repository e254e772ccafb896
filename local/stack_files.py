"""Refuse a stack's config the way the Pulumi CLI does before it runs the program.

`pulumi up` (and preview, refresh, destroy, import, watch) loads `Pulumi.yaml`, loads the stack's
`Pulumi.<stack>.yaml`, applies the project's defaults and checks the stack's values against the
project's declarations before the program starts. The local run (`local.program.run_stack`) does
the same with `validate_stack_config`, so a mistake in a committed stack file fails offline, with
the CLI's own words, instead of at `pulumi up`.

The rules and messages follow pulumi/pulumi, `sdk/go/common/workspace/`:

- `loaders.go` (`LoadProjectBytes`, `LoadProjectStackBytes`): a schema error in Pulumi.yaml is
  reported as "could not validate 'Pulumi.yaml': ...", a project rule broken as "could not
  unmarshal 'Pulumi.yaml': ..."; stack keys without a namespace belong to the project.
- `project.go` (`ValidateProject`, `project.json`, `RewriteShorthandConfigValues`,
  `Project.Validate`, `ValidateConfigValue`, `InferFullTypeName`): what a config declaration may
  hold, its shorthand, how a default must match its type and what a type accepts.
- `config.go` (`mergeConfig`, `validateStackConfigValues`, `validateStackConfigValue`,
  `createConfigValue`): missing required keys first, all at once; then, keys in sorted order, the
  first typed key that is not encrypted though secret, or not of its type.
- `sdk/go/common/resource/config/value.go`: a stack scalar is a string, a map or list is an object
  (JSON) value, `{secure: ...}` is encrypted and so is an object holding one.

What this does not do, on purpose:

- Overrides given to `run_stack` stand for `pulumi config set`, which writes the stack file; the
  check covers the committed file and the project's defaults only, so a test may override a value
  without also having to satisfy the file's rules for it.
- Encrypted values cannot be decrypted offline, so their type is not checked (the CLI checks the
  decrypted value). Keys with a `.` are looked up literally (the CLI reads them as paths), and
  stack environments (ESC) are not merged.
- A Pulumi.yaml schema error gives the one failing rule, where the CLI lists every branch of the
  schema's `oneOf` as well.

The CLI prints these as `error: validating stack config: <message>`; `python -m local` does too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

_TYPE_NAMES = ("string", "integer", "boolean", "array")
_ATTRIBUTES = ("default", "description", "items", "secret", "type", "value")
_INT64 = range(-(2**63), 2**63)


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
            return _is_whole_number(value) or (isinstance(value, str) and _atoi_accepts(value))
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


@dataclass(frozen=True)
class StackValue:
    """A config value as the CLI holds it: a string, or a JSON value for maps and lists."""

    content: Any
    secure: bool = False
    from_project: bool = False


def validate_stack_config(project_file: Path, stack_file: Path, stack: str) -> None:
    """Refuse the stack's config as the Pulumi CLI would before running the program.

    Args:
        project_file: the project's Pulumi.yaml.
        stack_file: the stack file to check; a missing one is an empty config, as for the CLI.
        stack: the stack's name, as the CLI prints it.

    Raises:
        StackConfigError: Pulumi.yaml is invalid, or the stack lacks a required value or holds one
            that is not encrypted though secret, or not of its declared type.
    """
    project = load_project(project_file)
    config = load_stack_config(stack_file, project.name)
    _check_required(project, config, stack, stack_file.name)
    _check_typed(project, _with_project_values(project, config), stack, stack_file.name)


def load_project(project_file: Path) -> Project:
    """Pulumi.yaml's name and config declarations, refused where the CLI refuses to load it.

    Raises:
        StackConfigError: the file breaks the project schema or a project config rule.
    """
    name = project_file.name
    fix = f"fix the config section of {name}"
    try:
        raw = yaml.load(project_file.read_text(), Loader=_GoYamlLoader) or {}
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


def load_stack_config(stack_file: Path, project: str) -> dict[str, StackValue]:
    """The stack file's config as the CLI holds it, keyed `<namespace>:<key>`.

    Args:
        stack_file: a Pulumi.<stack>.yaml; a missing file is an empty config.
        project: the project's name, the namespace of keys written without one.

    Raises:
        StackConfigError: the file is not YAML, or its `config` is not a map.
    """
    fix = f"fix {stack_file.name}"
    if not stack_file.exists():
        return {}
    try:
        raw = yaml.load(stack_file.read_text(), Loader=_GoYamlLoader) or {}
    except yaml.YAMLError as error:
        raise StackConfigError(f"could not unmarshal '{stack_file.name}': {error}", fix=fix) from error
    config = raw.get("config") if isinstance(raw, dict) else None
    if not isinstance(config or {}, dict):
        raise StackConfigError(f"'{stack_file.name}': config must be a map of keys to values", fix=fix)
    return {key if ":" in key else f"{project}:{key}": _stack_value(value) for key, value in (config or {}).items()}


# --- the checks, in the CLI's order ------------------------------------------------------------


def _check_required(project: Project, config: Mapping[str, StackValue], stack: str, stack_file: str) -> None:
    """Every project key declared without a default or value must be in the stack (all at once)."""
    missing = sorted(key for key, declaration in project.declarations.items()
                     if declaration.namespace == project.name and declaration.default is None
                     and declaration.value is None and _full_key(project.name, key) not in config)
    if not missing:
        return
    quoted = [f"'{key}'" for key in missing]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
    noun = "value" if len(missing) == 1 else "values"
    raise StackConfigError(
        f"Stack '{stack}' is missing configuration {noun} {listed}",
        fix=f"add {'it' if len(missing) == 1 else 'them'} to {stack_file}, or run "
            f"`pulumi config set <key> <value> --stack {stack}`")


def _with_project_values(project: Project, config: Mapping[str, StackValue]) -> dict[str, StackValue]:
    """The stack's config with each declared default or value filled in where the stack has none."""
    merged = dict(config)
    for key, declaration in project.declarations.items():
        given = declaration.default if declaration.default is not None else declaration.value
        if given is not None:
            merged.setdefault(_full_key(project.name, key), StackValue(_project_content(given), from_project=True))
    return merged


def _check_typed(project: Project, config: Mapping[str, StackValue], stack: str, stack_file: str) -> None:
    """The first typed key (sorted) whose value is plaintext though secret, or not of its type."""
    for key in sorted(project.declarations):
        declaration = project.declarations[key]
        value = config.get(_full_key(project.name, key))
        if declaration.type is None or value is None:
            continue
        if declaration.secret and not value.secure:
            raise StackConfigError(
                f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret",
                fix=_secret_fix(key, stack, stack_file, from_default=value.from_project))
        # An encrypted value is checked by the CLI once decrypted, which needs the stack's key.
        if not value.secure and not declaration.type.accepts(value.content):
            raise StackConfigError(
                f"Stack '{stack}' with configuration key '{key}' must be of type '{declaration.type.full_name}'",
                fix=f"fix {key} in {stack_file}, or run `pulumi config set {key} <value> --stack {stack}`")


def _secret_fix(key: str, stack: str, stack_file: str, *, from_default: bool) -> str:
    """What to do about a secret key without an encrypted value."""
    encrypt = f"`pulumi config set --secret {key} <value> --stack {stack}`"
    if from_default:
        return f"a default is never encrypted: drop the default from Pulumi.yaml and run {encrypt}"
    return f"remove the plaintext from {stack_file} and run {encrypt}"


# --- Pulumi.yaml -------------------------------------------------------------------------------


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


def _project_content(given: Any) -> Any:
    """A default or value as the CLI sets it on the stack: a string, or a JSON value (`createConfigValue`)."""
    if isinstance(given, (str, bool, int)) and not isinstance(given, float):
        return _go_text(given)
    return json.loads(json.dumps(given))


# --- stack values ------------------------------------------------------------------------------


def _stack_value(raw: Any) -> StackValue:
    """A stack file's value: scalars become their text, maps and lists JSON values; secure or not."""
    if _is_secure(raw):
        return StackValue(raw["secure"], secure=True)
    if isinstance(raw, (dict, list)):
        return StackValue(json.loads(json.dumps(raw)), secure=_holds_secure(raw))
    return StackValue(_go_text(raw))


def _is_secure(raw: Any) -> bool:
    """`{secure: <ciphertext>}`: one key, a string."""
    return isinstance(raw, dict) and len(raw) == 1 and isinstance(raw.get("secure"), str)


def _holds_secure(raw: Any) -> bool:
    """A map or list with an encrypted value anywhere inside counts as encrypted."""
    if _is_secure(raw):
        return True
    children = raw.values() if isinstance(raw, dict) else raw if isinstance(raw, list) else ()
    return any(_holds_secure(child) for child in children)


def _go_text(value: Any) -> str:
    """A YAML scalar as the CLI's string: Go re-encodes what it decoded (`3.50` is "3.5", null is "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    """Go's `strconv.FormatFloat(f, 'g', -1, 64)` as YAML writes it: shortest digits, `1e+06`."""
    if math.isnan(value) or math.isinf(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    sign = "-" if math.copysign(1, value) < 0 else ""
    if value == 0:
        return sign + "0"
    _, digits, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    figures, point = "".join(map(str, digits)), len(digits) + int(exponent)
    if not -4 <= point - 1 < 6:  # Go's rule for the shortest form: exponent below -4 or from 6 up
        rest = f".{figures[1:]}" if len(figures) > 1 else ""
        return f"{sign}{figures[0]}{rest}e{'-' if point < 1 else '+'}{abs(point - 1):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{figures}"
    whole, fraction = figures[:point].ljust(point, "0"), figures[point:]
    return sign + whole + (f".{fraction}" if fraction else "")


# --- small rules -------------------------------------------------------------------------------


def _full_key(project: str, key: str) -> str:
    """A declared key as it is named in the stack's config."""
    return key if ":" in key else f"{project}:{key}"


def _is_whole_number(value: Any) -> bool:
    """Go's int, or a float64 with nothing after the point (YAML and JSON numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isinf(value) or value.is_integer()


def _atoi_accepts(text: str) -> bool:
    """Go's `strconv.Atoi`: an optional sign, ASCII digits, within int64."""
    return re.fullmatch(r"[+-]?[0-9]+", text) is not None and int(text) in _INT64


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


# --- YAML as the CLI reads it ------------------------------------------------------------------


class _GoYamlLoader(yaml.SafeLoader):
    """PyYAML resolving plain scalars as the CLI's Go YAML (yaml.v3) does.

    PyYAML follows YAML 1.1, where `yes`, `on` and `no` are booleans and `2024-01-01` a date; for
    the CLI they are strings, so `production: yes` is refused there and must be refused here.
    """

    yaml_implicit_resolvers: dict[str, list[tuple[str, re.Pattern[str]]]] = {}


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """Go's `ParseInt(s, 0, 64)` after yaml.v3 drops `_`: 0x, 0o, 0b and the legacy octal 0777."""
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign, digits = (-1 if text.startswith("-") else 1), text.lstrip("+-")
    legacy_octal = len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()
    return sign * int(digits, 8 if legacy_octal else 0)


for _tag, _pattern, _first in (
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    ("bool", r"true|True|TRUE|false|False|FALSE", list("tTfF")),
    ("int", r"[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)", list("-+0123456789")),
    ("float", r"[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
              r"|\.(?:nan|NaN|NAN)", list("-+.0123456789")),
    ("merge", r"<<", ["<"]),
):
    _GoYamlLoader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(rf"^(?:{_pattern})$"), _first)
_GoYamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
