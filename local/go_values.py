"""Values as the Pulumi CLI's Go code reads and writes them: YAML scalars, numbers, their text.

The CLI is written in Go: it reads YAML with yaml.v3 (YAML 1.2's core schema, not PyYAML's 1.1),
holds a stack's scalars as the text Go re-encodes them to, and parses integers with `strconv`.
`local.project_file` and `local.stack_files` check config with these rules, so a value is accepted
or refused here exactly where the CLI accepts or refuses it.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import yaml

_INT64 = range(-(2**63), 2**63)


def is_whole_number(value: Any) -> bool:
    """Go's int, or a float64 with nothing after the point (YAML and JSON numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return isinstance(value, int) or math.isinf(value) or value.is_integer()


def atoi_accepts(text: str) -> bool:
    """Go's `strconv.Atoi`: an optional sign, ASCII digits, within int64."""
    return re.fullmatch(r"[+-]?[0-9]+", text) is not None and int(text) in _INT64


def go_text(value: Any) -> str:
    """A YAML scalar as the CLI's string: Go re-encodes what it decoded (`3.50` is "3.5", null is "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def go_float(value: float) -> str:
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


class GoYamlLoader(yaml.SafeLoader):
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
    GoYamlLoader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(rf"^(?:{_pattern})$"), _first)
GoYamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
