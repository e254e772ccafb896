"""Which variables an SES template needs, so a send with incomplete data is refused up front.

SES accepts a templated send and only later, asynchronously, reports a rendering failure (a
`RenderingFailure` event) for data that lacks a variable: the caller sees success and the recipient
gets nothing. Checking the data against the template's variables before sending turns that silent
loss into a specific, dead-lettered validation error.

SES templates are Handlebars. A variable is required when it is printed at the top level
(`{{name}}`, `{{{name}}}`, `{{name.part}}`). Names only tested by block helpers (`{{#if name}}`,
`{{#unless name}}`) are optional, and anything inside `{{#each}}` or `{{#with}}` is relative to
the block's item and is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MUSTACHE = re.compile(r"\{\{\{?\s*([#/^]?)\s*([^}]*?)\s*\}?\}\}")
_SCOPE_CHANGING_BLOCKS = frozenset({"each", "with"})
_KEYWORDS = frozenset({"else", "this", "."})


def required_variables(*parts: str) -> frozenset[str]:
    """Top-level variable names the template parts print outside any scope-changing block."""
    required: set[str] = set()
    for part in parts:
        required.update(_required_in(part))
    return frozenset(required)


def missing_variables(required: Iterable[str], data: dict[str, object]) -> list[str]:
    """Required names that the data does not provide (or provides as null), sorted."""
    return sorted(name for name in required if data.get(name) is None)


def _required_in(text: str) -> set[str]:
    found: set[str] = set()
    scope_depth = 0
    for match in _MUSTACHE.finditer(text):
        sigil, body = match.groups()
        words = body.split()
        if not words or words[0].startswith("!"):
            continue  # comments
        if sigil == "#":
            scope_depth += words[0] in _SCOPE_CHANGING_BLOCKS
            continue
        if sigil == "/":
            scope_depth -= words[0] in _SCOPE_CHANGING_BLOCKS
            continue
        if sigil == "^" or scope_depth or len(words) > 1 or words[0] in _KEYWORDS:
            continue  # inverted sections, nested scopes and helper calls are not required
        name = words[0].split(".")[0]
        if name and not name.startswith("@") and not name.startswith("../"):
            found.add(name)
    return found
