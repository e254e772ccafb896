"""Reusable Pulumi components of the SES email pipeline.

    from ses_email_pipeline import EmailSender, EventRouter, Monitoring

Each component works alone: bring your own bus to `EmailSender`, your own queues to `EventRouter`,
or your own functions and queues to `Monitoring`. The Lambda handlers ship inside the package
(`ses_email_pipeline.handlers`) so `EmailSender` can package them.

The components are imported on first use (PEP 562): the package's other users, such as the
operator tool and `email-pipeline templates check`, do not pay for importing Pulumi's AWS SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_EXPORTS = {
    "DEFAULT_LANES": "lanes", "LaneConfig": "lanes",
    "DEFAULT_ROUTES": "routes", "Route": "routes",
    "DeliveryStatus": "delivery_status", "DeliveryStatusArgs": "delivery_status",
    "EmailSender": "email_sender", "EmailSenderArgs": "sender_args",
    "EventRouter": "event_router", "EventRouterArgs": "event_router", "LaneQueue": "event_router",
    "Monitoring": "monitoring", "MonitoringArgs": "monitoring", "WatchedFunction": "monitoring",
    "WatchedLane": "monitoring",
    "StatusWebhooks": "status_webhooks", "StatusWebhooksArgs": "status_webhooks", "Webhook": "status_webhooks",
    "WebhookAuth": "status_webhooks",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .delivery_status import DeliveryStatus, DeliveryStatusArgs
    from .email_sender import EmailSender
    from .event_router import EventRouter, EventRouterArgs, LaneQueue
    from .lanes import DEFAULT_LANES, LaneConfig
    from .monitoring import Monitoring, MonitoringArgs, WatchedFunction, WatchedLane
    from .routes import DEFAULT_ROUTES, Route
    from .sender_args import EmailSenderArgs
    from .status_webhooks import StatusWebhooks, StatusWebhooksArgs, Webhook, WebhookAuth


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
