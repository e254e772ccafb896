"""The email pipeline's policy pack. From the project root: `pulumi preview --policy-pack policy`.

The Pulumi CLI runs this file with this folder first on `sys.path`, hence the top-level import of
`email_policies`. The policies live there, so tests import them without starting the pack's server.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, PolicyPack

from email_policies import PACK_NAME, POLICIES

PolicyPack(
    name=PACK_NAME,
    policies=list(POLICIES),
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Guardrails the email pipeline's design promises, for any program built on its components.",
)
