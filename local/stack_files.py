"""Refuse a stack's config the way the Pulumi CLI does before it runs the program.

`pulumi up` (and preview, refresh, destroy, import, watch) loads `Pulumi.yaml`
(`local.project_file`), loads the stack's `Pulumi.<stack>.yaml`, applies the project's defaults
and checks the stack's values against the project's declarations before the program starts. The
local run (`local.program.run_stack`) does the same with `validate_stack_config`, so a mistake in a
committed stack file fails offline, with the CLI's own words, instead of at `pulumi up`.

The rules and messages follow pulumi/pulumi, `sdk/go/common/workspace/`:

- `loaders.go` (`LoadProjectStackBytes`): stack keys without a namespace belong to the project.
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

The CLI prints these as `error: validating stack config: <message>`; `python -m local` does too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from local.go_values import GoYamlLoader, go_text
from local.project_file import Project, StackConfigError, load_project

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
        raw = yaml.load(stack_file.read_text(), Loader=GoYamlLoader) or {}
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


# --- values as the CLI holds them ------------------------------------------------------------------


def _full_key(project: str, key: str) -> str:
    """A declared key as it is named in the stack's config."""
    return key if ":" in key else f"{project}:{key}"


def _project_content(given: Any) -> Any:
    """A default or value as the CLI sets it on the stack: a string, or a JSON value (`createConfigValue`)."""
    if isinstance(given, (str, bool, int)) and not isinstance(given, float):
        return go_text(given)
    return json.loads(json.dumps(given))


def _stack_value(raw: Any) -> StackValue:
    """A stack file's value: scalars become their text, maps and lists JSON values; secure or not."""
    if _is_secure(raw):
        return StackValue(raw["secure"], secure=True)
    if isinstance(raw, (dict, list)):
        return StackValue(json.loads(json.dumps(raw)), secure=_holds_secure(raw))
    return StackValue(go_text(raw))


def _is_secure(raw: Any) -> bool:
    """`{secure: <ciphertext>}`: one key, a string."""
    return isinstance(raw, dict) and len(raw) == 1 and isinstance(raw.get("secure"), str)


def _holds_secure(raw: Any) -> bool:
    """A map or list with an encrypted value anywhere inside counts as encrypted."""
    if _is_secure(raw):
        return True
    children = raw.values() if isinstance(raw, dict) else raw if isinstance(raw, list) else ()
    return any(_holds_secure(child) for child in children)
