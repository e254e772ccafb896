"""Lambda handler for the normal lane: templated transactional email.

Sends each event with the SES template it names (`detail.template`), or with the stack's default
template and the recipe's variables (subject, title, message, timestamp, source) when it names none.
"""

from __future__ import annotations

from .sending import lane, ses
from .clients import Clients
from .entry import Handler, end_of_init
from .sending.compose import templated_email
from .sending.contract import EmailRequest
from .shared.settings import Settings


def compose(request: EmailRequest, settings: Settings) -> ses.OutgoingEmail:
    """The normal lane sends exactly what the event asks for."""
    return templated_email(request, settings)


def build(clients: Clients) -> Handler:
    """This lane's handler, sending with `clients` (the emulator and tests bring their own)."""
    return lane.entry_point(compose, clients)


#: Entry point: `handlers.templated.handler`.
handler = end_of_init(build(Clients.create()))
