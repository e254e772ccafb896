"""Reusable Pulumi components of the SES email pipeline.

    from ses_email_pipeline import EmailSender, EventRouter, Monitoring

Each component works alone: bring your own bus to `EmailSender`, your own queues to `EventRouter`,
or your own functions and queues to `Monitoring`. The Lambda handlers ship inside the package
(`ses_email_pipeline.handlers`) so `EmailSender` can package them.
"""

from .delivery_status import DeliveryStatus, DeliveryStatusArgs
from .email_sender import EmailSender
from .event_router import EventRouter, EventRouterArgs, LaneQueue
from .lanes import DEFAULT_LANES, LaneConfig
from .monitoring import Monitoring, MonitoringArgs, WatchedFunction, WatchedLane
from .routes import DEFAULT_ROUTES, Route
from .sender_args import EmailSenderArgs

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
