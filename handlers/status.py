"""Lambda handler of the status function: SES's events for this stack's messages in, delivery statuses out.

The work is `handlers.delivery_status.updates.StatusUpdates`; this module only wires it (as
`DeliveryStatus` declares the function: `handlers.status.handler`).
"""

from __future__ import annotations

from . import entry
from .clients import Clients
from .delivery_status.updates import StatusUpdates
from .entry import Handler, end_of_init
from .shared.settings import Settings


def build(clients: Clients) -> Handler:
    """The status function's handler, with `clients` (the emulator and tests bring their own)."""
    return entry.lambda_handler(lambda: StatusUpdates(Settings.from_environ(), clients))


#: Entry point: `handlers.status.handler`.
handler = end_of_init(build(Clients.for_status()))
