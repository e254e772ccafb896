"""The template catalog: which SES templates a stack deployed, and what each version needs.

One home for the catalog in both directions: `EmailSender` builds it from the template files and
writes it (`to_json`) into every function's environment (`EMAIL_TEMPLATES`); the handlers read it
back (`from_json`) to pick a version (`newest_version`) and check an event's data before sending.
Dependency-free, so the Pulumi program imports it as well.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from .required_variables import Condition, State, Use, VariableUses


class TemplateVersion(NamedTuple):
    """One deployed SES template: the name SES knows it by and where it prints which variables.

    `variables` are the variables the template prints and the conditions under which it prints
    each (`handlers.shared.required_variables`): those printed for an event's data must be in it. `subject_variables`
    are the ones whose content reaches the subject line: their values become a mail header, so they
    are checked for control characters (header injection) like any other header.
    """

    deployed_name: str
    variables: VariableUses = VariableUses()
    subject_variables: VariableUses = VariableUses()


#: template name -> version -> what was deployed
Catalog = Mapping[str, Mapping[str, TemplateVersion]]

#: The template the daily report is sent with; every stack deploys it (EmailSender checks).
REPORT_TEMPLATE = "daily-report"


def newest_version(versions: Mapping[str, TemplateVersion]) -> str:
    """The highest version: `v10` after `v9` (longer names sort later, then by text)."""
    return max(versions, key=lambda version: (len(version), version))


def to_json(catalog: Catalog) -> str:
    """The catalog as compact, stable JSON, for a function's environment (4 KB for all variables).

    `{"name": {"v1": {"deployedName": ..., "variables": [...], "subjectVariables": [...]}}}`. A
    variable printed unconditionally is its name (`"orderId"`); one printed only under conditions
    is `[name, [[path, state], ...]]` once per place it is printed, for example
    `["giftNote", [["hasGift", "truthy"]]]` (states: `handlers.shared.required_variables.State`). A template
    without conditional blocks is written exactly as before conditions were recorded.
    """
    return json.dumps(
        {
            name: {
                version: {
                    "deployedName": entry.deployed_name,
                    "variables": _uses_to_json(entry.variables),
                    "subjectVariables": _uses_to_json(entry.subject_variables),
                }
                for version, entry in versions.items()
            }
            for name, versions in catalog.items()
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def from_json(raw: str) -> dict[str, dict[str, TemplateVersion]]:
    """The catalog `to_json` wrote.

    Raises:
        ValueError, KeyError, TypeError: the text is not such a catalog.
    """
    return {
        name: {
            version: TemplateVersion(
                entry["deployedName"],
                _uses_from_json(entry["variables"]),
                _uses_from_json(entry.get("subjectVariables", ())),
            )
            for version, entry in versions.items()
        }
        for name, versions in json.loads(raw).items()
    }


def _uses_to_json(uses: VariableUses) -> list[Any]:
    written = [
        [use.name, [[condition.path, condition.state.value] for condition in use.when]] if use.when else use.name
        for use in uses.uses
    ]
    return sorted(written, key=lambda item: (item, []) if isinstance(item, str) else tuple(item))


def _uses_from_json(raw: Any) -> VariableUses:
    if not isinstance(raw, (list, tuple)):
        raise TypeError(f"expected a list of variable uses, got {type(raw).__name__}")
    return VariableUses.of(
        Use(item) if isinstance(item, str)
        else Use(item[0], tuple(Condition(path, State(state)) for path, state in item[1]))
        for item in raw
    )
