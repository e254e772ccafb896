"""`python -m local serve` (`make serve`): the emulator kept up, the lanes drained, every outcome told.

It starts the stack on 127.0.0.1:`port`, writes the stack's outputs where the operator tool reads
them (`local.stack_outputs`, `email-pipeline --local`), prints how to put events on the bus and
how to point the tool at it, then every second drains the lanes and prints what happened since,
one line each: an email sent, a duplicate skipped, a dead letter with its code, a dead letter
redriven onto its lane (`email-pipeline --local dlq redrive`), an event no route took, and each
delivery status SES's simulator produced.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ses_email_pipeline.handlers.shared import log_events
from ses_email_pipeline.handlers.shared.hashing import recipient_hash

from local import stack_outputs
from local.event_files import load_entries
from local.program import stack_file
from local.sqs_events import string_attributes
from local.system import REGION, LocalSystem

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "events.json"
DEFAULT_PORT = 4566
HOST = "127.0.0.1"

Handler = Callable[[Mapping[str, Any], Any], Any]


class PortTaken(Exception):
    """Another process listens on the port: moto's server could not bind it (and would wait for ever)."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on {HOST} is taken (another `make serve`?); stop that process, or pick another "
                         f"port: make serve PORT={port + 1}, or python -m local serve --port {port + 1}")


def check_port(port: int) -> None:
    """Refuse a port another process holds, before moto's server tries it.

    `ThreadedMotoServer.start` binds in a thread and waits for it without a timeout: a bind that
    fails there leaves the caller waiting for ever. Binding here first turns that into an error.

    Raises:
        PortTaken: the port is in use.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortTaken(port) from None
            raise


def serve_forever(stack: str, port: int = DEFAULT_PORT, *, polls: int | None = None,
                  sleep: Callable[[float], None] = time.sleep, outputs: Path = stack_outputs.OUTPUTS_FILE) -> int:
    """Keep the emulator up on 127.0.0.1:`port` and drain the lanes every second, telling each outcome.

    Args:
        stack: the stack whose config the program reads.
        port: the emulator's port (0: any free one).
        polls: stop after this many polls (None: until Ctrl-C).
        sleep: waits between polls.
        outputs: where to write the stack's outputs (`email-pipeline --local` reads build/local-stack.json).

    Raises:
        UnknownStack: the stack has no file.
        PortTaken: the port is in use.
    """
    stack_file(stack)  # a misspelt --stack is told as such, whatever holds the port
    check_port(port)
    with LocalSystem.start(stack, port=port) as system:
        outputs = stack_outputs.write(system, outputs)
        print("\n".join(serve_banner(system, outputs=outputs)), flush=True)
        watch = ServeWatch(system)
        try:
            for _ in _polls(polls):
                for line in watch.new_lines():
                    print(line, flush=True)
                sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


def _polls(limit: int | None) -> Iterator[int]:
    count = 0
    while limit is None or count < limit:
        yield count
        count += 1


def serve_banner(system: LocalSystem, cwd: Path | None = None, outputs: Path | None = None) -> list[str]:
    """Where the emulator is, a command that puts the samples on the stack's bus, and the operator tool's.

    The commands carry their region and placeholder credentials, so they run with no AWS profile;
    paths are as seen from `cwd` (default: the current directory).
    """
    here = cwd or Path.cwd()
    bus = system.blueprint.buses[0]
    lines = [f"emulated AWS on {system.endpoint} (region {REGION}, any credentials); bus {bus}"]
    sample_buses = sorted({str(entry.get("EventBusName")) for entry in load_entries(SAMPLES)})
    samples = _shown_path(SAMPLES, here)
    if sample_buses == [bus]:
        lines.append(f"  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws --endpoint-url {system.endpoint} "
                     f"--region {REGION} events put-events --entries file://{samples}")
    else:
        lines.append(f"  {samples} is written for bus {', '.join(sample_buses)}, not this stack's: "
                     f"copy it with \"EventBusName\": \"{bus}\" in each entry to send it here")
    lines.append(f"  (your entries need \"EventBusName\": \"{bus}\": without it they go to the default bus, "
                 "which accepts them and routes them nowhere)")
    if outputs is not None:
        shown = _shown_path(outputs, here)
        lines += [f"stack outputs in {shown} (as `pulumi stack output --json --show-secrets` prints them, "
                  "the local hash key included); the operator tool on this stack:",
                  "  email-pipeline --local status",
                  f"  email-pipeline --stack-outputs {shown} --endpoint-url {system.endpoint} status"]
    lines.append("every outcome is printed below as it happens; Ctrl-C to stop")
    return lines


def _shown_path(path: Path, cwd: Path) -> str:
    """`path` relative to `cwd` when it is below it (as `make serve` runs), else absolute."""
    return os.path.relpath(path, cwd) if path.is_relative_to(cwd) else str(path)


class ServeWatch:
    """What `serve` prints as the lanes drain: each outcome once, in the order it was seen."""

    def __init__(self, system: LocalSystem) -> None:
        self._system = system
        self._shown = 0  # emails in the outbox already told
        self._logged = 0  # log records already read
        self._letters: set[str] = set()  # DLQ message ids told
        self._unrouted: set[str] = set()
        self._statuses: set[str] = set()  # statusIds told
        self._redriven: list[str] = []
        for queue, function, _batch in system.blueprint.lane_mappings():
            system.lambda_service.wrap(function, self._watching(function.environment.get("EMAIL_LANE", queue.name)))

    def new_lines(self) -> list[str]:
        """Drain every lane (the handlers' logs kept quiet) and describe what is new since the last call."""
        system = self._system
        with contextlib.redirect_stdout(io.StringIO()):
            system.drain()
        lines, self._redriven = self._redriven, []
        lines += self._sent() + self._skipped() + self._dead_letters() + self._unrouted_events() + self._delivery()
        return lines

    def _watching(self, lane: str) -> Callable[[Handler], Handler]:
        """Wrap a lane's handler to tell the records that come back from its DLQ (they carry a FailureCode)."""
        def wrap(handler: Handler) -> Handler:
            def handle(event: Mapping[str, Any], context: Any) -> Any:
                for record in event.get("Records", []):
                    code = (record.get("messageAttributes") or {}).get("FailureCode", {}).get("stringValue")
                    if code:
                        event_id = _event_id(record.get("body", ""))
                        self._redriven.append(f"REDRIVEN [{lane}] {code}: back on its lane (event {event_id})")
                return handler(event, context)
            return handle
        return wrap

    def _sent(self) -> list[str]:
        outbox = self._system.ses.outbox
        lines = [f"SENT [{email.lane}] to {', '.join(email.to)}: {email.subject} (SES message id {email.message_id})"
                 for email in outbox[self._shown:]]
        self._shown = len(outbox)
        return lines

    def _skipped(self) -> list[str]:
        records = self._system.log_records
        new, self._logged = records[self._logged:], len(records)
        return [f"DUPLICATE SKIPPED [{lane}] event {record.get('event_id', '?')}: sent before "
                f"(SES message id {record.get('ses_message_id', '?')})"
                for lane, record in new if record.get("event") == log_events.EMAIL_DUPLICATE_SKIPPED]

    def _dead_letters(self) -> list[str]:
        lines = []
        for lane, queue in self._system.blueprint.dead_letter_queues().items():
            for message in self._system.read_messages(queue):
                if message["MessageId"] in self._letters:
                    continue
                self._letters.add(message["MessageId"])
                attributes = string_attributes(message)
                code = attributes.get("FailureCode", "MaxReceiveCountExceeded")
                field = f" {attributes['FailureField']}" if attributes.get("FailureField", "-") != "-" else ""
                reason = attributes.get("FailureReason", "max receive count exceeded (queue redrive)")
                lines.append(f"DEAD LETTER [{lane}] {code}{field}: {reason} (event {_event_id(message['Body'])})")
        return lines

    def _unrouted_events(self) -> list[str]:
        lines = []
        for queue in self._system.blueprint.undrained_queues():
            for message in self._system.read_messages(queue):
                if message["MessageId"] not in self._unrouted:
                    self._unrouted.add(message["MessageId"])
                    event = _json(message["Body"])
                    lines.append(f"UNROUTED {event.get('source')} / {event.get('detail-type')}: no route takes it; "
                                 "it waits in the unrouted queue")
        return lines

    def _delivery(self) -> list[str]:
        addresses = self._addresses()
        lines = []
        for detail in self._system.status_events():
            if detail.get("statusId") in self._statuses:
                continue
            self._statuses.add(detail.get("statusId"))
            recipient = detail.get("recipient", {})
            who = addresses.get(recipient.get("hash"), f"a recipient at {recipient.get('domain', '?')}")
            lines.append(f"STATUS {detail.get('status')} {who} (SES message id {detail.get('sesMessageId')})")
        return lines

    def _addresses(self) -> dict[str, str]:
        """Recipient hash -> address, for the emails sent here (the local output may show addresses: yours)."""
        function = self._system.status_function()
        if function is None:
            return {}
        key = function.environment["EMAIL_RECIPIENT_HASH_KEY"].encode()
        return {recipient_hash(address, key): address for email in self._system.ses.outbox
                for address in (*email.to, *email.cc, *email.bcc)}


def _json(body: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _event_id(body: str) -> str:
    return str(_json(body).get("id", "?"))
