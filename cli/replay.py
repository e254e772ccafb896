"""`email-pipeline replay`: send a window of archived events through the bus again.

EventBridge replays the archive's events of the window onto the bus they came from, with a
`replay-name` field; the rules route them as before. The lanes' idempotency records outlive the
archive, so what was already sent is skipped and only what never went out is sent.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from .session import Aws
from .problems import CliError, not_found
from .stack import Stack

FINISHED = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
_NAME_CHARS = re.compile(r"[^.\-_A-Za-z0-9]")
_NAME_LIMIT = 64


def parse_time(flag: str, value: str) -> dt.datetime:
    """An ISO 8601 time (`2026-11-22T08:00:00Z`); one without a zone is taken as UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{flag} {value!r} is not an ISO 8601 time", f"write it like {flag} 2026-11-22T08:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def check_window(start: dt.datetime, end: dt.datetime) -> None:
    """Refuse a window that ends before it starts (EventBridge would, after the lookups)."""
    if start >= end:
        raise CliError("--from is not before --to", "give a window whose start comes first")


def bus_arn(stack: Stack, aws: Aws) -> str:
    """The bus's ARN: as given, or looked up from its name."""
    bus = stack.require_bus()
    if bus.startswith("arn:"):
        return bus
    return str(aws.client("events").describe_event_bus(Name=bus)["Arn"])


def archive_arn(aws: Aws, bus: str) -> str:
    """The bus's archive (the stack has exactly one)."""
    archives = aws.client("events").list_archives(EventSourceArn=bus).get("Archives", [])
    if not archives:
        raise not_found(f"the bus {bus} has no archive", "pass --archive-arn ARN (aws events list-archives)")
    if len(archives) > 1:
        names = ", ".join(archive["ArchiveName"] for archive in archives)
        raise CliError(f"the bus has {len(archives)} archives ({names})", "choose one with --archive-arn ARN")
    name = archives[0]["ArchiveName"]
    return str(aws.client("events").describe_archive(ArchiveName=name)["ArchiveArn"])


def replay_name(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> str:
    """A unique, readable name: the window and when it was asked for."""
    stamp = "%Y%m%dT%H%M%SZ"
    utc = dt.timezone.utc
    name = f"replay-{start.astimezone(utc):{stamp}}-{end.astimezone(utc):{stamp}}-at-{now.astimezone(utc):%H%M%S}"
    return _NAME_CHARS.sub("-", name)[:_NAME_LIMIT]


def start(aws: Aws, *, name: str, archive: str, bus: str, start_time: dt.datetime,
          end_time: dt.datetime) -> dict[str, Any]:
    """Start the replay; return StartReplay's answer."""
    check_window(start_time, end_time)
    return dict(aws.client("events").start_replay(
        ReplayName=name, EventSourceArn=archive, EventStartTime=start_time, EventEndTime=end_time,
        Destination={"Arn": bus}, Description="email-pipeline replay"))


def wait(aws: Aws, name: str, *, poll_seconds: float, report: Callable[[Mapping[str, Any]], None],
         sleep: Callable[[float], None] = time.sleep) -> Mapping[str, Any]:
    """DescribeReplay until the replay has finished; `report` sees each answer."""
    while True:
        described = aws.client("events").describe_replay(ReplayName=name)
        report(described)
        if described.get("State") in FINISHED:
            return described
        sleep(poll_seconds)


def progress_line(described: Mapping[str, Any]) -> str:
    """`state`, and how far through the window the replay has got."""
    last = described.get("EventLastReplayedTime")
    where = f", replayed up to {last.isoformat(timespec='seconds')}" if isinstance(last, dt.datetime) else ""
    reason = f" ({described['StateReason']})" if described.get("StateReason") else ""
    return f"replay {described.get('ReplayName', '')}: {described.get('State', '?')}{where}{reason}"


def printer(stream: TextIO) -> Callable[[Mapping[str, Any]], None]:
    """Report each state change once."""
    last: dict[str, str] = {}

    def report(described: Mapping[str, Any]) -> None:
        line = progress_line(described)
        if last.get("line") != line:
            print(line, file=stream, flush=True)
            last["line"] = line

    return report
