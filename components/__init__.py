"""Reusable Pulumi components of the SES email pipeline.

    from ses_email_pipeline import EmailSender, EventRouter, Monitoring

Each component works alone: bring your own bus to `EmailSender`, your own queues to `EventRouter`,
or your own functions and queues to `Monitoring`. The Lambda handlers ship inside the package
(`ses_email_pipeline.handlers`) so `EmailSender` can package them.
"""

from .delivery_status import DeliveryStatus, DeliveryStatusArgs
from .email_sender import DEFAULT_LANES, EmailSender, EmailSenderArgs, LaneConfig
from .event_router import DEFAULT_ROUTES, EventRouter, EventRouterArgs, LaneQueue, Route
from .monitoring import Monitoring, MonitoringArgs, WatchedFunction, WatchedLane

__version__ = "0.1.0"
__all__ = [
    "DEFAULT_LANES",
    "DEFAULT_ROUTES",
    "DeliveryStatus",
    "DeliveryStatusArgs",
    "EmailSender",
    "EmailSenderArgs",
    "EventRouter",
    "EventRouterArgs",
    "LaneConfig",
    "LaneQueue",
    "Monitoring",
    "MonitoringArgs",
    "Route",
    "WatchedFunction",
    "WatchedLane",
]
