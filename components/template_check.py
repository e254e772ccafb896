"""The authors' check of SES templates: every mistake as `file:line:column`, what is wrong and what to do.

A template version is a folder `templates/<name>/<version>/` with `subject.txt`, `body.html`,
`body.txt` and, beside them, `samples/*.json`: the data an event's `templateData` brings (each
sample a JSON object: the happy path, an empty list, a long name...). The check reads what SES
would and what no test would catch until a customer saw it:

- a part that does not parse (an unclosed block, `{{name}`, `{{{name}}`): error, with its line;
- a helper or construct SES does not have (`{{#iff}}`, `{{formatQty qty}}`, `{{> partial}}`
  never defined, a partial block): error, with the closest helper SES has;
- each sample rendered as SES would, every printed name looked up where it is printed (inside
  `each` and `with` too): a name no sample provides is an error (with "did you mean" when a close
  name is there: a misspelling), one some samples lack is an error naming the sample (SES fails a
  top-level one; inside a list it prints nothing: `- x Mug`), a line no sample reaches is a warning
  (the branch is unchecked);
- links in the HTML part (`href`, `src`), as each sample renders them: empty, `javascript:`, or
  `localhost`/`127.0.0.1` is an error; `http:` or a relative link (email has no base URL) a warning;
- a version without samples is a warning: nothing it prints can be checked.

The variables an event always brings, whatever its `templateData` (`subject`, `title`,
`timestamp`, `source`: `handlers.sending.contract`), are supplied to every sample that lacks them.
The program runs the check at preview (errors stop it) and `email-pipeline templates check` runs it
for authors and CI.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .handlebars import Block, Node, Partial, Position, Print, SubExpression, TemplateSyntaxError, data_name, parse
from .handlers.shared.topics import UNSUBSCRIBE_URL_VARIABLE
from .template_files import HTML_FILE, SUBJECT_FILE, TEXT_FILE
from .template_render import BUILT_IN_HELPERS, MISSING, Frame, Renderer, RenderingFailure, inline_partials, lookup

SAMPLES_FOLDER = "samples"
#: What every event brings to its template whatever its templateData (the recipe's variables).
ALWAYS_PROVIDED = {"subject": "A sample subject", "title": "A sample title", "timestamp": "2026-12-04T09:00:00Z",
                   "source": "sample.source",
                   # SES fills it in a send with a topic; the lanes refuse a template printing it without one.
                   UNSUBSCRIBE_URL_VARIABLE: "https://unsubscribe.example.com/sample"}
_PARTS = (SUBJECT_FILE, HTML_FILE, TEXT_FILE)
_LINK = re.compile(r"""\b(href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')""", flags=re.I)
_LOCAL_HOSTS = re.compile(r"^[a-z][a-z0-9+.-]*://(localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0)(?=[:/?#]|$)",
                          flags=re.I)
#: SES fills these in itself (the unsubscribe link of a send with list management).
_SES_PLACEHOLDERS = ("{{amazonSESUnsubscribeUrl}}",)


@dataclass(frozen=True, order=True)
class TemplateProblem:
    """One thing wrong with a template: where, how bad, which rule, and what to do."""

    file: str
    line: int
    column: int
    severity: str  # "error" (SES would refuse or mis-render) or "warning" (worth a look)
    rule: str
    message: str = field(compare=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Sample:
    name: str
    data: Mapping[str, Any]


def check_templates(templates_dir: Path, *, relative_to: Path | None = None) -> list[TemplateProblem]:
    """Every problem of every template version under `templates_dir`, sorted by file and line."""
    base = relative_to or templates_dir.parent
    problems: list[TemplateProblem] = []
    for version in sorted(path for path in templates_dir.glob("*/*") if path.is_dir()):
        problems += check_version(version, relative_to=base)
    return sorted(problems)


def check_version(folder: Path, *, relative_to: Path) -> list[TemplateProblem]:
    """The problems of one template version folder (its three parts and its samples)."""
    def where(name: str) -> str:
        return (folder / name).relative_to(relative_to).as_posix()

    problems: list[TemplateProblem] = []
    samples = _samples(folder, where, problems)
    for part in _PARTS:
        path = folder / part
        if not path.is_file():
            problems.append(TemplateProblem(where(part), 1, 1, "error", "missing-part",
                                            f"{part} is missing: a version has subject.txt, body.html and body.txt"))
            continue
        text = path.read_text(encoding="utf-8")
        if part == SUBJECT_FILE:
            text = text.strip()
        try:
            nodes = parse(text)
        except TemplateSyntaxError as exc:
            problems.append(_problem(where(part), exc.position, "error", "syntax", exc.reason))
            continue
        problems += _constructs(where(part), nodes)
        problems += _names(where(part), text, nodes, samples, escape=part == HTML_FILE)
        if part == HTML_FILE:
            problems += _links(where(part), text, samples)
    return problems


def _samples(folder: Path, where: Any, problems: list[TemplateProblem]) -> list[Sample]:
    files = sorted((folder / SAMPLES_FOLDER).glob("*.json"))
    if not files:
        problems.append(TemplateProblem(where(SAMPLES_FOLDER), 1, 1, "warning", "no-samples", (
            f"no sample data: add {SAMPLES_FOLDER}/<name>.json with the templateData an event sends, so what "
            "the template prints can be checked")))
    samples = []
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
            problems.append(TemplateProblem(where(f"{SAMPLES_FOLDER}/{path.name}"), line, column, "error",
                                            "sample", f"not JSON ({getattr(exc, 'msg', exc)}): fix the sample"))
            continue
        if not isinstance(data, dict):
            problems.append(TemplateProblem(where(f"{SAMPLES_FOLDER}/{path.name}"), 1, 1, "error", "sample",
                                            "a sample is a JSON object: the templateData an event sends"))
            continue
        samples.append(Sample(path.name, {**ALWAYS_PROVIDED, **data}))
    return samples


def _constructs(file: str, nodes: Sequence[Node]) -> list[TemplateProblem]:
    """Helpers, partials and blocks SES does not have."""
    problems: list[TemplateProblem] = []
    partials = set(inline_partials(nodes))

    def unknown(name: str, position: Position, kind: str) -> None:
        close = difflib.get_close_matches(name, sorted(BUILT_IN_HELPERS), n=1, cutoff=0.6)
        hint = f"did you mean `{close[0]}`? " if close else ""
        problems.append(_problem(file, position, "error", "helper", (
            f"SES has no {kind} `{name}`: {hint}SES templates have Handlebars' built-in helpers only "
            f"({', '.join(sorted(BUILT_IN_HELPERS))}); compute the value in the event's templateData instead")))

    def visit(items: Iterable[Node]) -> None:
        for node in items:
            if isinstance(node, Print):
                if node.params or node.hash:
                    if node.path not in ("lookup", "log"):
                        unknown(node.path, node.position, "helper")
                visit_params(node.params, node.position)
            elif isinstance(node, Partial):
                if node.name not in partials:
                    problems.append(_problem(file, node.position, "error", "partial", (
                        f"the partial `{node.name}` is never defined: define it in this part with "
                        f'{{{{#*inline "{node.name}"}}}}...{{{{/inline}}}} (SES keeps no registered partials)')))
            elif isinstance(node, Block):
                if node.helper.startswith(">"):
                    problems.append(_problem(file, node.position, "error", "partial", (
                        "partial blocks ({{#> name}}) are not supported: use {{> name}} with an inline partial")))
                elif node.helper not in BUILT_IN_HELPERS and node.helper != "*inline" and (node.params or node.hash):
                    unknown(node.helper, node.position, "block helper")
                visit_params(node.params, node.position)
                visit(node.body)
                visit(node.inverse)

    def visit_params(params: Iterable[Any], position: Position) -> None:
        for param in params:
            if isinstance(param, SubExpression):
                if param.helper != "lookup":
                    unknown(param.helper, position, "helper")
                visit_params(param.params, position)

    visit(nodes)
    return problems


@dataclass
class _Lookup:
    """What the samples found for one printed name at one place."""

    path: str
    position: Position
    missing_in: list[str] = field(default_factory=list)
    found_in: list[str] = field(default_factory=list)
    nearby: set[str] = field(default_factory=set)  # the names the context had, for "did you mean"
    where: str = ""  # e.g. " (in lanes[0])"


class _TracingRenderer(Renderer):
    """Renders a sample, recording for each printed name whether the sample provides it where it is printed."""

    def __init__(self, sample: Sample, lookups: dict[tuple[int, int, str], _Lookup],
                 partials: Mapping[str, tuple[Node, ...]]) -> None:
        super().__init__(escape=False, strict=False, partials=partials)
        self._sample = sample
        self._lookups = lookups

    def _print_value(self, node: Print, frame: Frame) -> Any:
        if not node.params and not node.hash and node.path not in ("lookup", "log") and data_name(node.path):
            context, value = lookup(node.path, frame)
            key = (node.position.line, node.position.column, node.path)
            entry = self._lookups.setdefault(key, _Lookup(node.path, node.position))
            (entry.missing_in if value is MISSING else entry.found_in).append(self._sample.name)
            if value is MISSING:
                if isinstance(context, Mapping):
                    entry.nearby.update(str(name) for name in context)
                if len(frame.contexts) > 1 and not entry.where:
                    entry.where = " (inside a block, for an item or value it iterates or enters)"
            return None if value is MISSING else value
        try:
            return super()._print_value(node, frame)
        except RenderingFailure:
            return None  # reported by `_constructs`


def _names(file: str, text: str, nodes: Sequence[Node], samples: Sequence[Sample], *,
           escape: bool) -> list[TemplateProblem]:
    if not samples:
        return []
    lookups: dict[tuple[int, int, str], _Lookup] = {}
    partials = inline_partials(nodes)
    for sample in samples:
        try:
            _TracingRenderer(sample, lookups, partials).nodes(nodes, Frame.root(dict(sample.data)))
        except RenderingFailure:
            continue  # a construct SES does not have: reported by `_constructs`
    problems = []
    for entry in lookups.values():
        if not entry.missing_in:
            continue
        name = entry.path.split(".")[-1]
        close = difflib.get_close_matches(name, sorted(entry.nearby - {name}), n=1, cutoff=0.75)
        if not entry.found_in:
            hint = f"did you mean `{close[0]}`? " if close else ""
            message = (f"`{entry.path}` is in no sample{entry.where}: {hint}fix the name, or add it to the samples "
                       "(every event must then send it)")
        else:
            lacking = ", ".join(sorted(set(entry.missing_in)))
            message = (f"`{entry.path}` is printed here but {lacking} lacks it{entry.where}: SES fails to render a "
                       "missing top-level name, and prints nothing for one inside a block; wrap it in "
                       f"{{{{#if {entry.path}}}}}...{{{{/if}}}} if it is optional, or add it to the sample")
        problems.append(_problem(file, entry.position, "error", "variable", message))
    reached = {(entry.position.line, entry.position.column) for entry in lookups.values()}
    problems += _unreached(file, nodes, reached)
    return problems


def _unreached(file: str, nodes: Sequence[Node], reached: set[tuple[int, int]]) -> list[TemplateProblem]:
    """A printed name no sample renders: the branch it is in is unchecked."""
    problems = []
    for node in _prints(nodes):
        if data_name(node.path) and (node.position.line, node.position.column) not in reached and not node.params:
            problems.append(_problem(file, node.position, "warning", "unreached", (
                f"no sample renders `{node.path}` here: add a sample that takes this branch, so it is checked")))
    return problems


def _prints(nodes: Iterable[Node]) -> Iterable[Print]:
    for node in nodes:
        if isinstance(node, Print):
            yield node
        elif isinstance(node, Block) and node.helper != "*inline":
            yield from _prints(node.body)
            yield from _prints(node.inverse)


def _links(file: str, text: str, samples: Sequence[Sample]) -> list[TemplateProblem]:
    problems = []
    for match in _LINK.finditer(text):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        position = _position(text, match.start())
        rendered = {value} if "{{" not in value or value in _SES_PLACEHOLDERS else \
            {_render_attribute(value, sample) for sample in samples} or {value}
        for link in sorted(rendered):
            problem = _link_problem(match.group(1).lower(), link.strip())
            if problem is not None:
                severity, message = problem
                problems.append(_problem(file, position, severity, "link", message))
                break
    return problems


def _render_attribute(value: str, sample: Sample) -> str:
    from .template_render import render

    try:
        return render(value, dict(sample.data), escape=True, strict=False)
    except RenderingFailure:
        return value


def _link_problem(attribute: str, link: str) -> tuple[str, str] | None:
    lowered = link.lower()
    if not link:
        return "error", f"an empty {attribute}: a link must go somewhere (an absolute https:// address)"
    if lowered.startswith("javascript:"):
        return "error", f"a javascript: {attribute}: mail clients refuse it and spam filters punish it; link to https"
    if _LOCAL_HOSTS.match(link):
        return "error", f"{attribute} points at this machine ({link}): recipients cannot reach it; use the public https address"
    if lowered.startswith("http://"):
        return "warning", f"an http: {attribute} ({link}): use https, or mail clients warn and links get rewritten"
    if lowered.startswith(("https://", "mailto:", "tel:", "cid:", "#")) or link in _SES_PLACEHOLDERS:
        return None
    return "warning", (f"a relative {attribute} ({link}): an email has no base address; use an absolute https:// "
                       "address")


def _problem(file: str, position: Position, severity: str, rule: str, message: str) -> TemplateProblem:
    return TemplateProblem(file, position.line, position.column, severity, rule, message)


def _position(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    return Position(line, offset - (text.rfind("\n", 0, offset) + 1) + 1)
