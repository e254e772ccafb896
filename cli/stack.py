"""Where a stack's resources are: read from `pulumi stack output --json`, overridden by flags.

Every command needs only some names (`hash` needs the key, `trace` the table and the stack
prefix), so each is looked up when asked for and its absence named together with the flag or
output that supplies it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..handlers.shared.status_names import STATUS_LANE
from .problems import CliError

#: What `pulumi stack output --json` prints for a secret unless `--show-secrets` is given.
HIDDEN_SECRET = "[secret]"
#: Where `make serve` (`python -m local serve`) writes the local stack's outputs, from the
#: repository's root: what `--local` reads.
LOCAL_STACK_OUTPUTS = Path("build") / "local-stack.json"
_PULUMI_EXPORT = "pulumi stack output --json --show-secrets > outputs.json"
#: Auto-named resources end with a dash and 7 hex digits (Pulumi's random suffix).
_AUTONAME_SUFFIX = re.compile(r"-[0-9a-f]{7}$")
_REGION_IN_ARN = re.compile(r"^arn:[\w-]+:[\w-]+:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d):")
_REGION_IN_QUEUE_URL = re.compile(r"^https://sqs\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com")
_LOCAL_ORIGIN = re.compile(r"^http://[^/]+")
#: Where a function logs, by the convention `handler_function` declares (for outputs without `logGroupNames`).
_LOG_GROUP = "/aws/lambda/{}"


@dataclass(frozen=True)
class LaneQueues:
    """One lane's work queue and dead-letter queue (either may be unknown)."""

    name: str
    queue_url: str | None = None
    dead_letter_url: str | None = None


@dataclass(frozen=True)
class Stack:
    """A stack's names, as far as they are known.

    Args:
        prefix: `<project>-<stack>`, which names the stack's idempotency keys, alarms and archive.
        bus: the event bus's name or ARN.
        lanes: each lane's queues, by lane name.
        unrouted_url: the queue of events no route takes.
        table: the state table.
        hash_key: the recipient hash key, or `HIDDEN_SECRET` when the outputs did not reveal it.
        log_groups: the log groups of the functions that send, by function label.
        source: where the names came from, to name it in messages.
    """

    prefix: str | None = None
    bus: str | None = None
    lanes: Mapping[str, LaneQueues] = field(default_factory=dict)
    unrouted_url: str | None = None
    table: str | None = None
    hash_key: str | None = None
    log_groups: Mapping[str, str] = field(default_factory=dict)
    source: str = "the command line"

    @property
    def region(self) -> str | None:
        """The region the stack's own ARNs and queue URLs name, if any does."""
        for candidate in (self.bus or "", *(url for lane in self.lanes.values()
                                            for url in (lane.queue_url, lane.dead_letter_url) if url)):
            match = _REGION_IN_ARN.match(candidate) or _REGION_IN_QUEUE_URL.match(candidate)
            if match:
                return match["region"]
        return None

    def lane_names(self, only: str | None = None) -> list[str]:
        """The lanes to look at: `only` (checked) or all of them."""
        if not self.lanes:
            raise CliError(f"no lanes are known from {self.source}",
                           f"pass --stack-outputs (from `{_PULUMI_EXPORT}`) or --queue-url/--dlq-url LANE=URL")
        if only is None:
            return sorted(self.lanes)
        if only not in self.lanes:
            raise CliError(f"unknown lane {only!r}", f"use one of: {', '.join(sorted(self.lanes))}")
        return [only]

    def queue_url(self, lane: str) -> str:
        """The lane's work queue URL."""
        url = self.lanes[lane].queue_url
        if not url:
            raise CliError(f"the {lane} lane's queue URL is not known", f"pass --queue-url {lane}=URL or --stack-outputs")
        return url

    def dead_letter_url(self, lane: str) -> str:
        """The lane's dead-letter queue URL."""
        url = self.lanes[lane].dead_letter_url
        if not url:
            raise CliError(f"the {lane} lane's dead-letter queue URL is not known",
                           f"pass --dlq-url {lane}=URL or --stack-outputs")
        return url

    def require_table(self) -> str:
        """The state table's name."""
        if not self.table:
            raise CliError("the state table is not known", "pass --table NAME or --stack-outputs")
        return self.table

    def require_prefix(self) -> str:
        """`<project>-<stack>`, the prefix of the stack's idempotency keys."""
        if not self.prefix:
            raise CliError("the stack name is not known",
                           "pass --stack-name <project>-<stack> (e.g. email-pipeline-dev) or --stack-outputs")
        return self.prefix

    def require_log_groups(self) -> list[str]:
        """The sending functions' log groups, where `email_sent` lines are."""
        if not self.log_groups:
            raise CliError(f"the sending functions' log groups are not known from {self.source}",
                           f"pass --stack-outputs (from `{_PULUMI_EXPORT}`)")
        return [self.log_groups[label] for label in sorted(self.log_groups)]

    def local_endpoint(self) -> str:
        """The emulator the local stack's outputs point at: the origin of its queue URLs (`make serve`)."""
        for lane in self.lanes.values():
            for url in (lane.queue_url, lane.dead_letter_url):
                match = _LOCAL_ORIGIN.match(url or "")
                if match:
                    return match.group(0)
        raise CliError(f"{self.source} names no local emulator (its queue URLs are not http://...)",
                       "restart `make serve`, which rewrites it, or pass --stack-outputs and --endpoint-url")

    def require_bus(self) -> str:
        """The event bus's name or ARN."""
        if not self.bus:
            raise CliError("the event bus is not known", "pass --bus NAME_OR_ARN or --stack-outputs")
        return self.bus


def load_outputs(path: Path) -> dict[str, Any]:
    """The JSON document `pulumi stack output --json` printed.

    Raises:
        CliError: the file is missing, unreadable, not JSON, or not an object of outputs.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"stack outputs file {str(path)!r} does not exist",
                       f"create it with `{_PULUMI_EXPORT}`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read stack outputs file {str(path)!r} ({type(exc).__name__})",
                       f"check its permissions, or recreate it with `{_PULUMI_EXPORT}`") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise CliError(f"stack outputs file {str(path)!r} is not JSON (line {getattr(exc, 'lineno', '?')})",
                       f"recreate it with `{_PULUMI_EXPORT}`") from None
    if not isinstance(document, dict):
        raise CliError(f"stack outputs file {str(path)!r} holds a JSON {type(document).__name__}, not an object",
                       f"recreate it with `{_PULUMI_EXPORT}`")
    return document


def resolve(outputs: Mapping[str, Any], *, source: str, bus: str | None = None,
            queue_urls: Sequence[str] = (), dlq_urls: Sequence[str] = (), unrouted_url: str | None = None,
            table: str | None = None, stack_name: str | None = None) -> Stack:
    """The stack's names: each flag given wins over the outputs.

    Args:
        outputs: the stack outputs (empty when none were given).
        source: where they came from, for messages.
        bus, unrouted_url, table, stack_name: flags.
        queue_urls, dlq_urls: `LANE=URL` flags.
    """
    lane_urls = _lane_map(outputs, "laneQueueUrls", source) | _pairs("--queue-url", queue_urls)
    dead_letter_urls = _lane_map(outputs, "laneDeadLetterQueueUrls", source) | _pairs("--dlq-url", dlq_urls)
    # Each status webhook's dead-letter queue, as lane `webhook-<name>`: listed and shown with the
    # lanes' (EventBridge's ERROR_CODE as the code); no work queue, so nothing to redrive into.
    dead_letter_urls |= {f"webhook-{name}": url
                         for name, url in _lane_map(outputs, "webhookDeadLetterQueueUrls", source).items()}
    lanes = {name: LaneQueues(name, lane_urls.get(name), dead_letter_urls.get(name))
             for name in sorted(set(lane_urls) | set(dead_letter_urls))}
    # `idempotencyTableName` is the same table's name as stacks deployed before `stateTableName` export it.
    table_name = table or _text(outputs, "stateTableName", source) or _text(outputs, "idempotencyTableName", source)
    bus_name = bus or _text(outputs, "busArn", source) or _text(outputs, "busName", source)
    return Stack(
        prefix=stack_name or _prefix(outputs, table_name, bus_name, source),
        bus=bus_name,
        lanes=lanes,
        unrouted_url=unrouted_url or _text(outputs, "unroutedQueueUrl", source),
        table=table_name,
        hash_key=_text(outputs, "recipientHashKey", source),
        log_groups=_log_groups(outputs, source),
        source=source,
    )


def _log_groups(outputs: Mapping[str, Any], source: str) -> dict[str, str]:
    """`logGroupNames`, or (outputs of a stack deployed before it) each function's but the status handler's."""
    if "logGroupNames" in outputs:
        return _lane_map(outputs, "logGroupNames", source)
    functions = _lane_map(outputs, "functionNames", source)
    return {label: _LOG_GROUP.format(name) for label, name in functions.items() if label != STATUS_LANE}


def _prefix(outputs: Mapping[str, Any], table: str | None, bus: str | None, source: str) -> str | None:
    """`<project>-<stack>`: the configuration set is named exactly that; the table and bus start with it."""
    configuration_set = _text(outputs, "configurationSetName", source)
    if configuration_set:
        return configuration_set
    if table and "-idempotency" in table:
        return _AUTONAME_SUFFIX.sub("", table).removesuffix("-idempotency")
    name = (bus or "").rpartition("/")[2]
    if name.endswith("-bus"):
        return name.removesuffix("-bus")
    return None


def _text(outputs: Mapping[str, Any], key: str, source: str) -> str | None:
    value = outputs.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CliError(f"output {key!r} in {source} is a {type(value).__name__}, not a string",
                       f"recreate the file with `{_PULUMI_EXPORT}`")
    return value


def _lane_map(outputs: Mapping[str, Any], key: str, source: str) -> dict[str, str]:
    value = outputs.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise CliError(f"output {key!r} in {source} is not an object of lane URLs",
                       f"recreate the file with `{_PULUMI_EXPORT}`")
    return dict(value)


def _pairs(flag: str, values: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        lane, sep, url = value.partition("=")
        if not sep or not lane or not url:
            raise CliError(f"{flag} {value!r} is not LANE=URL", f"write it as {flag} normal=https://sqs...")
        pairs[lane] = url
    return pairs
