"""Problems with a component's arguments, each naming the argument it is about.

Every Args class checks itself when it is made (`EmailSenderArgs.__post_init__`, and likewise
`DeliveryStatusArgs`, `EventRouterArgs`, `MonitoringArgs`), collecting every `Problem` and raising
them together with `raise_if_any`, so a reuser calling a component directly gets the same checks
as the stack's program; the program's config parser (`stack_config`) only renames the arguments
to the config keys its users write. A component checks what depends on its name (the physical
names, `name_limits`) the same way, before declaring anything.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)$")
DISPLAY_ADDRESS = re.compile(r"^[^<>\r\n]*<([^<>\r\n]+)>$")
DOMAIN = re.compile(r"^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one argument: `field` is a dotted path, e.g. `lanes.priority.batch_size`."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidArgs(ValueError):
    """Every problem with a component's arguments, one per line, raised before anything is declared."""

    def __init__(self, what: str, problems: Sequence[Problem]) -> None:
        super().__init__(f"invalid {what}:\n" + "\n".join(f"  - {problem}" for problem in problems))
        self.problems = list(problems)


def raise_if_any(what: str, problems: Iterable[Problem]) -> None:
    """Raise `InvalidArgs` when there is any problem.

    Raises:
        InvalidArgs: listing them all.
    """
    found = list(problems)
    if found:
        raise InvalidArgs(what, found)


def address_problems(field: str, addresses: Sequence[str]) -> list[Problem]:
    """Addresses SES could not send to (ASCII `local@domain`), counted without quoting them."""
    bad = [address for address in addresses if not ADDRESS.match(str(address))]
    return [Problem(field, f"{len(bad)} entries are not email addresses")] if bad else []


def sender_problems(sender: str, identity: str) -> list[Problem]:
    """The From header must be an address (or `Name <address>`) the identity covers."""
    problems = []
    match = DISPLAY_ADDRESS.match(sender)
    address = match.group(1).strip() if match else sender
    address_match = ADDRESS.match(address)
    if not address_match:
        problems.append(Problem("sender", f"{sender!r} is not an address or 'Name <address>'"))
    if not (ADDRESS.match(identity) or DOMAIN.match(identity)):
        problems.append(Problem("identity", f"{identity!r} is neither a domain nor an email address"))
    elif address_match and identity.lower() not in (address.lower(), address_match.group(1).lower()):
        problems.append(Problem("sender", f"its address must be the identity {identity!r} or an address at that domain"))
    return problems


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known name `word` most likely misspells (difflib's ratio, at least 0.6), or None."""
    found = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return found[0] if found else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`; did you mean X?` for the closest known name, else `; known: a, b, c`."""
    names = sorted(known)
    match = closest(word, names)
    return f"; did you mean {match}?" if match else f"; known: {', '.join(names)}"
