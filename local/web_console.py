"""`make console` (`python -m local.web_console`): the local stack as `make serve` runs it, and the web console beside it.

The emulator starts on 127.0.0.1:`--port` (4566) with its outputs written where `email-pipeline
--local` reads them, and every second the lanes are drained and each outcome printed, all as
`local.serve` does it (its `check_port`, `serve_banner` and `ServeWatch`); the console
(`ses_email_pipeline.console`) listens on 127.0.0.1:`--console-port` (8025, or `CONSOLE_PORT`).
Both addresses are printed first. A port already taken, a stack config the Pulumi CLI would
refuse or a stack that does not exist is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ses_email_pipeline.console import server
from ses_email_pipeline.console.http_errors import ConsoleError

from local import stack_outputs
from local.console_source import TEMPLATES, console_source
from local.iam import ProvisioningRefused
from local.program import UnknownStack
from local.serve import DEFAULT_PORT, PortTaken, ServeWatch, check_port, serve_banner
from local.stack_files import StackConfigError
from local.system import LocalSystem

PROG = "make console"
#: The console's port unless `CONSOLE_PORT` or `--console-port` says otherwise.
CONSOLE_PORT = server.DEFAULT_PORT


@dataclass
class LocalConsole:
    """The running local stack and its console."""

    system: LocalSystem
    console: server.RunningConsole
    outputs: Path
    _watch: ServeWatch | None = field(default=None, repr=False)

    def banner(self) -> list[str]:
        """Where the emulator and the console are, and how to reach the stack from a terminal."""
        return [f"console on {self.console.url} (templates, messages, test sends, dead letters; CONSOLE_PORT)",
                *serve_banner(self.system, outputs=self.outputs)]

    def poll(self) -> list[str]:
        """Drain the lanes once and tell what happened since the last poll (`local.serve.ServeWatch`)."""
        if self._watch is None:
            self._watch = ServeWatch(self.system)
        return self._watch.new_lines()


def check_console_port(port: int) -> None:
    """Refuse a console port another process holds before the stack starts (which takes seconds).

    Raises:
        ConsoleError: the port is taken.
    """
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((server.HOST, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                raise ConsoleError(503, f"port {port} on {server.HOST} is taken (another console?)",
                                   f"stop that process, or pick another port: make console CONSOLE_PORT={port + 1}") \
                    from None
            raise


@contextlib.contextmanager
def local_console(stack: str, *, port: int = DEFAULT_PORT, console_port: int = CONSOLE_PORT,
                  templates_dir: Path = TEMPLATES, outputs: Path = stack_outputs.OUTPUTS_FILE) -> Iterator[LocalConsole]:
    """Start the stack and its console for the `with` block.

    Raises:
        PortTaken: the emulator's port is in use.
        ConsoleError: the console's port is in use.
        StackConfigError, UnknownStack, ProvisioningRefused: as `make serve` raises them.
    """
    check_port(port)
    check_console_port(console_port)
    with LocalSystem.start(stack, port=port) as system:
        written = stack_outputs.write(system, outputs)
        with server.running(console_source(system, templates_dir), console_port) as running:
            yield LocalConsole(system, running, written)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local.web_console", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default="dev", help="the stack whose Pulumi.<stack>.yaml to run (default: dev)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the emulator's port (default {DEFAULT_PORT})")
    parser.add_argument("--console-port", type=int, default=int(os.environ.get("CONSOLE_PORT") or CONSOLE_PORT),
                        help=f"the console's port (default $CONSOLE_PORT, else {CONSOLE_PORT})")
    parser.add_argument("--templates", type=Path, default=TEMPLATES,
                        help="the templates folder the console shows (default: the repository's)")
    return parser


def main(argv: Sequence[str] | None = None, *, polls: int | None = None) -> int:
    """Run until Ctrl-C (or `polls` polls); 2 with one line when a port, the stack or its config cannot be used."""
    args = build_parser().parse_args(argv)
    try:
        with local_console(args.stack, port=args.port, console_port=args.console_port,
                           templates_dir=args.templates) as running:
            print("\n".join(running.banner()), flush=True)
            count = 0
            while polls is None or count < polls:
                for line in running.poll():
                    print(line, flush=True)
                time.sleep(1)
                count += 1
    except KeyboardInterrupt:
        return 0
    except (PortTaken, UnknownStack) as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 2
    except ConsoleError as error:
        print(f"{PROG}: {error.line()}", file=sys.stderr)
        return 2
    except StackConfigError as error:
        print(f"error: validating stack config: {error}; {error.fix}", file=sys.stderr)
        return 2
    except ProvisioningRefused as refused:
        print(f"error: provisioning: {refused}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
