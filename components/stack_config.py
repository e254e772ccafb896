"""Stack settings: raw config values mapped to the components' arguments, checked before anything exists.

`__main__.py` is the only reader of `pulumi.Config`; it hands the raw values to `parse`, which
returns the `EmailSenderArgs` (and the router's and monitoring's settings) or raises
`ConfigErrors` listing every problem at once, each with what to change, so a bad stack fails in
`pulumi preview` before it declares anything.

The rules and defaults live on the Args classes (`EmailSenderArgs.__post_init__`); this module
only maps config keys to arguments, checks what exists only at the stack level (an allowlist
unless `production`, raw value types), and names problems by the config keys users write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .checks import ADDRESS, InvalidArgs, Problem
from .delivery_status import status_max_concurrency
from .lanes import DEFAULT_LANES, LaneConfig
from .routes import DEFAULT_ROUTES, Route
from .sender_args import EmailSenderArgs
from .handlers.shared.settings import Delivery
from .handlers.shared.timeouts import SEND_RESERVE_SECONDS

TEMPLATED_HANDLER = "handlers.templated.handler"
#: Time a handler keeps in hand before it starts a send: the send's and its record's worst case.
SEND_MARGIN_SECONDS = SEND_RESERVE_SECONDS

#: Settings whose values are objects or lists of objects: Pulumi's project schema cannot type them
#: (it knows strings, integers, booleans and arrays of those), so Pulumi.yaml describes them in a
#: comment and `parse` checks them.
STRUCTURED_SETTINGS = ("laneShares", "batchSizes", "laneDelivery", "routes", "tags")

#: config key -> EmailSenderArgs field, for the settings passed through as they are.
_SENDER_ARGS: Mapping[str, str] = {
    "sender": "sender",
    "identity": "identity",
    "accountSendRate": "account_send_rate",
    "sesSendLatencyMs": "send_latency_ms",
    "accountConcurrency": "account_concurrency",
    "tracing": "tracing",
    "reportRecipients": "report_recipients",
    "oncallRecipients": "oncall_recipients",
    "recipientAllowlist": "recipient_allowlist",
    "functionTimeoutSeconds": "function_timeout_seconds",
    "logRetentionDays": "log_retention_days",
    "archiveRetentionDays": "replay_window_days",
    "reservePriorityConcurrency": "reserve_concurrency",
    "reportSchedule": "report_schedule",
    "reportTimezone": "report_timezone",
}
#: EmailSenderArgs lane attribute -> the config key that sets it (`{}` is the lane's name).
_LANE_KEYS: Mapping[str, str] = {
    "name": "laneShares.{}",
    "rate_share": "laneShares.{}",
    "batch_size": "batchSizes.{}",
    "max_receive_count": "maxReceiveCount",
    "delivery": "laneDelivery.{}",
}
#: The delivery-status settings and their defaults (Pulumi.yaml declares the same).
_STATUS_DEFAULTS: Mapping[str, bool] = {"statusEvents": True, "statusRecords": True, "statusAddresses": False}
_NUMBERS = ("accountSendRate", "sesSendLatencyMs", "accountConcurrency", "functionTimeoutSeconds", "logRetentionDays", "archiveRetentionDays", "maxReceiveCount")


class ConfigErrors(ValueError):
    """Every problem with a stack's config, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid stack config:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class StackSettings:
    """A stack's checked settings: the sender's arguments, and what the router and monitoring take."""

    sender_args: EmailSenderArgs
    production: bool
    routes: tuple[Route, ...]
    alarm_email: str | None
    allowed_publishers: tuple[str, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Delivery status (`DeliveryStatus`): status events, status records, addresses in the events.
    status_events: bool = True
    status_records: bool = True
    status_addresses: bool = False

    @property
    def delivery_status(self) -> bool:
        """Whether the stack has a status handler at all."""
        return self.status_events or self.status_records

    @property
    def lanes(self) -> tuple[LaneConfig, ...]:
        return tuple(self.sender_args.lanes)

    @property
    def archive_retention_days(self) -> int:
        return self.sender_args.replay_window_days


def parse(raw: Mapping[str, Any], recipient_hash_key: Any) -> StackSettings:
    """Checked settings from raw config values (as `pulumi.Config.get_object` returns them).

    Settings the stack does not set keep the Args classes' defaults.

    Raises:
        ConfigErrors: listing every problem found.
    """
    bad_numbers = _bad_numbers(raw)
    problems = [f"{key}: {raw[key]!r} must be a positive number" for key in sorted(bad_numbers)]
    # A number already reported is left out, so its Args default applies and it is reported once.
    raw = {key: value for key, value in raw.items() if key not in bad_numbers}
    production = bool(raw.get("production", False))
    if not production and not raw.get("recipientAllowlist"):
        problems.append("recipientAllowlist: required on non-production stacks (addresses or @domains); "
                        "set production: true to send to anyone")
    alarm_email = raw.get("alarmEmail")
    if alarm_email is not None and not ADDRESS.match(str(alarm_email)):
        problems.append(f"alarmEmail: {alarm_email!r} is not an email address")
    lanes = _lanes(raw, problems)
    routes = _routes(raw, {lane.name for lane in lanes}, problems)
    sender_args = _sender_args(raw, recipient_hash_key, lanes, production, problems)
    status = {key: bool(raw.get(key, default)) for key, default in _STATUS_DEFAULTS.items()}
    if status["statusAddresses"] and not status["statusEvents"]:
        problems.append("statusAddresses: needs statusEvents: true (addresses only ever appear in status events)")
    if sender_args is not None and (status["statusEvents"] or status["statusRecords"]):
        problems += _status_concurrency_problems(sender_args)
    if problems or sender_args is None:
        raise ConfigErrors(list(dict.fromkeys(problems)))
    return StackSettings(
        sender_args=sender_args,
        production=production,
        routes=routes,
        alarm_email=alarm_email,
        allowed_publishers=tuple(str(p) for p in raw.get("allowedPublishers") or ()),
        tags={str(k): str(v) for k, v in (raw.get("tags") or {}).items()},
        status_events=status["statusEvents"],
        status_records=status["statusRecords"],
        status_addresses=status["statusAddresses"],
    )


def _sender_args(raw: Mapping[str, Any], recipient_hash_key: Any, lanes: tuple[LaneConfig, ...], production: bool,
                 problems: list[str]) -> EmailSenderArgs | None:
    values: dict[str, Any] = {field_name: raw[key] for key, field_name in _SENDER_ARGS.items()
                              if key in raw}
    for name in ("report_recipients", "oncall_recipients"):
        if name in values:
            values[name] = tuple(str(address) for address in values[name])
    if "recipient_allowlist" in values:
        values["recipient_allowlist"] = tuple(str(entry).lower() for entry in values["recipient_allowlist"])
    try:
        return EmailSenderArgs(recipient_hash_key=recipient_hash_key, lanes=lanes,
                               protect_state_table=production, **values)
    except InvalidArgs as invalid:
        problems += [f"{_config_key(problem)}: {problem.message}" for problem in invalid.problems]
        return None


def _status_concurrency_problems(args: EmailSenderArgs) -> list[str]:
    """The status handler draws on the account's concurrency too (the lanes alone are EmailSenderArgs' check)."""
    lanes = sum(args.lane_concurrency(lane) for lane in args.lanes)
    status = status_max_concurrency(args.account_send_rate)
    if lanes > args.account_concurrency or lanes + status <= args.account_concurrency:
        return []
    return [f"accountConcurrency: at {args.account_send_rate:g} emails/s the lanes run up to {lanes} instances and "
            f"the status handler up to {status}, {lanes + status} in all, more than the account's "
            f"{args.account_concurrency}; request a higher Lambda concurrency quota and set it here, or turn "
            "statusEvents and statusRecords off"]


def _bad_numbers(raw: Mapping[str, Any]) -> set[str]:
    return {key for key in _NUMBERS if key in raw and (isinstance(raw[key], bool)
                                                       or not isinstance(raw[key], (int, float)) or raw[key] <= 0)}


def _config_key(problem: Problem) -> str:
    """The config key a user writes for the argument a problem is about."""
    parts = problem.field.split(".")
    if parts[0] == "lanes" and len(parts) == 3:
        return _LANE_KEYS.get(parts[2], "laneShares.{}").format(parts[1])
    if parts[0] == "lanes" and len(parts) == 2:
        return f"lane {parts[1]}"
    if parts[0] == "lanes":
        return "laneShares"
    config_keys = {field_name: key for key, field_name in _SENDER_ARGS.items()}
    return config_keys.get(parts[0], parts[0])


def _lanes(raw: Mapping[str, Any], problems: list[str]) -> tuple[LaneConfig, ...]:
    """The default lanes, plus any lane named in `laneShares` (a templated lane of its own)."""
    shares = raw.get("laneShares") or {lane.name: lane.rate_share for lane in DEFAULT_LANES}
    batch_sizes = raw.get("batchSizes") or {}
    deliveries = raw.get("laneDelivery") or {}
    defaults = {lane.name: lane for lane in DEFAULT_LANES}
    lanes = []
    for name in [*defaults, *(name for name in shares if name not in defaults)]:
        default = defaults.get(name) or LaneConfig(name, TEMPLATED_HANDLER, 0.0)
        changes: dict[str, Any] = {"rate_share": float(shares.get(name, 0))}
        if name in batch_sizes:
            changes["batch_size"] = int(batch_sizes[name])
        if "maxReceiveCount" in raw:
            changes["max_receive_count"] = int(raw["maxReceiveCount"])
        if name in deliveries:
            changes["delivery"] = _delivery(name, deliveries[name], problems) or default.delivery
        lanes.append(LaneConfig(**{**default.__dict__, **changes}))
    for name in sorted(set(deliveries) - {lane.name for lane in lanes}):
        problems.append(f"laneDelivery.{name}: no such lane; lanes are named in laneShares")
    return tuple(lanes)


def _delivery(lane: str, value: Any, problems: list[str]) -> Delivery | None:
    try:
        return Delivery(value)
    except ValueError:
        choices = " or ".join(d.value for d in Delivery)
        problems.append(f"laneDelivery.{lane}: must be {choices}")
        return None


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

