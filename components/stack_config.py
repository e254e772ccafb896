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

from .checks import ADDRESS, InvalidArgs, Problem, closest, did_you_mean
from .delivery_status import status_max_concurrency
from .lanes import DEFAULT_LANES, LaneConfig
from .routes import DEFAULT_ROUTES, Route, pattern_field_problems, route_problems
from .sender_args import EmailSenderArgs
from .status_webhooks import Webhook
from .contact_list import Topic
from . import topic_webhook_config
from .handlers.shared.settings import Delivery
from .handlers.shared.timeouts import SEND_RESERVE_SECONDS

TEMPLATED_HANDLER = "handlers.templated.handler"
#: Time a handler keeps in hand before it starts a send: the send's and its record's worst case.
SEND_MARGIN_SECONDS = SEND_RESERVE_SECONDS

#: Settings whose values are objects or lists of objects: Pulumi's project schema cannot type them
#: (it knows strings, integers, booleans and arrays of those), so Pulumi.yaml describes them in a
#: comment and `parse` checks them.
STRUCTURED_SETTINGS = ("laneShares", "batchSizes", "laneDelivery", "routes", "tags", "topics", "webhooks")
#: What each structured setting holds: `routes`, `topics` and `webhooks` lists, the others an object.
_STRUCTURE = {"laneShares": dict, "batchSizes": dict, "laneDelivery": dict, "routes": list, "tags": dict,
              "topics": list, "webhooks": list}
#: A route's fields in `routes` (Pulumi.yaml's comment says the same).
ROUTE_FIELDS = ("name", "lane", "eventPattern")

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
    "contactList": "contact_list",
    "manageContactList": "manage_contact_list",
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
    #: Status webhooks (`StatusWebhooks`), their secrets still to be filled from `webhookSecrets`.
    webhooks: tuple[Webhook, ...] = ()

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


def parse(raw: Mapping[str, Any], recipient_hash_key: Any, webhook_secret_names: Sequence[str] = ()) -> StackSettings:
    """Checked settings from raw config values (as `pulumi.Config.get_object` returns them).

    Settings the stack does not set keep the Args classes' defaults. `webhook_secret_names` are
    the webhooks whose secret `webhookSecrets` holds (the values stay Pulumi secrets).

    Raises:
        ConfigErrors: listing every problem found.
    """
    bad_numbers = _bad_numbers(raw)
    problems = [f"{key}: {raw[key]!r} must be a positive number" for key in sorted(bad_numbers)]
    misshapen = {key for key, kind in _STRUCTURE.items() if raw.get(key) is not None and not isinstance(raw[key], kind)}
    problems += [f"{key}: must be {'a list' if _STRUCTURE[key] is list else 'an object'} (Pulumi.yaml's comment "
                 "shows its shape)" for key in sorted(misshapen)]
    # A value already reported is left out, so its Args default applies and it is reported once.
    raw = {key: value for key, value in raw.items() if key not in bad_numbers | misshapen}
    production = bool(raw.get("production", False))
    if not production and not raw.get("recipientAllowlist"):
        problems.append("recipientAllowlist: required on non-production stacks (addresses or @domains); "
                        "set production: true to send to anyone")
    alarm_email = raw.get("alarmEmail")
    if alarm_email is not None and not ADDRESS.match(str(alarm_email)):
        problems.append(f"alarmEmail: {alarm_email!r} is not an email address")
    lanes = _lanes(raw, problems)
    routes = _routes(raw, {lane.name for lane in lanes}, problems)
    topics = topic_webhook_config.topics(raw.get("topics") or [], problems)
    webhooks = topic_webhook_config.webhooks(raw.get("webhooks") or [], webhook_secret_names, problems)
    if webhooks and not (raw.get("statusEvents", True)):
        problems.append("webhooks: need statusEvents: true (a webhook receives the status events)")
    sender_args = _sender_args(raw, recipient_hash_key, lanes, production, problems, topics)
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
        webhooks=webhooks,
    )


def _sender_args(raw: Mapping[str, Any], recipient_hash_key: Any, lanes: tuple[LaneConfig, ...], production: bool,
                 problems: list[str], topics: tuple[Topic, ...] = ()) -> EmailSenderArgs | None:
    values: dict[str, Any] = {field_name: raw[key] for key, field_name in _SENDER_ARGS.items()
                              if key in raw}
    values["topics"] = topics
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
    names = [lane.name for lane in lanes]
    for key, values in (("batchSizes", batch_sizes), ("laneDelivery", deliveries)):
        for name in sorted(set(values) - set(names)):
            problems.append(f"{key}.{name}: no such lane{did_you_mean(str(name), names)} (lanes are named in "
                            "laneShares)")
    return tuple(lanes)


def _delivery(lane: str, value: Any, problems: list[str]) -> Delivery | None:
    try:
        return Delivery(value)
    except ValueError:
        choices = " or ".join(d.value for d in Delivery)
        problems.append(f"laneDelivery.{lane}: must be {choices}")
        return None


def _routes(raw: Mapping[str, Any], lanes: set[str], problems: list[str]) -> tuple[Route, ...]:
    """The default routes and the stack's; each problem named by the route's place in `routes`."""
    routes, where = list(DEFAULT_ROUTES), {}  # where: route name -> `routes[i] (name)`
    for index, entry in enumerate(raw.get("routes") or ()):
        found = _route_entry_problems(f"routes[{index}]", entry, lanes)
        if isinstance(entry, dict) and isinstance(entry.get("eventPattern"), dict):
            route = Route(str(entry.get("name") or ""), entry["eventPattern"], str(entry.get("lane") or ""))
            where[route.name] = f"routes[{index}]" + (f" ({route.name})" if route.name else "")
            if not found:
                routes.append(route)
                continue
            found += [f"{_route_key(p.field, where)}: {p.message}" for p in pattern_field_problems(route)]
        problems += found
    # What EventRouterArgs will check (pattern fields, names, what a catch-all can cover), said here in
    # the stack file's words, before the program declares anything.
    problems += [f"{_route_key(problem.field, where)}: {problem.message}" for problem in route_problems(routes, lanes)]
    return tuple(routes)


def _route_key(field: str, where: Mapping[str, str]) -> str:
    """A route problem's argument as the stack file writes it: `routes[2] (name).eventPattern.x`."""
    for name, place in where.items():
        prefix = f"routes.{name}"
        if field == prefix or field.startswith(f"{prefix}."):
            return place + field[len(prefix):].replace(".event_pattern", ".eventPattern", 1)
    return "routes"


def _route_entry_problems(where: str, entry: Any, lanes: set[str]) -> list[str]:
    """What makes one entry of `routes` no route at all: unknown or missing fields, an unknown lane."""
    if not isinstance(entry, dict):
        return [f"{where}: must be an object with {', '.join(ROUTE_FIELDS)}"]
    if entry.get("name"):
        where = f"{where} ({entry['name']})"
    unknown = [str(key) for key in entry if key not in ROUTE_FIELDS]
    problems = [f"{where}.{key}: not a field of a route{did_you_mean(key, ROUTE_FIELDS)}" for key in unknown]
    meant = {closest(key, ROUTE_FIELDS) for key in unknown}  # already said: "did you mean eventPattern?"
    missing = [field for field in ROUTE_FIELDS if not entry.get(field) and field not in meant]
    if missing:
        problems.append(f"{where}: needs {' and '.join(missing)} (a route is {{name, lane, eventPattern}})")
    if entry.get("eventPattern") and not isinstance(entry["eventPattern"], dict):
        problems.append(f"{where}.eventPattern: must be an object, e.g. {{source: [shop.orders], detail-type: "
                        "[Order Shipped]}")
    lane = entry.get("lane")
    if lane and lane not in lanes:
        problems.append(f"{where}.lane: no lane {lane!r}{did_you_mean(str(lane), lanes)} (lanes are named in "
                        "laneShares)")
    return problems

