"""Render SES templates the way SES does, for the local emulator (moto has no SES v2 templates).

SES templates are Handlebars. This renders the subset the project's templates use and SES
documents: `{{name}}` and `{{a.b}}` (HTML-escaped in the HTML part), `{{{name}}}` (raw),
`{{#if}}`/`{{else}}`/`{{/if}}`, `{{#unless}}`, `{{#each}}` with `{{this}}` and item fields, and
`{{#with}}`. A variable printed at the top level that the data lacks fails the render, as SES's
asynchronous `RenderingFailure` would; inside blocks a missing name renders empty, as in Handlebars.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"(\{\{\{\s*[^}]+?\s*\}\}\}|\{\{\s*[^}]*?\s*\}\})")
# Handlebars drops a line that holds only a block tag (`{{#each}}`, `{{/if}}`, `{{else}}`, a
# comment): the tag stays, the line's indentation and line break go.
_STANDALONE = re.compile(r"^[ \t]*(\{\{\s*(?:[#/!^][^}]*|else\s*)\}\})[ \t]*\r?\n", flags=re.M)


class RenderingFailure(ValueError):
    """The data cannot render the template (what SES reports as a RenderingFailure event)."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def render_email(subject: str, html_part: str, text_part: str, data: Mapping[str, Any]) -> RenderedEmail:
    """Render all three parts; only the HTML part escapes values.

    Raises:
        RenderingFailure: a printed top-level variable is missing from the data.
    """
    return RenderedEmail(
        subject=render(subject, data, escape=False),
        html=render(html_part, data, escape=True),
        text=render(text_part, data, escape=False),
    )


def render(template: str, data: Mapping[str, Any], *, escape: bool) -> str:
    """Render one template part against the data."""
    nodes, _inverse, _end = _parse(_TOKEN.split(_STANDALONE.sub(r"\1", template)), 0, None)
    return "".join(_emit(nodes, [data], escape, top_level=True))


@dataclass(frozen=True)
class _Text:
    value: str


@dataclass(frozen=True)
class _Var:
    path: str
    raw: bool


@dataclass(frozen=True)
class _Block:
    helper: str
    path: str
    body: Sequence[object]
    inverse: Sequence[object]


def _parse(parts: list[str], index: int, closing: str | None) -> tuple[list[object], list[object], int]:
    """Parse until `{{/closing}}` (or the end); return the body, the `{{else}}` part and the position."""
    body: list[object] = []
    inverse: list[object] = []
    target = body
    while index < len(parts):
        part = parts[index]
        index += 1
        if not part.startswith("{{"):
            if part:
                target.append(_Text(part))
            continue
        raw = part.startswith("{{{")
        inner = part[3:-3].strip() if raw else part[2:-2].strip()
        if inner.startswith("!"):
            continue
        if inner.startswith("#"):
            helper, _, path = inner[1:].partition(" ")
            block_body, block_inverse, index = _parse(parts, index, helper)
            target.append(_Block(helper, path.strip(), block_body, block_inverse))
        elif inner.startswith("/"):
            if inner[1:].strip() != closing:
                raise RenderingFailure(f"unexpected {{{{{inner}}}}}")
            return body, inverse, index
        elif inner == "else" and closing is not None:
            target = inverse
        else:
            target.append(_Var(inner, raw))
    if closing is not None:
        raise RenderingFailure(f"{{{{#{closing}}}}} is never closed")
    return body, inverse, index


def _emit(nodes: Sequence[object], scopes: list[Any], escape: bool, *, top_level: bool) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.value)
        elif isinstance(node, _Var):
            value = _lookup(node.path, scopes, required=top_level)
            text = "" if value is None else _stringify(value)
            out.append(text if node.raw or not escape else html.escape(text, quote=True))
        elif isinstance(node, _Block):
            out.extend(_emit_block(node, scopes, escape))
    return out


def _emit_block(block: _Block, scopes: list[Any], escape: bool) -> list[str]:
    helper = block.helper
    value = _lookup(block.path, scopes, required=False)
    if helper == "if":
        return _emit(block.body if _truthy(value) else block.inverse, scopes, escape, top_level=False)
    if helper == "unless":
        return _emit(block.inverse if _truthy(value) else block.body, scopes, escape, top_level=False)
    if helper == "each":
        if not _truthy(value):
            return _emit(block.inverse, scopes, escape, top_level=False)
        out: list[str] = []
        for item in value:
            out.extend(_emit(block.body, [*scopes, item], escape, top_level=False))
        return out
    if helper == "with":
        return _emit(block.body if _truthy(value) else block.inverse, [*scopes, value], escape, top_level=False)
    raise RenderingFailure(f"unsupported helper {helper!r}")


def _lookup(path: str, scopes: list[Any], *, required: bool) -> Any:
    if path in ("this", "."):
        return scopes[-1]
    current: Any = scopes[-1]
    for index, part in enumerate(path.split(".")):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        else:
            if required and index == 0:
                raise RenderingFailure(f"Attribute '{path}' is not present in the rendering data")
            return None
    return current


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0, [], {})


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
