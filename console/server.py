"""Serving the console on 127.0.0.1 only: the one place a console listens.

Werkzeug's threaded server (Flask's own) is plenty for one operator's browser. It binds to the
loopback address and nothing else, whatever the port, and writes no request log: a URL can hold
a search for an address. The AWS clients are made before the first request, since boto3 makes
clients safely from one thread only.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .http_errors import ConsoleError
from .source import ConsoleSource

HOST = "127.0.0.1"
DEFAULT_PORT = 8025
#: The clients the console calls with (made up front: see the module docstring).
SERVICES = ("sqs", "dynamodb", "events", "sesv2", "lambda", "sts")


class _QuietHandler(WSGIRequestHandler):
    """No request log: a request line can carry a search for an address."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass
class RunningConsole:
    """A console listening on `url`; `stop()` ends it."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return port_of(self.server)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def port_of(server: BaseWSGIServer) -> int:
    """The port a bound server listens on."""
    return int(server.server_address[1])


def bind(source: ConsoleSource, port: int = DEFAULT_PORT) -> BaseWSGIServer:
    """A server for the console on 127.0.0.1:`port` (0: any free port), not yet serving.

    Raises:
        ConsoleError: the port is taken or cannot be bound (one line: which, and what to do).
    """
    for service in SERVICES:
        source.aws.client(service)
    # Bound here, not by werkzeug: on a taken port it prints to stderr and exits the process.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listening:
        try:
            listening.bind((HOST, port))
            listening.listen(128)
        except OSError as exc:
            raise ConsoleError(503, f"cannot listen on {HOST}:{port} ({exc.strerror or exc})",
                               "stop what uses that port, or pick another (CONSOLE_PORT / --port)") from None
        return make_server(HOST, listening.getsockname()[1], create_app(source), threaded=True,
                           request_handler=_QuietHandler, fd=listening.fileno())


@contextmanager
def running(source: ConsoleSource, port: int = DEFAULT_PORT) -> Iterator[RunningConsole]:
    """The console serving in a background thread for the `with` block (the local run, tests)."""
    server = bind(source, port)
    thread = threading.Thread(target=server.serve_forever, name="console", daemon=True)
    thread.start()
    console = RunningConsole(server, thread)
    try:
        yield console
    finally:
        console.stop()
