"""The local system as the console sees a stack: its outputs, the lanes' functions, the outbox, what it renders.

The console reads a local stack as it reads a deployed one (`ses_email_pipeline.console.source`):
through its outputs (`local.stack_outputs`, what `pulumi stack output --json --show-secrets` would
print), resolved by the operator tool (`cli.stack.resolve`), and clients pointed at the emulator. The local system adds
what only it has: the outbox of every email the emulated SES accepted, and the templates the
running stack renders (to tell an author that the files changed since it started).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ses_email_pipeline.cli.session import Aws
from ses_email_pipeline.cli.stack import resolve
from ses_email_pipeline.console.renderers import LocalRenderer
from ses_email_pipeline.console.source import ConsoleSource, LaneFunction, Mode
from ses_email_pipeline.handlers.shared.settings import Env
from ses_email_pipeline.handlers.shared.status_names import STATUS_LANE

from local.program import ROOT
from local.stack_outputs import stack_outputs
from local.system import REGION, LocalSystem

TEMPLATES = ROOT / "templates"


def lane_functions(system: LocalSystem) -> dict[str, LaneFunction]:
    """Each templated lane's function (handler and environment), as the program declared it."""
    return {function.environment[Env.LANE]: LaneFunction(function.handler, dict(function.environment))
            for _queue, function, _batch in system.blueprint.lane_mappings()
            if function.environment.get(Env.LANE, STATUS_LANE) != STATUS_LANE}


def started_templates(system: LocalSystem) -> Mapping[str, tuple[str, str, str]]:
    """What the running stack renders, per deployed template name (the files as they were at start)."""
    return {name: (spec.subject, spec.html, spec.text) for name, spec in system.blueprint.templates.items()}


def console_source(system: LocalSystem, templates_dir: Path = TEMPLATES) -> ConsoleSource:
    """The console's view of the running local system."""
    functions = lane_functions(system)
    return ConsoleSource(
        mode=Mode.LOCAL,
        stack=resolve(stack_outputs(system), source="the local stack"),
        aws=Aws(REGION, system.endpoint),
        templates_dir=templates_dir,
        renderer=LocalRenderer(),
        lanes=sorted(functions),
        lane_function=functions.__getitem__,
        outbox=lambda: list(system.ses.outbox),
        started_templates=lambda: started_templates(system),
    )
