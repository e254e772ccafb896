"""Lambda handler for the priority lane: high and critical alerts, also sent to on-call.

The lane has its own queue and reserved concurrency, so a backlog of ordinary mail never delays an
alert. Alerts are marked so that mail clients show their importance: a `[HIGH]` or `[CRITICAL]`
subject prefix and the `Importance`, `X-Priority` and `Priority` headers.
"""

from __future__ import annotations

from collections.abc import Mapping

from .sending import lane, ses
from .clients import Clients
from .entry import Handler, end_of_init
from .sending.compose import templated_email
from .sending.contract import EmailRequest
from .errors import InvalidEvent
from .shared.settings import Settings

IMPORTANCE_HEADERS: Mapping[str, Mapping[str, str]] = {
    "high": {"Importance": "high", "X-Priority": "2 (High)", "Priority": "urgent"},
    "critical": {"Importance": "high", "X-Priority": "1 (Highest)", "Priority": "urgent"},
}


def compose(request: EmailRequest, settings: Settings) -> ses.OutgoingEmail:
    """Add the on-call list, the subject prefix and the importance headers.

    Raises:
        InvalidEvent: the priority is not high or critical; such events belong on the normal lane.
    """
    priority = request.priority or ""
    headers = IMPORTANCE_HEADERS.get(priority)
    if headers is None:
        raise InvalidEvent(
            "detail.priority",
            f"the priority lane takes only {' or '.join(IMPORTANCE_HEADERS)} alerts, got "
            f"{priority or 'none'!r}; send other events to the normal lane",
        )
    return templated_email(
        request,
        settings,
        extra_to=settings.oncall_recipients,
        subject_prefix=f"[{priority.upper()}] ",
        headers=headers,
    )


def build(clients: Clients) -> Handler:
    """This lane's handler, sending with `clients` (the emulator and tests bring their own)."""
    return lane.entry_point(compose, clients)


#: Entry point: `handlers.priority.handler`.
handler = end_of_init(build(Clients.create()))
