"""Runtime settings, read once from the function's environment.

The environment-variable names are constants because two sides must agree on them: the
`EmailSender` component writes them when it declares a function, and the handlers read them here.
Both import this module, so a rename is one edit and a typo is an `AttributeError`, not a silent
`None` in production.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from . import catalog, topics as topic_settings


#: SQS receives before the queue's redrive dead-letters a message; the components' default.
DEFAULT_MAX_RECEIVE_COUNT = 8


class Delivery(str, enum.Enum):
    """What a lane does with an email whose outcome is unknown (SES has no idempotency token).

    `AT_MOST_ONCE` dead-letters it with the reason `OutcomeUnknown`: a receipt twice is a
    complaint, and an operator can redrive it after checking. `AT_LEAST_ONCE` sends it again: an
    on-call alert twice beats none.
    """

    AT_MOST_ONCE = "at-most-once"
    AT_LEAST_ONCE = "at-least-once"


class Env:
    """Names of the environment variables a handler function is given."""

    STACK = "EMAIL_STACK"
    LANE = "EMAIL_LANE"
    SENDER = "EMAIL_SENDER"
    REPLY_TO = "EMAIL_REPLY_TO"
    CONFIGURATION_SET = "EMAIL_CONFIGURATION_SET"
    TEMPLATES = "EMAIL_TEMPLATES"
    DEFAULT_TEMPLATE = "EMAIL_DEFAULT_TEMPLATE"
    RECIPIENT_HASH_KEY = "EMAIL_RECIPIENT_HASH_KEY"
    RECIPIENT_ALLOWLIST = "EMAIL_RECIPIENT_ALLOWLIST"
    ONCALL_RECIPIENTS = "EMAIL_ONCALL_RECIPIENTS"
    REPORT_RECIPIENTS = "EMAIL_REPORT_RECIPIENTS"
    ACCOUNT_SEND_RATE = "EMAIL_ACCOUNT_SEND_RATE"
    LANE_RATE_SHARE = "EMAIL_LANE_RATE_SHARE"
    LANE_MAX_CONCURRENCY = "EMAIL_LANE_MAX_CONCURRENCY"
    QUEUE_URL = "EMAIL_QUEUE_URL"
    DEAD_LETTER_QUEUE_URL = "EMAIL_DEAD_LETTER_QUEUE_URL"
    MAX_RECEIVE_COUNT = "EMAIL_MAX_RECEIVE_COUNT"
    STATE_TABLE = "EMAIL_STATE_TABLE"
    RECORD_TTL_SECONDS = "EMAIL_RECORD_TTL_SECONDS"
    LANE_DELIVERY = "EMAIL_LANE_DELIVERY"
    LANE_URGENT = "EMAIL_LANE_URGENT"
    RETRY_BASE_DELAY_SECONDS = "EMAIL_RETRY_BASE_DELAY_SECONDS"
    RETRY_MAX_DELAY_SECONDS = "EMAIL_RETRY_MAX_DELAY_SECONDS"
    HALT_DELAY_SECONDS = "EMAIL_HALT_DELAY_SECONDS"
    METRICS_NAMESPACE = "EMAIL_METRICS_NAMESPACE"
    REPORT_LANES = "EMAIL_REPORT_LANES"
    STATUS_BUS = "EMAIL_STATUS_BUS"
    STATUS_EVENTS = "EMAIL_STATUS_EVENTS"
    STATUS_RECORDS = "EMAIL_STATUS_RECORDS"
    STATUS_ADDRESSES = "EMAIL_STATUS_ADDRESSES"
    CONTACT_LIST = "EMAIL_CONTACT_LIST"
    TOPICS = "EMAIL_TOPICS"
    #: Set by Lambda in every function (a reserved variable): its memory, which sets its CPU share.
    FUNCTION_MEMORY_MB = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"


class ConfigurationError(RuntimeError):
    """The function was deployed with a missing or malformed environment variable."""


class ReportLane(NamedTuple):
    """What the daily report needs to know about one lane: its name and its queues."""

    name: str
    queue_url: str
    dead_letter_queue_url: str


class Settings(NamedTuple):
    """Everything a handler reads from its environment, parsed and checked once per container.

    Fields that only one handler needs have empty defaults; each handler calls `require` for the
    ones it cannot work without, so a deployment mistake fails at the first invocation with the
    variable's name instead of midway through a batch.
    """

    stack: str
    sender: str
    configuration_set: str
    recipient_hash_key: bytes
    lane: str = ""
    reply_to: tuple[str, ...] = ()
    templates: catalog.Catalog = MappingProxyType({})
    default_template: str = "notification"
    recipient_allowlist: tuple[str, ...] = ()
    oncall_recipients: tuple[str, ...] = ()
    report_recipients: tuple[str, ...] = ()
    account_send_rate: float = 1.0
    lane_rate_share: float = 1.0
    lane_max_concurrency: int = 2
    queue_url: str = ""
    dead_letter_queue_url: str = ""
    #: Receives before the queue's redrive dead-letters a message (its `maxReceiveCount`).
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    state_table: str = ""
    record_ttl_seconds: int = 86_400
    delivery: Delivery = Delivery.AT_MOST_ONCE
    lane_urgent: bool = False
    retry_base_delay_seconds: int = 30
    retry_max_delay_seconds: int = 900
    halt_delay_seconds: int = 900
    metrics_namespace: str = ""
    report_lanes: tuple[ReportLane, ...] = ()
    #: The status handler: the bus its status events go on, and which halves are on.
    status_bus: str = ""
    status_events: bool = False
    status_records: bool = False
    status_addresses: bool = False
    #: The stack's SES contact list and its topics, each with the event sources allowed to use it
    #: (none listed: any source); no topics, no subscribed mail (`handlers.shared.topics`).
    contact_list: str = ""
    topics: Mapping[str, tuple[str, ...]] = MappingProxyType({})
    #: The function's memory as Lambda reports it (0 outside Lambda): its CPU share.
    function_memory_mb: int = 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from an environment mapping (the process environment by default).

        A variable that is unset or empty leaves its field's default (declared once, above).

        Raises:
            ConfigurationError: a required variable is missing or a value cannot be parsed.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        try:
            for name, (variable, parse) in _FROM_ENVIRONMENT.items():
                raw = env.get(variable, "")
                if raw:
                    values[name] = parse(raw)
                elif name in _REQUIRED:
                    raise ConfigurationError(f"environment variable {variable} is not set")
            return cls(**values)
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigurationError(f"cannot parse the function's environment: {exc}") from exc

    def require(self, *names: str) -> Settings:
        """Check that the named fields are set, so a handler fails fast on a bad deployment.

        Raises:
            ConfigurationError: naming every missing field.
        """
        missing = [name for name in names if not getattr(self, name)]
        if missing:
            raise ConfigurationError(
                f"settings {missing} are empty: the EmailSender component sets them; "
                "check the function's environment variables"
            )
        return self


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _flag(value: str) -> bool:
    """`true` or `false`, as the EmailSender component writes them."""
    if value not in ("true", "false"):
        raise ValueError(f"expected true or false, got {value!r}")
    return value == "true"


def _report_lanes(raw: str) -> tuple[ReportLane, ...]:
    """Parse `[{"name": ..., "queueUrl": ..., "deadLetterQueueUrl": ...}]`."""
    return tuple(
        ReportLane(item["name"], item["queueUrl"], item["deadLetterQueueUrl"])
        for item in json.loads(raw)
    )


#: Settings field -> (its environment variable, how to parse it).
_FROM_ENVIRONMENT: Mapping[str, tuple[str, Callable[[str], Any]]] = {
    "stack": (Env.STACK, str),
    "lane": (Env.LANE, str),
    "sender": (Env.SENDER, str),
    "configuration_set": (Env.CONFIGURATION_SET, str),
    "recipient_hash_key": (Env.RECIPIENT_HASH_KEY, str.encode),
    "reply_to": (Env.REPLY_TO, _csv),
    "templates": (Env.TEMPLATES, catalog.from_json),
    "default_template": (Env.DEFAULT_TEMPLATE, str),
    "recipient_allowlist": (Env.RECIPIENT_ALLOWLIST, lambda raw: _csv(raw.lower())),
    "oncall_recipients": (Env.ONCALL_RECIPIENTS, _csv),
    "report_recipients": (Env.REPORT_RECIPIENTS, _csv),
    "account_send_rate": (Env.ACCOUNT_SEND_RATE, float),
    "lane_rate_share": (Env.LANE_RATE_SHARE, float),
    "lane_max_concurrency": (Env.LANE_MAX_CONCURRENCY, int),
    "queue_url": (Env.QUEUE_URL, str),
    "dead_letter_queue_url": (Env.DEAD_LETTER_QUEUE_URL, str),
    "max_receive_count": (Env.MAX_RECEIVE_COUNT, int),
    "state_table": (Env.STATE_TABLE, str),
    "record_ttl_seconds": (Env.RECORD_TTL_SECONDS, int),
    "delivery": (Env.LANE_DELIVERY, Delivery),
    "lane_urgent": (Env.LANE_URGENT, _flag),
    "retry_base_delay_seconds": (Env.RETRY_BASE_DELAY_SECONDS, int),
    "retry_max_delay_seconds": (Env.RETRY_MAX_DELAY_SECONDS, int),
    "halt_delay_seconds": (Env.HALT_DELAY_SECONDS, int),
    "metrics_namespace": (Env.METRICS_NAMESPACE, str),
    "report_lanes": (Env.REPORT_LANES, _report_lanes),
    "status_bus": (Env.STATUS_BUS, str),
    "status_events": (Env.STATUS_EVENTS, _flag),
    "status_records": (Env.STATUS_RECORDS, _flag),
    "contact_list": (Env.CONTACT_LIST, str),
    "topics": (Env.TOPICS, topic_settings.decode),
    "status_addresses": (Env.STATUS_ADDRESSES, _flag),
    "function_memory_mb": (Env.FUNCTION_MEMORY_MB, int),
}
#: Fields every function's environment must set.
_REQUIRED = frozenset({"stack", "sender", "configuration_set", "recipient_hash_key"})
