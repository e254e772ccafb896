"""Stack settings: parsed from raw config values and checked before any resource is declared.

`__main__.py` is the only reader of `pulumi.Config`; it hands the raw values to `parse`, which
returns typed settings or raises `ConfigErrors` listing every problem at once, each with what to
change, so a bad stack fails in `pulumi preview` before it declares anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .email_sender import DEFAULT_LANES, LaneConfig, lane_max_concurrency
from .event_router import DEFAULT_ROUTES, Route
from .handlers.timeouts import SEND_RESERVE_SECONDS
from .handlers.settings import Delivery

_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)$")
_DISPLAY_ADDRESS = re.compile(r"^[^<>\r\n]*<([^<>\r\n]+)>$")
_LANE_NAME = re.compile(r"^[a-z0-9-]{1,20}$")
TEMPLATED_HANDLER = "handlers.templated.handler"
PRIORITY_HANDLER = "handlers.priority.handler"
_DOMAIN = re.compile(r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
#: Time a handler keeps in hand before it starts a send: the send's and its record's worst case.
SEND_MARGIN_SECONDS = SEND_RESERVE_SECONDS


#: Settings whose values are objects or lists of objects: Pulumi's project schema cannot type them
#: (it knows strings, integers, booleans and arrays of those), so Pulumi.yaml describes them in a
#: comment and `parse` checks them.
STRUCTURED_SETTINGS = ("laneShares", "batchSizes", "laneDelivery", "routes", "tags")


class ConfigErrors(ValueError):
    """Every problem with a stack's config, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class StackSettings:
    sender: str
    identity: str
    recipient_hash_key: Any
    production: bool
    account_send_rate: float
    lanes: tuple[LaneConfig, ...]
    routes: tuple[Route, ...]
    report_recipients: tuple[str, ...]
    oncall_recipients: tuple[str, ...]
    recipient_allowlist: tuple[str, ...]
    alarm_email: str | None
    allowed_publishers: tuple[str, ...]
    function_timeout_seconds: int
    log_retention_days: int
    archive_retention_days: int
    report_schedule: str
    report_timezone: str
    reserve_concurrency: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)


def parse(raw: Mapping[str, Any], recipient_hash_key: Any) -> StackSettings:
    """Typed, checked settings from raw config values (as `pulumi.Config.get_object` returns them).

    Raises:
        ConfigErrors: listing every problem found.
    """
    problems: list[str] = []
    production = bool(raw.get("production", False))
    sender = str(raw.get("sender") or "")
    identity = str(raw.get("identity") or "")
    _check_sender(sender, identity, problems)
    rate = _number(raw, "accountSendRate", 1.0, problems)
    timeout = int(_number(raw, "functionTimeoutSeconds", 60, problems))
    lists = {key: _addresses(raw, key, problems) for key in
             ("reportRecipients", "oncallRecipients")}
    lanes = _lanes(raw, rate, timeout, len(lists["oncallRecipients"]), problems)
    routes = _routes(raw, {lane.name for lane in lanes}, problems)
    allowlist = tuple(str(entry).lower() for entry in raw.get("recipientAllowlist") or ())
    if not production and not allowlist:
        problems.append("recipientAllowlist: required on non-production stacks (addresses or @domains); "
                        "set production: true to send to anyone")
    alarm_email = raw.get("alarmEmail")
    if alarm_email is not None and not _ADDRESS.match(str(alarm_email)):
        problems.append(f"alarmEmail: {alarm_email!r} is not an email address")
    log_retention = int(_number(raw, "logRetentionDays", 30, problems))
    if log_retention not in RETENTION_DAYS:
        problems.append(f"logRetentionDays: {log_retention} is not a CloudWatch retention; use one of {RETENTION_DAYS}")
    archive_retention = int(_number(raw, "archiveRetentionDays", 30, problems))
    if archive_retention < 1:
        problems.append("archiveRetentionDays: must be at least 1 so events can be replayed")
    if problems:
        raise ConfigErrors(problems)
    return StackSettings(
        sender=sender, identity=identity, recipient_hash_key=recipient_hash_key, production=production,
        account_send_rate=rate, lanes=lanes, routes=routes,
        report_recipients=lists["reportRecipients"], oncall_recipients=lists["oncallRecipients"],
        recipient_allowlist=allowlist, alarm_email=alarm_email,
        allowed_publishers=tuple(str(p) for p in raw.get("allowedPublishers") or ()),
        function_timeout_seconds=timeout, log_retention_days=log_retention,
        archive_retention_days=archive_retention,
        report_schedule=str(raw.get("reportSchedule") or "cron(0 9 * * ? *)"),
        report_timezone=str(raw.get("reportTimezone") or "UTC"),
        reserve_concurrency=bool(raw.get("reservePriorityConcurrency", True)),
        tags={str(k): str(v) for k, v in (raw.get("tags") or {}).items()},
    )


def _check_sender(sender: str, identity: str, problems: list[str]) -> None:
    match = _DISPLAY_ADDRESS.match(sender)
    address = match.group(1).strip() if match else sender
    address_match = _ADDRESS.match(address)
    if not address_match:
        problems.append(f"sender: {sender!r} is not an address or 'Name <address>'")
    if not (_ADDRESS.match(identity) or _DOMAIN.match(identity)):
        problems.append(f"identity: {identity!r} is neither a domain nor an email address")
    elif address_match and identity.lower() not in (address.lower(), address_match.group(1).lower()):
        problems.append(f"sender: its address must be the identity {identity!r} or an address at that domain")


def _number(raw: Mapping[str, Any], key: str, default: float, problems: list[str]) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        problems.append(f"{key}: {value!r} must be a positive number")
        return default
    return float(value)


def _addresses(raw: Mapping[str, Any], key: str, problems: list[str]) -> tuple[str, ...]:
    values = raw.get(key) or ()
    bad = [v for v in values if not _ADDRESS.match(str(v))]
    if bad:
        problems.append(f"{key}: {len(bad)} entries are not email addresses")
    return tuple(str(v) for v in values)


def _lanes(raw: Mapping[str, Any], rate: float, timeout: int, oncall: int,
           problems: list[str]) -> tuple[LaneConfig, ...]:
    """The default lanes, plus any lane named in `laneShares` (a templated lane of its own)."""
    shares = raw.get("laneShares") or {lane.name: lane.rate_share for lane in DEFAULT_LANES}
    batch_sizes = raw.get("batchSizes") or {}
    deliveries = raw.get("laneDelivery") or {}
    max_receive = int(raw.get("maxReceiveCount", 8))
    total = sum(float(v) for v in shares.values())
    if total > 1 + 1e-9:
        problems.append(f"laneShares: shares sum to {total:g}; they split one send rate and must sum to at most 1")
    defaults = {lane.name: lane for lane in DEFAULT_LANES}
    extra = [LaneConfig(name, TEMPLATED_HANDLER, 0.0) for name in shares if name not in defaults]
    lanes = []
    for default in [*DEFAULT_LANES, *extra]:
        share = float(shares.get(default.name, 0))
        if share <= 0:
            problems.append(f"laneShares.{default.name}: must be above 0, or the lane never sends")
            continue
        if not _LANE_NAME.match(default.name):
            problems.append(f"laneShares.{default.name}: lane names use a-z, 0-9 and '-' (at most 20)")
            continue
        batch = int(batch_sizes.get(default.name, default.batch_size))
        if not 1 <= batch <= 10:
            problems.append(f"batchSizes.{default.name}: {batch} must be between 1 and 10")
        delivery = _delivery(deliveries, default, problems)
        lane = LaneConfig(default.name, default.handler, share, batch_size=batch,
                          batching_window_seconds=default.batching_window_seconds,
                          max_receive_count=max_receive, reserved=default.reserved, delivery=delivery)
        per_instance = rate * share / lane_max_concurrency(rate, share)
        # Pacing charges per recipient: at least one per event, plus the on-call list the priority
        # lane adds to every alert.
        recipients = 1 + (oncall if default.handler == PRIORITY_HANDLER else 0)
        seconds = batch * recipients / per_instance
        if seconds > timeout - SEND_MARGIN_SECONDS:
            problems.append(
                f"lane {default.name}: at {per_instance:g} recipients/s per instance a batch of {batch} "
                f"(at least {recipients} recipient(s) each) takes "
                f"{seconds:g} s, more than the {timeout - SEND_MARGIN_SECONDS} s a {timeout} s function has for "
                "sending; raise accountSendRate or the lane's share, lower its batch size, or raise "
                "functionTimeoutSeconds")
        lanes.append(lane)
    if max_receive < 5:
        problems.append(f"maxReceiveCount: {max_receive} is too low to ride out a 10-minute throttle; use 5 or more")
    for name in sorted(set(deliveries) - {lane.name for lane in lanes}):
        problems.append(f"laneDelivery.{name}: no such lane; lanes are named in laneShares")
    return tuple(lanes)


def _delivery(deliveries: Mapping[str, Any], lane: LaneConfig, problems: list[str]) -> Delivery:
    value = deliveries.get(lane.name)
    if value is None:
        return lane.delivery
    try:
        return Delivery(value)
    except ValueError:
        choices = " or ".join(d.value for d in Delivery)
        problems.append(f"laneDelivery.{lane.name}: must be {choices}")
        return lane.delivery


def _routes(raw: Mapping[str, Any], lanes: set[str], problems: list[str]) -> tuple[Route, ...]:
    extra = raw.get("routes") or ()
    routes = list(DEFAULT_ROUTES)
    for index, entry in enumerate(extra):
        name, pattern, lane = entry.get("name"), entry.get("eventPattern"), entry.get("lane")
        if not name or not isinstance(pattern, dict) or lane not in lanes:
            problems.append(f"routes[{index}]: needs a name, an eventPattern object and a lane in {sorted(lanes)}")
            continue
        routes.append(Route(str(name), pattern, str(lane)))
    return tuple(routes)
