"""`python -m local event new`: an events file for a template, ready for `local send` and `aws events put-events`.

Hand-escaping `Detail` (JSON text inside JSON) is the tedious part of writing events. This writes
one entry for the stack's bus with the event's `Detail` as text, and its `templateData` holding a
placeholder for each variable the template prints, read from the template itself: top-level names,
and the fields printed inside `{{#each list}}` (a list of one item) and `{{#with object}}`. The
names the event itself supplies go where the contract takes them (`emailConfig.subject`, `title`,
`message`; `timestamp` and `source` come from the envelope). The entry is checked against
botocore's model of PutEvents, as the AWS CLI checks it, and the detail against the event
contract, before anything is written; a stack with no route for the source and detail-type is
named (the file is still written: add the route, README "Extending it").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ses_email_pipeline.handlebars import Block, Node, Print, data_name, parse
from ses_email_pipeline.handlers.errors import InvalidEvent
from ses_email_pipeline.handlers.sending.contract import parse_event
from ses_email_pipeline.handlers.shared.simulator import SIMULATOR_DOMAIN
from ses_email_pipeline.template_files import TemplateFiles, discover

from local.event_files import check_put_events
from local.program import ROOT, run_stack

#: A recipient every stack accepts: SES's mailbox simulator passes every allowlist, as it passes the sandbox.
DEFAULT_RECIPIENT = f"success@{SIMULATOR_DOMAIN}"
#: Variables the event brings itself (README, "The event contract": templateData is merged over
#: them), and where in the detail each goes; `timestamp` and `source` are the envelope's.
_FROM_EVENT: Mapping[str, tuple[str, ...]] = {"subject": ("emailConfig", "subject"), "title": ("title",),
                                             "message": ("message",), "priority": ("priority",)}
_FROM_ENVELOPE = frozenset({"timestamp", "source"})


class ScaffoldError(Exception):
    """What stops the scaffold, said in one line with what to do."""


@dataclass(frozen=True)
class Scaffold:
    """The file written, what it holds, and what the stack would do with it."""

    path: Path
    entry: Mapping[str, Any]
    variables: tuple[str, ...]
    routed: bool


def write_event(path: Path, *, source: str, detail_type: str, template: str, recipient: str = DEFAULT_RECIPIENT,
                stack: str = "dev", overwrite: bool = False) -> Scaffold:
    """Write an events file with one entry for `template`, on `stack`'s bus.

    Raises:
        ScaffoldError: the template is unknown, the file exists (without `overwrite`), or the
            entry would not be what PutEvents or the event contract takes.
        UnknownStack, StackConfigError: the stack has no file, or a config `pulumi up` refuses.
        SystemExit: the program refuses the stack's config.
    """
    if path.exists() and not overwrite:
        raise ScaffoldError(f"{path} exists; pass --force to replace it, or --out another file")
    files = _newest(template)
    declared = run_stack(stack)
    [bus] = [resource.outputs["name"] for resource in declared.of_type("aws:cloudwatch/eventBus:EventBus")]
    detail = event_detail(files, recipient)
    entry = {"EventBusName": bus, "Source": source, "DetailType": detail_type,
             "Detail": json.dumps(detail, indent=None, separators=(",", ":"))}
    _check(path, entry)
    path.write_text(json.dumps([entry], indent=2) + "\n")
    routed = any(_routes(json.loads(rule.inputs["eventPattern"]), source, detail_type)
                 for rule in declared.of_type("aws:cloudwatch/eventRule:EventRule")
                 if rule.inputs.get("eventBusName") == bus)
    return Scaffold(path, entry, tuple(sorted(_names(detail.get("templateData", {})))), routed)


def event_detail(files: TemplateFiles, recipient: str) -> dict[str, Any]:
    """The event's detail for `files`: the recipient, the template, a placeholder per printed variable."""
    data: dict[str, Any] = {}
    for part in (files.subject, files.html, files.text):
        _fill(parse(part), data)
    detail: dict[str, Any] = {"emailConfig": {"recipient": recipient, "subject": f"<subject of {files.name}>"},
                              "template": files.name}
    for name, where in _FROM_EVENT.items():
        if name in data:
            value = data.pop(name)
            target = detail
            for key in where[:-1]:
                target = target.setdefault(key, {})
            target[where[-1]] = "normal" if name == "priority" else value
    for name in _FROM_ENVELOPE:
        data.pop(name, None)
    if data:
        detail["templateData"] = data
    return detail


def _newest(template: str) -> TemplateFiles:
    versions = [files for files in discover(ROOT / "templates") if files.name == template]
    if not versions:
        known = sorted({files.name for files in discover(ROOT / "templates")})
        raise ScaffoldError(f"no template {template!r} under templates/ (templates: {', '.join(known)}); "
                            "pass --template with one of them, or add its folder (README, Extending it)")
    return max(versions, key=lambda files: (len(files.version), files.version))


def _fill(nodes: Iterable[Node], scope: dict[str, Any]) -> None:
    """Put a placeholder in `scope` for each name the nodes read, following `each` and `with` into their items."""
    for node in nodes:
        if isinstance(node, Print):
            for path in (node.path, *node.params, *(value for _key, value in node.hash)):
                _placeholder(scope, path)
        elif isinstance(node, Block):
            name = data_name(node.params[0]) if node.params else None
            if name and node.helper == "each":
                item: dict[str, Any] = {}
                _fill(node.body, item)
                scope.setdefault(name, [item or f"<an item of {name}>"])
            elif name and node.helper == "with":
                inner = scope.setdefault(name, {})
                _fill(node.body, inner if isinstance(inner, dict) else {})
            else:
                for param in node.params:
                    _placeholder(scope, param)
                _fill(node.body, scope)
            _fill(node.inverse, scope)


def _placeholder(scope: dict[str, Any], path: Any) -> None:
    name = data_name(path)
    if name is None:
        return
    parts = str(path).removeprefix("this.").removeprefix("./").split(".")
    target = scope
    for part in parts[:-1]:
        child = target.setdefault(part.strip("[]"), {})
        if not isinstance(child, dict):
            return
        target = child
    target.setdefault(parts[-1].strip("[]"), f"<{'.'.join(parts)}>")


def _names(data: Mapping[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in data.items():
        if isinstance(value, dict) and value:
            yield from _names(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield from _names(value[0], f"{prefix}{key}[].")
        else:
            yield f"{prefix}{key}"


def _check(path: Path, entry: Mapping[str, Any]) -> None:
    """The entry as the AWS CLI checks it, and its event as the lanes read it."""
    check_put_events(path, [entry])
    event = {"id": "scaffold", "source": entry["Source"], "detail-type": entry["DetailType"],
             "time": "2026-01-01T00:00:00Z", "detail": json.loads(entry["Detail"])}
    try:
        parse_event(json.dumps(event))
    except InvalidEvent as error:  # the field and the rule
        raise ScaffoldError(f"the event would be dead-lettered: {error}; fix --recipient or the template") from None


def _routes(pattern: Mapping[str, Any], source: str, detail_type: str) -> bool:
    """Whether a rule's pattern can take events of this source and detail-type (its detail filters aside)."""
    return source in pattern.get("source", [source]) and detail_type in pattern.get("detail-type", [detail_type])
