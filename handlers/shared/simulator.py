"""SES's mailbox simulator: its addresses, in the one place the handlers and the emulator read them.

Mail sent to these addresses goes through SES but reaches no one: each mailbox answers with one
scenario (SES Developer Guide, "Using the mailbox simulator manually",
docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html#send-email-simulator). SES lets
an account in the sandbox send to them without verifying them ("You can use the mailbox simulator
even if your account is in the Amazon SES sandbox"), and accepts labels (`bounce+label1@...`) so
one scenario can be told apart from another. The module imports nothing beyond the standard library.
"""

from __future__ import annotations

from email.utils import parseaddr

SIMULATOR_DOMAIN = "simulator.amazonses.com"

#: The simulator's mailboxes (local parts), one per scenario SES documents.
SUCCESS = "success"
BOUNCE = "bounce"
OOTO = "ooto"
COMPLAINT = "complaint"
SUPPRESSION_LIST = "suppressionlist"
MAILBOXES = (SUCCESS, BOUNCE, OOTO, COMPLAINT, SUPPRESSION_LIST)


def simulator_mailbox(address: str) -> str | None:
    """The simulator mailbox an address reaches (`bounce+x@simulator.amazonses.com` -> "bounce"), or None.

    Case is ignored, as mail domains ignore it; a display name (`Test <success@...>`) is allowed.
    Only the documented mailboxes count: SES promises nothing for other local parts of the domain.
    """
    bare = (parseaddr(address)[1] or address).strip().lower()
    local, at, domain = bare.rpartition("@")
    if not at or domain != SIMULATOR_DOMAIN:
        return None
    mailbox = local.partition("+")[0]
    return mailbox if mailbox in MAILBOXES else None


def is_simulator_address(address: str) -> bool:
    """Whether `address` is one of SES's mailbox simulator addresses (labels included)."""
    return simulator_mailbox(address) is not None
