"""AWS's limits on the physical names a component derives from its own name, checked before anything exists.

Every component names its children `<name>-<suffix>`; AWS caps each kind of name (a Lambda
function at 64 characters, an SQS queue at 80, ...), so a long project or stack name would fail
half-way through `pulumi up`. Each component lists the names it will create as `NameLimit`s and
reports the ones too long with `name_problems`, with the longest component name that fits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .checks import Problem

#: Pulumi's autonaming appends a dash and 7 random characters to a logical name.
AUTONAME_SUFFIX = 8


class NameLimit(NamedTuple):
    """A physical name a component will create, and the most characters AWS allows for its kind."""

    physical: str
    limit: int
    kind: str

    @classmethod
    def autonamed(cls, logical: str, limit: int, kind: str) -> NameLimit:
        """A resource Pulumi names from its logical name, leaving room for the random suffix."""
        return cls(logical, limit - AUTONAME_SUFFIX, f"{kind} (autonamed)")


def name_problems(name: str, limits: Iterable[NameLimit]) -> list[Problem]:
    """One problem per name over its limit, each saying the longest component name that would fit.

    Args:
        name: the component's name, which every physical name in `limits` starts with.
        limits: the names the component will create.

    Returns:
        Problems about the argument `name`; none when every name fits.
    """
    problems = []
    for physical, limit, kind in limits:
        if len(physical) > limit:
            most = limit - (len(physical) - len(name))
            problems.append(Problem("name", f"the {kind} name {physical!r} is {len(physical)} characters, more than "
                                            f"the {limit} AWS allows; use a component name of at most {most}"))
    return problems
