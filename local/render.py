"""Render SES templates the way SES does, for the local emulator (moto has no SES v2 templates).

SES templates are Handlebars. This renders the subset the project's templates use and SES
documents: `{{name}}` and `{{a.b}}` (HTML-escaped in the HTML part), `{{{name}}}` (raw),
`{{#if}}`/`{{else}}`/`{{/if}}` (and `{{else if}}`), `{{#unless}}`, `{{#each}}` with `{{this}}` and
item fields, and `{{#with}}`. It walks the tree the catalog's analysis reads (`handlebars.parse`)
with the truthiness the handlers' pre-send check uses (`handlers.shared.required_variables`), so the two agree on
what a template prints. A variable printed in the top-level context (also inside `if`/`unless`
branches) that the data lacks fails the render, as SES's asynchronous `RenderingFailure` would;
inside `each`/`with` a missing name renders empty, as in Handlebars.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ses_email_pipeline.handlers.shared.required_variables import resolve
from ses_email_pipeline.handlebars import Block, Node, Print, TemplateSyntaxError, Text, branches, data_name, parse

# Handlebars drops a line that holds only a block tag (`{{#each}}`, `{{/if}}`, `{{else}}`, a
# comment): the tag stays, the line's indentation and line break go.
_STANDALONE = re.compile(r"^[ \t]*(\{\{\s*(?:[#/!^][^}]*|else(?:\s[^}]*)?)\}\})[ \t]*\r?\n", flags=re.M)


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
    """Render one template part against the data.

    Raises:
        RenderingFailure: a variable printed in the top-level context is missing, the template
            does not parse, or it uses a helper this renderer does not know.
    """
    try:
        nodes = parse(_STANDALONE.sub(r"\1", template))
    except TemplateSyntaxError as exc:
        raise RenderingFailure(str(exc)) from exc
    return "".join(_emit(nodes, [data], escape))


def _emit(nodes: Sequence[Node], scopes: list[Any], escape: bool) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.value)
        elif isinstance(node, Print):
            text = _print(node, scopes)
            out.append(text if node.raw or not escape else html.escape(text, quote=True))
        else:
            out.extend(_emit_block(node, scopes, escape))
    return out


def _print(node: Print, scopes: list[Any]) -> str:
    if node.params:
        raise RenderingFailure(f"unsupported helper {node.path!r}")
    value = resolve(node.path, scopes[-1])
    name = data_name(node.path)
    if len(scopes) == 1 and name is not None and name not in scopes[0]:
        raise RenderingFailure(f"Attribute '{node.path}' is not present in the rendering data")
    return "" if value is None else _stringify(value)


def _emit_block(block: Block, scopes: list[Any], escape: bool) -> list[str]:
    conditions = branches(block)
    if conditions is None:
        raise RenderingFailure(f"unsupported helper {block.helper!r}")
    shown, _hidden = conditions
    value = resolve(shown.path, scopes[-1])
    if not shown.state.holds(value):
        return _emit(block.inverse, scopes, escape)
    out: list[str] = []
    for scope in _BODY_SCOPES[block.helper](scopes, value):
        out.extend(_emit(block.body, scope, escape))
    return out


def _same_scope(scopes: list[Any], _value: Any) -> list[list[Any]]:
    return [scopes]


def _value_scope(scopes: list[Any], value: Any) -> list[list[Any]]:
    return [[*scopes, value]]


def _item_scopes(scopes: list[Any], value: Any) -> list[list[Any]]:
    items = value.values() if isinstance(value, Mapping) else value
    return [[*scopes, item] for item in items if item is not None]  # Handlebars skips null items


#: How each helper renders its block: once in the same context, once in the argument's, or per item.
_BODY_SCOPES = {"if": _same_scope, "unless": _same_scope, "with": _value_scope, "each": _item_scopes}


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
