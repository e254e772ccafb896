"""Render SES templates as Handlebars renders them, with SES's one strictness: a missing top-level variable fails.

SES templates are Handlebars (SES Developer Guide, "Advanced email personalization"). This renders
the language `handlebars.parse` reads with handlebars.js 4's semantics, and a test renders the
repository's templates and samples and a corpus of tricky cases with handlebars.js itself and
requires the same output (`tests/templates/test_reference_render.py`):

- values print as JavaScript prints them (`true`, `1` for 1.0, `a,b` for a list), `null` and a
  missing value as nothing; `{{x}}` in the HTML part escapes `& < > " ' \\` =`, `{{{x}}}` does not;
- `if`/`unless` (with `includeZero`), `each` (over lists and objects, with `@index`, `@key`,
  `@first`, `@last`), `with`, `lookup` and `log`; `this`, `../` (one context up: `each` and `with`
  push one), `@root`; inline partials `{{#*inline "name"}}` and `{{> name}}`;
- anything else (a helper SES does not have, a partial never defined) fails the render, as SES
  reports it, asynchronously, in a Rendering Failure event.

SES differs from handlebars.js in one documented way the emulator follows: a variable printed in
the top-level context that the data lacks fails the render ("Attribute 'x' is not present in the
rendering data", SES's RenderingFailure `errorMessage`) instead of printing nothing; inside
`each`/`with` a missing name prints nothing, as in Handlebars.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .handlebars import Block, Node, Param, Partial, Print, SubExpression, TemplateSyntaxError, Text, data_name, \
    is_literal, parse

#: The helpers SES has: Handlebars' built-ins (handlebarsjs.com, "Built-in Helpers").
BUILT_IN_HELPERS = frozenset({"if", "unless", "each", "with", "lookup", "log"})
#: Data variables a block sets (`@index`...), and the root context.
DATA_VARIABLES = frozenset({"@index", "@key", "@first", "@last", "@root"})
#: handlebars.js `Utils.escapeExpression`.
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"}


class RenderingFailure(ValueError):
    """The data cannot render the template (what SES reports in a Rendering Failure event)."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def render_email(subject: str, html_part: str, text_part: str, data: Mapping[str, Any]) -> RenderedEmail:
    """Render all three parts; only the HTML part escapes values.

    Raises:
        RenderingFailure: a part does not parse, uses what SES does not have, or prints a top-level
            variable the data lacks.
    """
    return RenderedEmail(subject=render(subject, data, escape=False), html=render(html_part, data, escape=True),
                         text=render(text_part, data, escape=False))


def render(template: str, data: Any, *, escape: bool, strict: bool = True) -> str:
    """Render one template part against the data.

    Args:
        template: the part's text.
        data: the template data (a JSON object).
        escape: HTML-escape what `{{ }}` prints (the HTML part).
        strict: fail on a top-level variable the data lacks, as SES does (False: print nothing,
            as handlebars.js does).

    Raises:
        RenderingFailure: as `render_email`.
    """
    try:
        nodes = parse(template)
    except TemplateSyntaxError as exc:
        raise RenderingFailure(str(exc)) from exc
    renderer = Renderer(escape=escape, strict=strict, partials=inline_partials(nodes))
    return "".join(renderer.nodes(nodes, Frame.root(data)))


@dataclass(frozen=True)
class Frame:
    """Where a node renders: the contexts from the root to the current one, and the block's data variables."""

    contexts: tuple[Any, ...]
    data: Mapping[str, Any]

    @classmethod
    def root(cls, data: Any) -> Frame:
        return cls(contexts=(data,), data={"@root": data})

    def push(self, context: Any, **data: Any) -> Frame:
        return Frame((*self.contexts, context), {**self.data, **{f"@{k}": v for k, v in data.items()}})


class Renderer:
    """Renders parsed nodes; `template_check` subclasses it to see every lookup a sample makes."""

    def __init__(self, *, escape: bool, strict: bool, partials: Mapping[str, tuple[Node, ...]]) -> None:
        self._escape = escape
        self._strict = strict
        self._partials = partials
        self._blocks: dict[str, Callable[[Block, Frame], list[str]]] = {
            "if": self._if, "unless": self._if, "each": self._each, "with": self._with, "*inline": self._inline,
        }

    def nodes(self, nodes: Sequence[Node], frame: Frame) -> list[str]:
        out: list[str] = []
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.value)
            elif isinstance(node, Print):
                text = to_text(self._print_value(node, frame))
                out.append(text if node.raw or not self._escape else escape_html(text))
            elif isinstance(node, Partial):
                out.extend(self._partial(node, frame))
            else:
                render_block = self._blocks.get(node.helper)
                if render_block is None and not node.params and not node.hash:
                    render_block = self._section
                if render_block is None:
                    raise RenderingFailure(f"{_where(node)}SES has no block helper {node.helper!r} "
                                           f"(it has {', '.join(sorted(BUILT_IN_HELPERS))})")
                out.extend(render_block(node, frame))
        return out

    def _print_value(self, node: Print, frame: Frame) -> Any:
        if node.params or node.hash or node.path in ("lookup", "log"):
            return self._call(node.path, node.params, frame, node)
        if self._strict and len(frame.contexts) == 1 and (name := data_name(node.path)) is not None \
                and not (isinstance(frame.contexts[0], Mapping) and name in frame.contexts[0]):
            raise RenderingFailure(f"Attribute '{node.path}' is not present in the rendering data")
        return self.value(node.path, frame)

    def _call(self, helper: str, params: Sequence[Param], frame: Frame, node: Print | SubExpression) -> Any:
        if helper == "lookup" and len(params) == 2:
            container, key = (self.value(param, frame) for param in params)
            value = _member(container, to_text(key)) if container is not None else None
            return None if value is MISSING else value
        if helper == "log":
            return None
        where = _where(node) if isinstance(node, Print) else ""
        raise RenderingFailure(f"{where}SES has no helper {helper!r} (it has {', '.join(sorted(BUILT_IN_HELPERS))})")

    def value(self, param: Param, frame: Frame) -> Any:
        """What a param stands for: a literal's value, a path's in the frame, a subexpression's result."""
        if isinstance(param, SubExpression):
            return self._call(param.helper, param.params, frame, param)
        if is_literal(param):
            return _literal(param)
        value = _resolve(param, frame)
        return None if value is MISSING else value

    def _if(self, block: Block, frame: Frame) -> list[str]:
        if len(block.params) != 1:
            raise RenderingFailure(f"{_where(block)}#{block.helper} takes exactly one argument")
        value = self.value(block.params[0], frame)
        shown = not is_empty(value, include_zero=dict(block.hash).get("includeZero") == "true")
        if block.helper == "unless":
            shown = not shown
        return self.nodes(block.body if shown else block.inverse, frame)

    def _with(self, block: Block, frame: Frame) -> list[str]:
        value = self.value(block.params[0], frame) if block.params else None
        if is_empty(value, include_zero=True):
            return self.nodes(block.inverse, frame)
        return self.nodes(block.body, frame.push(value))

    def _each(self, block: Block, frame: Frame) -> list[str]:
        value = self.value(block.params[0], frame) if block.params else None
        if isinstance(value, Mapping):
            items = [(str(key), item) for key, item in value.items()]
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            items = []
        if not items:
            return self.nodes(block.inverse, frame)
        out: list[str] = []
        for index, (key, item) in enumerate(items):
            position = {"index": index, "key": key, "first": index == 0, "last": index == len(items) - 1}
            out.extend(self.nodes(block.body, frame.push(item, **position)))
        return out

    def _section(self, block: Block, frame: Frame) -> list[str]:
        """`{{#name}}...{{/name}}` with no helper of that name: a Mustache section (handlebars.js's
        `blockHelperMissing`): true renders the block, a list each item, an object with it as the context."""
        value = self.value(block.helper, frame)
        if value is True:
            return self.nodes(block.body, frame)
        if value is False or value is None or (isinstance(value, list) and not value):
            return self.nodes(block.inverse, frame)
        if isinstance(value, list):
            return self._each(Block("each", (block.helper,), block.body, block.inverse, block.position), frame)
        return self.nodes(block.body, frame.push(value))

    def _inline(self, _block: Block, _frame: Frame) -> list[str]:
        return []  # defined up front (`_inline_partials`); prints nothing where it stands

    def _partial(self, node: Partial, frame: Frame) -> list[str]:
        partial = self._partials.get(node.name)
        if partial is None:
            raise RenderingFailure(f"{_where(node)}The partial {node.name} could not be found: define it "
                                   f"with {{{{#*inline \"{node.name}\"}}}}...{{{{/inline}}}}")
        context = self.value(node.params[0], frame) if node.params else frame.contexts[-1]
        return self.nodes(partial, frame if context is frame.contexts[-1] else frame.push(context))


def _where(node: Print | Block | Partial) -> str:
    return f"line {node.position.line}, column {node.position.column}: "


def inline_partials(nodes: Sequence[Node]) -> dict[str, tuple[Node, ...]]:
    found: dict[str, tuple[Node, ...]] = {}
    for node in nodes:
        if isinstance(node, Block):
            if node.helper == "*inline" and node.params and isinstance(node.params[0], str):
                found[_literal(node.params[0])] = node.body
            found.update(inline_partials(node.body))
            found.update(inline_partials(node.inverse))
    return found


def _resolve(path: str, frame: Frame) -> Any:
    return lookup(path, frame)[1]


def lookup(path: str, frame: Frame) -> tuple[Any, Any]:
    """A path as handlebars.js looks it up: (the context it was looked up in, its value, or `MISSING`).

    Data variables (`@index`), `../` up the contexts, `this`, then each segment in turn.
    """
    if path.startswith("@"):
        head, _, rest = path.partition(".")
        value = frame.data[head] if head in frame.data else MISSING
        return frame.data, (_walk(value, rest) if rest and value is not MISSING else value)
    depth = len(frame.contexts) - 1
    while path.startswith("../"):
        depth, path = max(0, depth - 1), path[3:]
    context = frame.contexts[depth]
    for prefix in ("this.", "./"):
        if path.startswith(prefix):
            path = path[len(prefix):]
    if path in ("this", "."):
        return context, context
    return context, _walk(context, path)


class _Missing:
    """A path that names nothing in its context (as against one whose value is null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _walk(value: Any, path: str) -> Any:
    for segment in _segments(path):
        if value is None or value is MISSING:
            return MISSING
        value = _member(value, segment)
    return value


def _segments(path: str) -> list[str]:
    segments, current, bracket = [], "", False
    for char in path:
        if char == "[" and not current:
            bracket = True
        elif char == "]" and bracket:
            bracket = False
        elif char == "." and not bracket:
            segments.append(current)
            current = ""
        else:
            current += char
    segments.append(current)
    return segments


def _member(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name, MISSING)
    if isinstance(value, (list, str)):
        if name == "length":
            return len(value)
        if name.isdigit() and int(name) < len(value):
            return value[int(name)]
    return MISSING


def _literal(word: str) -> Any:
    if word[0] in "\"'":
        return word[1:-1].replace("\\" + word[0], word[0])
    if word in ("true", "false"):
        return word == "true"
    if word in ("null", "undefined"):
        return None
    number = float(word)
    return int(number) if number.is_integer() else number


def is_empty(value: Any, *, include_zero: bool = False) -> bool:
    """handlebars.js's test for `if`, `unless` and `with`: false, null, "", [] (and 0 unless `include_zero`)."""
    if isinstance(value, bool):
        return not value
    if value is None:
        return True
    if isinstance(value, (int, float)):
        return value == 0 and not include_zero
    if isinstance(value, (str, list)):
        return len(value) == 0
    return False


def to_text(value: Any) -> str:
    """A value as JavaScript's `String(value)` writes it (what handlebars.js prints)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, list):
        return ",".join(to_text(item) for item in value)
    if isinstance(value, Mapping):
        return "[object Object]"
    return str(value)


def _js_number(number: float) -> str:
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    text = repr(number)
    if "e" in text:  # Python's 1e-07 is JavaScript's 1e-7, 1e+21 stays 1e+21
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def escape_html(text: str) -> str:
    """What `{{x}}` does to a value in handlebars.js (`Utils.escapeExpression`)."""
    return "".join(_ESCAPES.get(char, char) for char in text) if any(c in text for c in _ESCAPES) else text


