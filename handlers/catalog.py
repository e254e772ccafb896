"""The template catalog: which SES templates a stack deployed, and what each version needs.

One home for the catalog in both directions: `EmailSender` builds it from the template files and
writes it (`to_json`) into every function's environment (`EMAIL_TEMPLATES`); the handlers read it
back (`from_json`) to pick a version (`newest_version`) and check an event's data before sending.
Dependency-free, so the Pulumi program imports it as well.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TemplateVersion:
    """One deployed SES template: the name SES knows it by and the variables it needs.

    `subject_variables` are the ones printed in the subject line: their values become a mail
    header, so they are checked for control characters (header injection) like any other header.
    """

    deployed_name: str
    variables: frozenset[str]
    subject_variables: frozenset[str] = frozenset()


#: template name -> version -> what was deployed
Catalog = Mapping[str, Mapping[str, TemplateVersion]]

#: The template the daily report is sent with; every stack deploys it (EmailSender checks).
REPORT_TEMPLATE = "daily-report"


def newest_version(versions: Mapping[str, TemplateVersion]) -> str:
    """The highest version: `v10` after `v9` (longer names sort later, then by text)."""
    return max(versions, key=lambda version: (len(version), version))


def to_json(catalog: Catalog) -> str:
    """`{"name": {"v1": {"deployedName": ..., "variables": [...], "subjectVariables": [...]}}}`, stable."""
    return json.dumps(
        {
            name: {
                version: {
                    "deployedName": entry.deployed_name,
                    "variables": sorted(entry.variables),
                    "subjectVariables": sorted(entry.subject_variables),
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
                frozenset(entry["variables"]),
                frozenset(entry.get("subjectVariables", ())),
            )
            for version, entry in versions.items()
        }
        for name, versions in json.loads(raw).items()
    }
