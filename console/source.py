"""The stack a console shows: its names and clients, who renders, the lanes' functions, and (locally) the outbox.

One console serves a local stack (`make console`: the emulator, `local/console_source.py`) or a
deployed one (`email-pipeline console`: `console/deployed.py`); both are a `ConsoleSource`. The
names and clients are the operator tool's (`cli.stack.Stack`, `cli.session.Aws`), so dead letters,
redrive and trace go through the same code as `email-pipeline dlq` and `trace`.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..cli.session import Aws
from ..cli.stack import HIDDEN_SECRET, Stack
from ..handlers.sending.contract import EmailRequest
from ..handlers.sending.ses import OutgoingEmail
from ..handlers.shared.settings import ConfigurationError, Settings
from .http_errors import ConsoleError, bad_request
from .renderers import Renderer

#: A lane's `compose`: the email it would send for a request (each lane's entry module defines one).
Compose = Callable[[EmailRequest, Settings], OutgoingEmail]


class Mode(str, enum.Enum):
    """Where the stack runs: the emulator (the console holds an outbox) or AWS (it has only records)."""

    LOCAL = "local"
    DEPLOYED = "deployed"


@dataclass(frozen=True)
class LaneFunction:
    """A lane's function as deployed: its handler (`templated.handler`) and its environment."""

    handler: str
    environment: Mapping[str, str]


@dataclass(frozen=True)
class Lane:
    """A lane's own view of an email: its settings (as its function reads them) and its `compose`."""

    name: str
    settings: Settings
    compose: Compose


class OutboxEmail(Protocol):
    """An email the emulated SES accepted (`local.emulated_ses.SentEmail`), as the message log reads it."""

    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    text: str
    html: str
    template: str | None
    lane: str
    headers: Mapping[str, str]
    message_id: str
    tags: Mapping[str, str]
    rendering_failure: str


@dataclass
class ConsoleSource:
    """Everything the console reads and does for one stack.

    Args:
        mode: local (the emulator) or deployed.
        stack: the stack's names, as the operator tool resolves them.
        aws: clients for the stack's region (and the emulator's endpoint, locally).
        templates_dir: the templates the console lists and checks (the checkout's).
        renderer: who renders a preview (this checkout locally, SES for a deployed stack).
        lanes: the templated lanes (an event can be sent through), by name.
        lane_function: a lane's function as deployed (read when asked: a deploy may change it).
        outbox: every email the emulated SES accepted, oldest first (local only: SES keeps no copy).
        started_templates: what the running stack renders per deployed template name, to tell an
            author that the files changed since (local only).
    """

    mode: Mode
    stack: Stack
    aws: Aws
    templates_dir: Path
    renderer: Renderer
    lanes: Sequence[str]
    lane_function: Callable[[str], LaneFunction]
    outbox: Callable[[], Sequence[OutboxEmail]] | None = None
    started_templates: Callable[[], Mapping[str, tuple[str, str, str]]] | None = None

    @property
    def name(self) -> str:
        """`<project>-<stack>`: what SES names the templates by and a confirmation must type."""
        return self.stack.require_prefix()

    def hash_key(self) -> bytes:
        """The stack's recipient hash key, to search status records by an address.

        Raises:
            ConsoleError: the outputs hid it (400).
        """
        key = self.stack.hash_key
        if not key or key == HIDDEN_SECRET:
            raise bad_request(f"the recipient hash key is not in {self.stack.source}",
                              "export the outputs with `pulumi stack output --json --show-secrets` to search by address")
        return key.encode()

    def lane(self, name: str) -> Lane:
        """A templated lane's settings and compose, as its function has them now.

        Raises:
            ConsoleError: no such lane (404), or its function's environment cannot be read (502).
        """
        if name not in self.lanes:
            known = ", ".join(sorted(self.lanes)) or "none known"
            raise ConsoleError(404, f"no templated lane {name!r} on stack {self.name} (lanes: {known})",
                               "pick one of its lanes")
        function = self.lane_function(name)
        try:
            settings = Settings.from_environ(function.environment)
        except ConfigurationError as exc:
            raise ConsoleError(502, f"the {name} lane's function environment cannot be read ({exc})",
                               "redeploy the stack (pulumi up)") from None
        return Lane(name, settings, _compose(name, function.handler))

    def describe(self) -> dict[str, Any]:
        """`GET /api/stack`: what the page needs to know of the stack before anything else."""
        return {"mode": self.mode.value, "stack": self.name, "bus": self.stack.bus, "region": self.aws.region,
                "renderer": getattr(self.renderer, "name", "local"), "lanes": self.stack.lane_names(),
                "templated_lanes": sorted(self.lanes), "outbox": self.outbox is not None,
                "templates": str(self.templates_dir)}


def _compose(lane: str, handler: str) -> Compose:
    """The `compose` of the lane's entry module (`handlers.templated.handler` -> `handlers.templated.compose`)."""
    module_name = handler.rpartition(".")[0].removeprefix("handlers.")
    try:
        module = importlib.import_module(f"ses_email_pipeline.handlers.{module_name}")
    except ImportError:
        raise ConsoleError(502, f"the {lane} lane's handler {handler!r} is not in this checkout",
                           "run the console from the checkout the stack was deployed from") from None
    compose: Any = getattr(module, "compose", None)
    if compose is None:
        raise ConsoleError(400, f"the {lane} lane ({handler}) composes no templated email",
                           "pick a templated lane (normal, priority, or one you added with a compose)")
    return compose  # type: ignore[no-any-return]
