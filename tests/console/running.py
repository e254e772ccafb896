"""The local stack with its console, as `make console` runs them, for the tests that start the emulator.

The lanes are drained as `make console` drains them (`LocalConsole.poll`), in a thread, so a test
send reaches its lane, SES's simulator answers and the status path records it while a test (or
a browser) watches. The console shows a copy of the repository's templates with a product team's
template added (`order-shipped`, tests/templates/test_check.py) and a sample of `notification`
that lacks `message`, so a missing variable can be seen without touching the repository.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from local.program import ROOT
from local.web_console import LocalConsole, local_console
from tests.templates.test_check import write_template

T = TypeVar("T")
#: The sample of `notification` v1 that lacks `message`, which the template prints.
NO_MESSAGE = "no-message.json"
#: The sample of `order-shipped` v1 that lacks `customerName` (as tests/console/conftest.py's).
NO_NAME = "no-name.json"
POLL_SECONDS = 0.3


@dataclass
class Running:
    """The running stack and console; `lines` is what `make console` would have printed since."""

    local: LocalConsole
    #: The templates folder the console shows (the repository's, and what `console_templates` adds).
    templates: Path
    lines: list[str] = field(default_factory=list)
    #: What stopped the lanes draining (`make console` would have ended with it), if anything did.
    stopped: str = ""

    @property
    def url(self) -> str:
        return self.local.console.url

    @property
    def stack_name(self) -> str:
        return str(self.local.system.blueprint.configuration_sets[0])

    def wait_for(self, found: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
        """Poll `found` until it answers something (the lanes drain meanwhile)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = found()
            if answer:
                return answer
            time.sleep(POLL_SECONDS)
        stopped = f"; the lanes stopped draining: {self.stopped}" if self.stopped else ""
        raise AssertionError(f"waited {timeout:.0f} s for {what}; `make console` printed: {self.lines[-10:]}{stopped}")


def console_templates(root: Path) -> Path:
    """The repository's templates, plus `order-shipped` (with a sample lacking a name) and a `notification` sample
    without `message`."""
    folder = root / "templates"
    shutil.copytree(ROOT / "templates", folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    write_template(root)
    (folder / "order-shipped" / "v1" / "samples" / NO_NAME).write_text(
        json.dumps({"orderId": "1045", "items": [{"qty": 1, "name": "Tea"}]}))
    (folder / "notification" / "v1" / "samples" / NO_MESSAGE).write_text(json.dumps({"title": "Your weekly digest"}))
    return folder


@contextmanager
def running_console(root: Path) -> Iterator[Running]:
    """`make console` on free ports, its outputs under `root` (a developer's build/ is left alone)."""
    templates = console_templates(root)
    with local_console("dev", port=0, console_port=0, templates_dir=templates,
                       outputs=root / "local-stack.json") as local:
        running = Running(local, templates)
        stop = threading.Event()

        def drain() -> None:
            # An error ends the thread, as it ends `make console`; a test waiting on the lanes says which.
            try:
                while not stop.is_set():
                    running.lines += local.poll()
                    stop.wait(POLL_SECONDS)
            except Exception as error:  # noqa: BLE001 - kept for the waiting test's message, then the thread ends
                running.stopped = f"{type(error).__name__}: {error}"
                raise

        thread = threading.Thread(target=drain, name="drain", daemon=True)
        thread.start()
        try:
            yield running
        finally:
            stop.set()
            thread.join(timeout=30)


def api(running: Running, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """Call the running console's API over HTTP (as the page does): (status, JSON)."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{running.url}/api/{path}", data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
