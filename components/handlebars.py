"""SES template syntax (Handlebars): the tree, and where each template prints which variables.

One parser (`parse`) serves both readers of a template's structure: the analysis that records
each printed variable with the conditions under which SES prints it (`variable_uses`, evaluated by
the handlers' pre-send check in `handlers/templates.py`) and the local renderer (`local/render.py`),
so the two agree. It runs at deploy time and locally only, so it stays out of the Lambda package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .handlers.shared.required_variables import Condition, State, Use, VariableUses

class TemplateSyntaxError(ValueError):
    """A template the parser cannot read: an unclosed, mismatched or misplaced block tag."""


@dataclass(frozen=True)
class Text:
    """Literal template text."""

    value: str


@dataclass(frozen=True)
class Print:
    """`{{path}}` or `{{{path}}}` (raw); with params it is a helper call, `{{helper a b}}`."""

    path: str
    params: tuple[str, ...] = ()
    raw: bool = False


@dataclass(frozen=True)
class Block:
    """`{{#helper params}}body{{else}}inverse{{/helper}}`; `{{^x}}...{{/x}}` has only an inverse."""

    helper: str
    params: tuple[str, ...]
    body: tuple[Node, ...]
    inverse: tuple[Node, ...]


Node = Text | Print | Block

# Long comments first (they may hold `}}`), then raw and plain mustaches.
_TOKEN = re.compile(r"(\{\{~?!--.*?--~?\}\}|\{\{\{[^}]*\}\}\}|\{\{[^}]*\}\})", flags=re.S)
# Characters Handlebars does not allow in an identifier (its lexer's ID rule).
_IDENTIFIER = re.compile(r"""^[^\s!"#%&'()*+,./;<=>@\[\\\]^`{|}~]+$""")
_LITERAL = re.compile(r"^(?:true|false|null|undefined|-?\d+(?:\.\d+)?)$")

#: helper -> (state of its argument in which it renders its block, the one for its `{{else}}`)
_BRANCH_STATES: dict[str, tuple[State, State]] = {
    "if": (State.TRUTHY, State.FALSY),
    "unless": (State.FALSY, State.TRUTHY),
    "each": (State.HAS_ITEMS, State.NO_ITEMS),
    "with": (State.NON_EMPTY, State.EMPTY),
}
_INCLUDE_ZERO = {State.TRUTHY: State.NON_EMPTY, State.FALSY: State.EMPTY}
#: Helpers whose block renders with its argument (or each of its items) as the context.
SCOPE_CHANGING_HELPERS = frozenset({"each", "with"})


def parse(template: str) -> tuple[Node, ...]:
    """The template's syntax tree. `{{else if y}}` (any helper after `else`) chains a block.

    Raises:
        TemplateSyntaxError: a block is never closed, closed by the wrong tag, or an `{{else}}`
            stands outside a block.
    """
    body, inverse, _index = _parse(_TOKEN.split(template), 0, None)
    return body + inverse


def _parse(tokens: list[str], index: int, closing: str | None) -> tuple[tuple[Node, ...], tuple[Node, ...], int]:
    """Parse until `{{/closing}}` (or the end); return the body, the `{{else}}` part and the position."""
    branches: list[list[Node]] = [[]]
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if not token.startswith("{{"):
            if token:
                branches[-1].append(Text(token))
            continue
        raw = token.startswith("{{{")
        inner = (token[3:-3] if raw else token[2:-2]).strip().strip("~").strip()
        if inner.startswith("!"):
            continue
        if inner.startswith("/"):
            if inner[1:].strip() != closing:
                expected = f"{{{{/{closing}}}}}" if closing else "no closing tag"
                raise TemplateSyntaxError(f"{{{{{inner}}}}} found where {expected} was expected")
            return (*_split(branches), index)
        if inner in ("else", "^") or inner.startswith("else "):
            if closing is None:
                raise TemplateSyntaxError("{{else}} outside a block: put it between {{#helper}} and {{/helper}}")
            if len(branches) == 2:
                raise TemplateSyntaxError(f"a second {{{{else}}}} in {{{{#{closing}}}}}: a block has at most one")
            chained = inner.split()[1:]
            if chained:  # `{{else if y}}...{{/if}}` is `{{else}}{{#if y}}...{{/if}}{{/if}}`
                body, inverse, index = _parse(tokens, index, closing)
                branches.append([Block(chained[0], tuple(chained[1:]), body, inverse)])
                return (*_split(branches), index)
            branches.append([])
        elif inner.startswith(("#", "^")):
            words = inner[1:].split()
            if not words:
                raise TemplateSyntaxError(f"{{{{{inner}}}}} names no helper")
            body, inverse, index = _parse(tokens, index, words[0])
            if inner.startswith("^"):  # an inverted block renders its content where `#` would not
                body, inverse = inverse, body
            branches[-1].append(Block(words[0], tuple(words[1:]), body, inverse))
        elif inner:
            words = inner.split()
            branches[-1].append(Print(words[0], tuple(words[1:]), raw))
    if closing is not None:
        raise TemplateSyntaxError(f"{{{{#{closing}}}}} is never closed: add {{{{/{closing}}}}}")
    return (*_split(branches), index)


def _split(branches: list[list[Node]]) -> tuple[tuple[Node, ...], tuple[Node, ...]]:
    body, *rest = branches
    return tuple(body), tuple(rest[0]) if rest else ()


def data_name(path: str) -> str | None:
    """The top-level data key a path reads (`order` for `order.id`), or None if it reads none.

    Keywords (`this`), literals (`true`, `42`), data variables (`@index`), parent paths (`../x`),
    partials (`>x`) and subexpressions read no key of the top-level data.
    """
    for prefix in ("this.", "./"):
        if path.startswith(prefix):
            path = path[len(prefix):]
    first = path.split(".")[0]
    if not _IDENTIFIER.match(first) or _LITERAL.match(first) or first == "this":
        return None
    return first


def branches(block: Block) -> tuple[Condition, Condition] | None:
    """The conditions under which a block renders its body, and its `{{else}}`.

    None when the block is not `if`, `unless`, `each` or `with` with one plain path argument
    (`{{#if x includeZero=true}}` counts as plain): neither the check nor the renderer follows it.
    """
    states = _BRANCH_STATES.get(block.helper)
    params = block.params
    if states is not None and block.helper in ("if", "unless") and params[1:] == ("includeZero=true",):
        params, states = params[:1], (_INCLUDE_ZERO[states[0]], _INCLUDE_ZERO[states[1]])
    if states is None or len(params) != 1 or data_name(params[0]) is None:
        return None
    return Condition(params[0], states[0]), Condition(params[0], states[1])


def variable_uses(*parts: str, scoped: bool = False) -> VariableUses:
    """Where the template parts print top-level variables, with the conditions for each.

    A variable is printed where `{{name}}`, `{{{name}}}` or `{{name.part}}` stands in the top-level
    context, under the conditions of the `if`/`unless` branches around it. Inside `each` and `with`
    names are relative to the block's item, so they are not recorded, nor is the block's argument
    (Handlebars renders nothing for a missing list). Other blocks are not followed.

    Args:
        parts: template texts (subject, HTML, text).
        scoped: also record the variables whose content a block prints from inside (the argument
            of `each`, `with` or a block not followed) and helper-call arguments: every variable
            whose content can reach the output. For the subject's header-injection check; never
            needed in the data.

    Raises:
        TemplateSyntaxError: a part does not parse.
    """
    found: list[Use] = []
    for part in parts:
        _collect(parse(part), (), found, scoped=scoped)
    return VariableUses.of(found)


def _collect(nodes: Iterable[Node], when: tuple[Condition, ...], found: list[Use], *, scoped: bool) -> None:
    for node in nodes:
        if isinstance(node, Print):
            if not node.params:
                found.extend(Use(name, when) for name in _names((node.path,)))
            elif scoped:
                found.extend(Use(name, when) for name in _names(node.params))
        elif isinstance(node, Block):
            _collect_block(node, when, found, scoped=scoped)


def _collect_block(block: Block, when: tuple[Condition, ...], found: list[Use], *, scoped: bool) -> None:
    conditions = branches(block)
    if conditions is None:  # not followed: nothing inside is needed, but anything may be printed
        if scoped:
            found.extend(Use(name, when) for name in _names(block.params or (block.helper,)))
        return
    shown, hidden = conditions
    if block.helper not in SCOPE_CHANGING_HELPERS:
        _collect(block.body, _and(when, shown), found, scoped=scoped)
    elif scoped:
        found.extend(Use(name, _and(when, shown)) for name in _names((shown.path,)))
    _collect(block.inverse, _and(when, hidden), found, scoped=scoped)


def _names(paths: Iterable[str]) -> list[str]:
    return [name for name in map(data_name, paths) if name is not None]


def _and(when: tuple[Condition, ...], condition: Condition) -> tuple[Condition, ...]:
    return when if condition in when else (*when, condition)
