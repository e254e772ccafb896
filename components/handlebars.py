"""SES template syntax (Handlebars): templates read into a tree, every node knowing its line and column.

One parser serves every reader of a template: the deploy-time analysis of which variables each
template prints under which conditions (`template_variables`, evaluated by the handlers' pre-send
check in `handlers.shared.required_variables`), the renderer (`template_render`) and the authors'
check (`template_check`), so all three agree on what a template says. It reads the Handlebars language
as handlebars.js 4 does (its grammar, `src/handlebars.yy`, and lexer, `src/handlebars.l`):

- `{{path}}`, `{{{path}}}` and `{{& path}}`; `{{helper param key=value}}`; subexpressions `(helper x)`;
- blocks `{{#helper ...}}...{{else}}...{{/helper}}`, `{{else if x}}` chains, inverse blocks `{{^x}}`;
- paths `a.b`, `this`, `../a`, `@index`/`@key`/`@first`/`@last`/`@root`, `[segment with spaces]`;
  literals `"text"`, `'text'`, numbers, `true`, `false`, `null`, `undefined`;
- comments `{{! ...}}` and `{{!-- ... --}}`, whitespace control `{{~ ... ~}}`, and standalone tags
  (a line holding only a block tag, `else` or a comment) dropping their line;
- partials `{{> name}}` and inline partials `{{#*inline "name"}}...{{/inline}}` (SES documents both:
  SES Developer Guide, "Advanced email personalization").

A template it cannot read raises `TemplateSyntaxError` with the line, the column and what to do.
It runs at deploy time and locally only, so it stays out of the Lambda package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field



@dataclass(frozen=True)
class Position:
    """Where a node starts in its template: 1-based line and column."""

    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


class TemplateSyntaxError(ValueError):
    """A template the parser cannot read, with where (`position`) and what to do (`reason`)."""

    def __init__(self, reason: str, position: Position = Position()) -> None:
        super().__init__(f"line {position.line}, column {position.column}: {reason}")
        self.reason = reason
        self.position = position


@dataclass(frozen=True)
class SubExpression:
    """`(helper param ...)`: a helper called for its value."""

    helper: str
    params: tuple[Param, ...] = ()


Param = str | SubExpression  # a path or a literal as written (`"text"`, `42`), or a subexpression


@dataclass(frozen=True)
class Text:
    """Literal template text."""

    value: str
    position: Position = field(default=Position(), compare=False)


@dataclass(frozen=True)
class Print:
    """`{{path}}` or `{{{path}}}` (raw); with params it is a helper call, `{{helper a b}}`."""

    path: str
    params: tuple[Param, ...] = ()
    raw: bool = False
    position: Position = field(default=Position(), compare=False)
    hash: tuple[tuple[str, Param], ...] = ()


@dataclass(frozen=True)
class Block:
    """`{{#helper params}}body{{else}}inverse{{/helper}}`; `{{^x}}...{{/x}}` has only an inverse."""

    helper: str
    params: tuple[Param, ...]
    body: tuple[Node, ...]
    inverse: tuple[Node, ...]
    position: Position = field(default=Position(), compare=False)
    hash: tuple[tuple[str, Param], ...] = ()


@dataclass(frozen=True)
class Partial:
    """`{{> name}}`: the template of an inline partial, rendered here."""

    name: str
    params: tuple[Param, ...] = ()
    position: Position = field(default=Position(), compare=False)


Node = Text | Print | Block | Partial

_MUSTACHE = re.compile(r"\{\{(~?)(!--.*?--|!.*?|\{.*?\}|.*?)(~?)\}\}(\}?)", flags=re.S)
_WORD = re.compile(r"""\s*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(\()|(\))|(\[[^\]]*\](?:\.\S+)?|[^\s()=]+=?))""")
# Characters Handlebars does not allow in an identifier (its lexer's ID rule).
_IDENTIFIER = re.compile(r"""^[^\s!"#%&'()*+,./;<=>@\[\\\]^`{|}~]+$""")
_LITERAL = re.compile(r"""^(?:true|false|null|undefined|-?\d+(?:\.\d+)?|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')$""")



@dataclass
class _Tag:
    """One `{{...}}` as written: its inner text, where it is, and whether it stands alone on its line."""

    inner: str
    start: int
    end: int
    strip_before: bool
    strip_after: bool
    raw: bool
    position: Position
    standalone: bool = False

    @property
    def kind(self) -> str:
        """`comment`, `open`, `inverse`, `close`, `else`, `partial` or `print`."""
        inner = self.inner
        if inner.startswith("!"):
            return "comment"
        if self.raw or inner.startswith("&"):
            return "print"
        if inner.startswith(("#", "^")):
            return "inverse" if inner.startswith("^") and inner[1:].strip() else \
                ("else" if inner.startswith("^") else "open")
        if inner.startswith("/"):
            return "close"
        if inner == "else" or inner.startswith("else ") or inner.startswith("else\n"):
            return "else"
        return "partial" if inner.startswith(">") else "print"


def parse(template: str) -> tuple[Node, ...]:
    """The template's tree. `{{else if y}}` (any helper after `else`) chains a block.

    Raises:
        TemplateSyntaxError: an unclosed `{{`, a block never closed or closed by the wrong tag, an
            `{{else}}` outside a block, a tag that names nothing.
    """
    tags = _tags(template)
    _mark_standalone(template, tags)
    pieces = _pieces(template, tags)
    nodes, index, closing = _parse(pieces, 0, None)
    del index, closing
    return nodes


def _tags(template: str) -> list[_Tag]:
    tags: list[_Tag] = []
    position = 0
    for match in _MUSTACHE.finditer(template):
        _refuse_stray_braces(template, position, match.start())
        body, extra = match.group(2), match.group(4)
        raw = body.startswith("{")
        if raw and not body.endswith("}"):
            raise TemplateSyntaxError("`{{{` is closed by `}}`: close a raw mustache with `}}}`",
                                      _position(template, match.start()))
        if extra:
            raise TemplateSyntaxError("`}}}` closes a `{{`: open a raw mustache with `{{{`, or close this one "
                                      "with `}}`", _position(template, match.start()))
        inner = (body[1:-1] if raw else body).strip()
        if "{{" in inner and not inner.startswith("!--"):
            raise TemplateSyntaxError("`{{` is never closed: close each mustache with `}}` before opening the next",
                                      _position(template, match.start()))
        tags.append(_Tag(inner, match.start(), match.end(), match.group(1) == "~", match.group(3) == "~", raw,
                         _position(template, match.start())))
        position = match.end()
    _refuse_stray_braces(template, position, len(template))
    return tags


def _refuse_stray_braces(template: str, start: int, end: int) -> None:
    opened = template.find("{{", start, end)
    if opened >= 0:
        raise TemplateSyntaxError("`{{` is never closed: close it with `}}`", _position(template, opened))


def _position(template: str, offset: int) -> Position:
    line = template.count("\n", 0, offset) + 1
    return Position(line, offset - (template.rfind("\n", 0, offset) + 1) + 1)


def _mark_standalone(template: str, tags: list[_Tag]) -> None:
    """A block tag, `else`, partial or comment alone on its line takes the line with it (handlebars.js's WhitespaceControl)."""
    for tag in tags:
        if tag.kind == "print":
            continue
        line_start = template.rfind("\n", 0, tag.start) + 1
        line_end = template.find("\n", tag.end)
        line_end = len(template) if line_end < 0 else line_end
        before, after = template[line_start:tag.start], template[tag.end:line_end]
        tag.standalone = not before.strip(" \t") and not after.strip(" \t\r")


def _pieces(template: str, tags: list[_Tag]) -> list[Text | _Tag]:
    """The template as literal texts and tags, whitespace control and standalone lines applied."""
    pieces: list[Text | _Tag] = []
    cursor = 0
    for index, tag in enumerate(tags):
        text = template[cursor:tag.start]
        if tag.strip_before:
            text = text.rstrip()
        elif tag.standalone:
            text = text.rstrip(" \t")
        previous = tags[index - 1] if index else None
        if previous is not None and previous.strip_after:
            text = text.lstrip()
        elif previous is not None and previous.standalone:
            text = re.sub(r"^[ \t]*\r?\n", "", text, count=1)
        if text:
            pieces.append(Text(text, _position(template, cursor)))
        pieces.append(tag)
        cursor = tag.end
    text = template[cursor:]
    if tags and tags[-1].strip_after:
        text = text.lstrip()
    elif tags and tags[-1].standalone:
        text = re.sub(r"^[ \t]*\r?\n", "", text, count=1)
    if text:
        pieces.append(Text(text, _position(template, cursor)))
    return pieces


def _parse(pieces: list[Text | _Tag], index: int, closing: _Tag | None) -> tuple[tuple[Node, ...], int, _Tag | None]:
    """Nodes until the tag that ends the current block (`{{/x}}` or an `{{else}}`), which is returned too."""
    nodes: list[Node] = []
    while index < len(pieces):
        piece = pieces[index]
        index += 1
        if isinstance(piece, Text):
            nodes.append(piece)
            continue
        kind = piece.kind
        if kind == "comment":
            continue
        if kind in ("close", "else"):
            if closing is None:
                what = "{{/...}}" if kind == "close" else "{{else}}"
                raise TemplateSyntaxError(f"{what} outside a block: it closes nothing here", piece.position)
            return tuple(nodes), index, piece
        if kind in ("open", "inverse"):
            block, index = _block(pieces, index, piece)
            nodes.append(block)
        elif kind == "partial":
            words = _words(piece.inner[1:], piece.position)
            if not words:
                raise TemplateSyntaxError("{{>}} names no partial: write {{> name}}", piece.position)
            nodes.append(Partial(_unquote(str(words[0])), tuple(words[1:]), piece.position))
        else:
            inner = piece.inner[1:].strip() if piece.inner.startswith("&") else piece.inner
            words = _words(inner, piece.position)
            if not words:
                raise TemplateSyntaxError("an empty mustache `{{}}`: name a variable, e.g. {{name}}", piece.position)
            params, hash_ = _split_hash(words[1:])
            if isinstance(words[0], SubExpression):
                raise TemplateSyntaxError("a mustache cannot start with a subexpression", piece.position)
            nodes.append(Print(words[0], params, piece.raw or piece.inner.startswith("&"), piece.position, hash_))
    if closing is not None:
        name = _block_name(closing)
        raise TemplateSyntaxError(f"{{{{#{name}}}}} is never closed: add {{{{/{name}}}}}", closing.position)
    return tuple(nodes), index, None


def _block(pieces: list[Text | _Tag], index: int, opening: _Tag) -> tuple[Block, int]:
    """A block from its opening tag to its `{{/name}}`, with its `{{else}}` part (chained blocks included)."""
    name = _block_name(opening)
    words = _words(opening.inner[1:].lstrip().lstrip("*"), opening.position)
    params, hash_ = _split_hash(words[1:])
    body, index, ending = _parse(pieces, index, opening)
    inverse: tuple[Node, ...] = ()
    if ending is not None and ending.kind == "else":
        inverse, index, ending = _else_part(pieces, index, opening, ending)
    if ending is None or ending.inner[1:].strip() != name:
        found = f"{{{{{ending.inner}}}}}" if ending is not None else "the end of the template"
        raise TemplateSyntaxError(f"{found} closes {{{{#{name}}}}} (opened at line {opening.position.line}, column "
                                  f"{opening.position.column}): close it with {{{{/{name}}}}}",
                                  ending.position if ending is not None else opening.position)
    if opening.kind == "inverse":  # `{{^x}}` renders its content where `{{#x}}` would not
        body, inverse = inverse, body
    helper = "*inline" if name == "inline" and opening.inner[1:].lstrip().startswith("*") else str(words[0])
    return Block(helper, params, body, inverse, opening.position, hash_), index


def _else_part(pieces: list[Text | _Tag], index: int, opening: _Tag,
               else_tag: _Tag) -> tuple[tuple[Node, ...], int, _Tag | None]:
    """What follows an `{{else}}` up to the block's close; `{{else if y}}` opens a block chained there."""
    chained = else_tag.inner[4:].strip() if else_tag.inner.startswith("else") else ""
    if not chained:
        inverse, index, ending = _parse(pieces, index, opening)
        if ending is not None and ending.kind == "else":
            raise TemplateSyntaxError(f"a second {{{{else}}}} in {{{{#{_block_name(opening)}}}}}: a block has at "
                                      "most one", ending.position)
        return inverse, index, ending
    words = _words(chained, else_tag.position)
    params, hash_ = _split_hash(words[1:])
    body, index, ending = _parse(pieces, index, opening)
    inverse: tuple[Node, ...] = ()
    if ending is not None and ending.kind == "else":
        inverse, index, ending = _else_part(pieces, index, opening, ending)
    return (Block(str(words[0]), params, body, inverse, else_tag.position, hash_),), index, ending


def _block_name(tag: _Tag) -> str:
    words = tag.inner[1:].lstrip("*").split()
    if not words:
        raise TemplateSyntaxError(f"{{{{{tag.inner}}}}} names no helper: write {{{{#if x}}}}, {{{{#each x}}}}, ...",
                                  tag.position)
    return "inline" if tag.inner[1:].lstrip().startswith("*") else words[0]


def _words(text: str, position: Position) -> list[Param]:
    """A mustache's words: paths and literals, `key=value` pairs kept as `key=` then the value, subexpressions."""
    stack: list[list[Param]] = [[]]
    cursor = 0
    while cursor < len(text):
        match = _WORD.match(text, cursor)
        if match is None or match.end() == cursor:
            if text[cursor:].strip():
                raise TemplateSyntaxError(f"cannot read {text[cursor:].strip()!r} in this mustache", position)
            break
        cursor = match.end()
        quoted, opened, closed, word = match.groups()
        if opened:
            stack.append([])
        elif closed:
            if len(stack) == 1:
                raise TemplateSyntaxError("a `)` closes no subexpression", position)
            inner = stack.pop()
            if not inner or not isinstance(inner[0], str):
                raise TemplateSyntaxError("an empty subexpression `()`: name a helper inside it", position)
            stack[-1].append(SubExpression(inner[0], tuple(inner[1:])))
        else:
            stack[-1].append(quoted or word)
    if len(stack) != 1:
        raise TemplateSyntaxError("a subexpression `(` is never closed: add `)`", position)
    return stack[0]


def _split_hash(words: list[Param]) -> tuple[tuple[Param, ...], tuple[tuple[str, Param], ...]]:
    params: list[Param] = []
    hash_: list[tuple[str, Param]] = []
    index = 0
    while index < len(words):
        word = words[index]
        if isinstance(word, str) and word.endswith("=") and index + 1 < len(words):
            hash_.append((word[:-1], words[index + 1]))
            index += 2
        elif isinstance(word, str) and "=" in word and not word.startswith(("'", '"')):
            key, _, value = word.partition("=")
            hash_.append((key, value))
            index += 1
        else:
            params.append(word)
            index += 1
    return tuple(params), tuple(hash_)


def _unquote(word: str) -> str:
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"'" else word


def is_literal(param: Param) -> bool:
    """Whether a param is a literal (`"text"`, `42`, `true`, `null`) rather than a path or a subexpression."""
    return isinstance(param, str) and bool(_LITERAL.match(param))


def data_name(path: Param) -> str | None:
    """The top-level data key a path reads (`order` for `order.id`), or None if it reads none.

    Keywords (`this`), literals (`true`, `42`), data variables (`@index`), parent paths (`../x`),
    partials and subexpressions read no key of the current context's top level.
    """
    if not isinstance(path, str):
        return None
    for prefix in ("this.", "./"):
        if path.startswith(prefix):
            path = path[len(prefix):]
    first = path.split(".")[0]
    if first.startswith("[") and first.endswith("]"):
        first = first[1:-1]
        return first or None
    if not _IDENTIFIER.match(first) or _LITERAL.match(first) or first == "this":
        return None
    return first
