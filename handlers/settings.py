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
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import catalog


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
    IDEMPOTENCY_TABLE = "EMAIL_IDEMPOTENCY_TABLE"
    IDEMPOTENCY_TTL_SECONDS = "EMAIL_IDEMPOTENCY_TTL_SECONDS"
    LANE_DELIVERY = "EMAIL_LANE_DELIVERY"
    RETRY_BASE_DELAY_SECONDS = "EMAIL_RETRY_BASE_DELAY_SECONDS"
    RETRY_MAX_DELAY_SECONDS = "EMAIL_RETRY_MAX_DELAY_SECONDS"
    HALT_DELAY_SECONDS = "EMAIL_HALT_DELAY_SECONDS"
    METRICS_NAMESPACE = "EMAIL_METRICS_NAMESPACE"
    REPORT_LANES = "EMAIL_REPORT_LANES"


class ConfigurationError(RuntimeError):
    """The function was deployed with a missing or malformed environment variable."""


@dataclass(frozen=True)
class ReportLane:
    """What the daily report needs to know about one lane: its name and its queues."""

    name: str
    queue_url: str
    dead_letter_queue_url: str


@dataclass(frozen=True)
class Settings:
    """Everything a handler reads from its environment, parsed and checked once per container.

    Fields that only one handler needs have empty defaults; each handler calls `require` for the
    ones it cannot work without, so a deployment mistake fails at the first invocation with the
    variable's name instead of midway through a batch.
    """

    stack: str
    lane: str
    sender: str
    configuration_set: str
    recipient_hash_key: bytes
    reply_to: tuple[str, ...] = ()
    templates: catalog.Catalog = field(default_factory=dict)
    default_template: str = "notification"
    recipient_allowlist: tuple[str, ...] = ()
    oncall_recipients: tuple[str, ...] = ()
    report_recipients: tuple[str, ...] = ()
    account_send_rate: float = 1.0
    lane_rate_share: float = 1.0
    lane_max_concurrency: int = 2
    queue_url: str = ""
    dead_letter_queue_url: str = ""
    idempotency_table: str = ""
    idempotency_ttl_seconds: int = 86_400
    delivery: Delivery = Delivery.AT_MOST_ONCE
    retry_base_delay_seconds: int = 30
    retry_max_delay_seconds: int = 900
    halt_delay_seconds: int = 900
    metrics_namespace: str = ""
    report_lanes: tuple[ReportLane, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from an environment mapping (the process environment by default).

        Raises:
            ConfigurationError: a required variable is missing or a value cannot be parsed.
        """
        env = os.environ if environ is None else environ
        try:
            return cls(
                stack=_required(env, Env.STACK),
                lane=env.get(Env.LANE, ""),
                sender=_required(env, Env.SENDER),
                configuration_set=_required(env, Env.CONFIGURATION_SET),
                recipient_hash_key=_required(env, Env.RECIPIENT_HASH_KEY).encode(),
                reply_to=_csv(env.get(Env.REPLY_TO, "")),
                templates=catalog.from_json(env.get(Env.TEMPLATES, "{}")),
                default_template=env.get(Env.DEFAULT_TEMPLATE, "notification"),
                recipient_allowlist=_csv(env.get(Env.RECIPIENT_ALLOWLIST, "").lower()),
                oncall_recipients=_csv(env.get(Env.ONCALL_RECIPIENTS, "")),
                report_recipients=_csv(env.get(Env.REPORT_RECIPIENTS, "")),
                account_send_rate=float(env.get(Env.ACCOUNT_SEND_RATE, "1")),
                lane_rate_share=float(env.get(Env.LANE_RATE_SHARE, "1")),
                lane_max_concurrency=int(env.get(Env.LANE_MAX_CONCURRENCY, "2")),
                queue_url=env.get(Env.QUEUE_URL, ""),
                dead_letter_queue_url=env.get(Env.DEAD_LETTER_QUEUE_URL, ""),
                idempotency_table=env.get(Env.IDEMPOTENCY_TABLE, ""),
                idempotency_ttl_seconds=int(env.get(Env.IDEMPOTENCY_TTL_SECONDS, "86400")),
                delivery=Delivery(env.get(Env.LANE_DELIVERY, Delivery.AT_MOST_ONCE.value)),
                retry_base_delay_seconds=int(env.get(Env.RETRY_BASE_DELAY_SECONDS, "30")),
                retry_max_delay_seconds=int(env.get(Env.RETRY_MAX_DELAY_SECONDS, "900")),
                halt_delay_seconds=int(env.get(Env.HALT_DELAY_SECONDS, "900")),
                metrics_namespace=env.get(Env.METRICS_NAMESPACE, ""),
                report_lanes=_report_lanes(env.get(Env.REPORT_LANES, "[]")),
            )
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


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _report_lanes(raw: str) -> tuple[ReportLane, ...]:
    """Parse `[{"name": ..., "queueUrl": ..., "deadLetterQueueUrl": ...}]`."""
    return tuple(
        ReportLane(item["name"], item["queueUrl"], item["deadLetterQueueUrl"])
        for item in json.loads(raw)
    )
