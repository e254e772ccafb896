"""The console as a Flask application: the page, its static files, the API, and what guards them.

The console listens on 127.0.0.1 only, and a page on another site must not drive it through the
operator's browser: a request is answered only when its `Host` is the console's own address (no
DNS rebinding), and a change (`POST`) only as JSON from the console's own origin (a cross-site
form cannot send JSON without a preflight the console never grants). Every answer forbids
framing and sniffing; the page's policy allows only its own scripts, so an email's HTML shown in
the page's sandboxed frame runs nothing. Errors are JSON with a status and one line; none is
logged with a value from a request (only the path and the error's type).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from ..cli.problems import CliError
from .api import api
from .http_errors import ConsoleError, from_aws_error, from_cli
from .source import ConsoleSource

#: The page's content security policy. Emails carry inline styles and may show remote https images
#: (what a recipient's client would fetch); no script runs but the console's own.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data: https:; font-src 'self' data:; connect-src 'self'; frame-src 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
_log = structlog.get_logger("ses_email_pipeline.console")


def create_app(source: ConsoleSource) -> Flask:
    """The console for `source`, answering only requests addressed to the loopback address and port it listens on."""
    folder = Path(__file__).resolve().parent
    app = Flask(__name__, static_folder=str(folder / "static"), template_folder=str(folder / "pages"))
    app.extensions["console_source"] = source
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.before_request
    def guard() -> Response | None:
        allowed = own_hosts(str(request.environ.get("SERVER_PORT", "")))
        if request.host.lower() not in allowed:
            return _error(ConsoleError(421, f"this console answers only to {', '.join(sorted(allowed))}",
                                       "open it at the address it printed"))
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("Origin")
            if origin is not None and origin.lower() not in {f"http://{host}" for host in allowed}:
                return _error(ConsoleError(403, "a change from another site's page is refused",
                                           "use the console's own page"))
            if not request.is_json:
                return _error(ConsoleError(415, "a change must be sent as JSON",
                                           "send Content-Type: application/json"))
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def page() -> str:
        return render_template("index.html", stack=source.name, mode=source.mode.value)

    app.register_blueprint(api, url_prefix="/api")

    @app.errorhandler(ConsoleError)
    def console_error(error: ConsoleError) -> Response:
        return _error(error)

    @app.errorhandler(CliError)
    def cli_error(error: CliError) -> Response:
        return _error(from_cli(error))

    @app.errorhandler(ClientError)
    @app.errorhandler(BotoCoreError)
    def aws_error(error: Exception) -> Response:
        return _error(from_aws_error(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        return _error(ConsoleError(status, f"{request.method} {request.path}: {error.name.lower()}",
                                   "see GET /api/stack and the API's list in docs/console.md"))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        _log.error("console_request_failed", path=request.path, error_type=type(error).__name__,
                   at=_innermost(error))
        return _error(ConsoleError(500, f"the console failed on {request.path} ({type(error).__name__})",
                                   "see the console's terminal, and report it with the steps that led to it"))

    return app


def own_hosts(port: str) -> frozenset[str]:
    """What a request to the console's own address says in its `Host`: the loopback address or `localhost`, and the port."""
    return frozenset(f"{host}:{port}" for host in ("127.0.0.1", "localhost"))


def _error(error: ConsoleError) -> Response:
    response = jsonify(error.document())
    response.status_code = error.status
    return response


def _innermost(error: Exception) -> str:
    """`file:line` where the error was raised: enough to find it, without the values its message may hold."""
    trace: Any = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    return f"{Path(trace.tb_frame.f_code.co_filename).name}:{trace.tb_lineno}" if trace is not None else "?"
