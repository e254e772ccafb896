"""The console's HTTP API under `/api/`: what the page itself calls, and what tests assert against.

| method and path | answer |
|---|---|
| `GET /api/stack` | the stack: mode (local or deployed), name, bus, lanes, who renders |
| `GET /api/templates` | every template and version, with its samples and the check's problems |
| `GET /api/templates/<name>/<version>` | one version: its parts' sources, samples and problems |
| `GET /api/templates/<name>/<version>/preview?sample=S[&lane=L&recipient=R]` | the sample rendered, the lane's check, the SES request |
| `POST /api/send-test` | `{template, version, sample, recipient[, confirm, source, detail_type]}`: an event on the bus |
| `GET /api/messages[?q=&recipient=&subject=&template=&source=&key=]` | the outbox (local) or what a search finds (deployed) |
| `GET /api/messages/<SES message id>` | one message, with its delivery timeline |
| `GET /api/dead-letters` | per lane: depth, counts by FailureCode, each message's summary; the unrouted queue |
| `GET /api/dead-letters/<lane>/<id>[?values=true]` | one dead letter; its event only with `values=true` |
| `POST /api/dead-letters/<lane>/redrive` | `{code, confirm}`: move them back to the lane |
| `GET /api/suppressions[?reason=&since=&until=&limit=&addresses=true]` | SES's account suppression list, by hash and domain |
| `GET /api/suppressions/<address>[?addresses=true]` | why one address is suppressed |
| `POST /api/suppressions/lift` | `{address, confirm}`: SES sends to it again (an audit line, without the address) |

Errors are JSON, `{"status": 404, "error": "<what is wrong>; <what to do>"}` (`console.http_errors`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from . import messages, operations, suppressions, template_library
from .http_errors import ConsoleError, bad_request
from .preview import DEFAULT_LANE, DEFAULT_RECIPIENT, preview
from .source import ConsoleSource, Mode

api = Blueprint("api", __name__)


def source() -> ConsoleSource:
    """The stack this console shows (`app.create_app` puts it in the app's extensions)."""
    found: ConsoleSource = current_app.extensions["console_source"]
    return found


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("the request body is not a JSON object", "send Content-Type: application/json and an object")
    return body


@api.get("/stack")
def stack() -> ResponseReturnValue:
    try:
        allowlist: list[str] | None = list(operations.recipient_allowlist(source()))
    except ConsoleError:
        allowlist = None  # the lanes' settings are out of reach: the page says so where it needs them
    return jsonify({**source().describe(), "simulator_addresses": list(operations.SIMULATOR_ADDRESSES),
                    "recipient_allowlist": allowlist, "default_recipient": DEFAULT_RECIPIENT,
                    "default_lane": DEFAULT_LANE})


@api.get("/templates")
def templates() -> ResponseReturnValue:
    return jsonify(template_library.listing(source().templates_dir))


@api.get("/templates/<name>/<version>")
def template_version(name: str, version: str) -> ResponseReturnValue:
    found = template_library.find(source().templates_dir, name, version)
    return jsonify({"name": found.name, **found.summary(), "files": found.files(),
                    "where": {part: found.where(part) for part in template_library.PARTS}})


@api.get("/templates/<name>/<version>/preview")
def template_preview(name: str, version: str) -> ResponseReturnValue:
    found = template_library.find(source().templates_dir, name, version)
    sample = request.args.get("sample") or next(iter(found.sample_names()), "")
    if not sample:
        raise bad_request(f"template {name} {version} has no samples to preview",
                          "add samples/<name>.json beside its parts: the templateData an event sends")
    return jsonify(preview(source(), found, sample, lane=request.args.get("lane") or DEFAULT_LANE,
                           recipient=request.args.get("recipient") or DEFAULT_RECIPIENT))


@api.post("/send-test")
def send_test() -> ResponseReturnValue:
    body = _body()
    found = template_library.find(source().templates_dir, str(body.get("template", "")), str(body.get("version", "")))
    return jsonify(operations.send_test(source(), found, body)), 202


@api.get("/messages")
def message_log() -> ResponseReturnValue:
    query = {field: request.args.get(field, "") for field in ("q", *messages.FIELDS)}
    if source().mode is Mode.LOCAL:
        return jsonify(messages.local_messages(source(), query))
    return jsonify(messages.deployed_messages(source(), query))


@api.get("/messages/<ses_message_id>")
def message(ses_message_id: str) -> ResponseReturnValue:
    if source().mode is Mode.LOCAL:
        return jsonify(messages.local_message(source(), ses_message_id))
    return jsonify(messages.deployed_message(source(), ses_message_id))


@api.get("/dead-letters")
def dead_letters() -> ResponseReturnValue:
    return jsonify(operations.dead_letters(source()))


@api.get("/dead-letters/<lane>/<message_id>")
def dead_letter(lane: str, message_id: str) -> ResponseReturnValue:
    values = request.args.get("values", "").lower() in ("1", "true", "yes")
    return jsonify(operations.dead_letter(source(), lane, message_id, values=values))


@api.post("/dead-letters/<lane>/redrive")
def redrive(lane: str) -> ResponseReturnValue:
    body = _body()
    code = body.get("code")
    return jsonify(operations.redrive(source(), lane, None if code in (None, "") else str(code),
                                      str(body.get("confirm", ""))))


@api.get("/suppressions")
def suppression_list() -> ResponseReturnValue:
    query = {field: request.args.get(field, "") for field in ("since", "until", "limit", "addresses")}
    return jsonify(suppressions.listing(source(), {**query, "reasons": request.args.getlist("reason")}))


@api.get("/suppressions/<address>")
def suppression(address: str) -> ResponseReturnValue:
    show = request.args.get("addresses", "").lower() in ("1", "true", "yes")
    return jsonify(suppressions.lookup(source(), address, show_address=show))


@api.post("/suppressions/lift")
def lift_suppression() -> ResponseReturnValue:
    return jsonify(suppressions.lift(source(), _body()))
