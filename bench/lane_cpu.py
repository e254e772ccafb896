"""A lane's own CPU per email, with the real botocore clients whose HTTP layer is stubbed, beside botocore's floor.

    .venv/bin/python bench/lane_cpu.py [--rounds N] [--code HANDLERS_DIR] [--against OTHER_HANDLERS_DIR]

The lane is `handlers.templated`'s, imported as Lambda imports it (`handlers.*`, from the
function's own code archive), built as its entry module builds it (`LaneHandler.build` with
`templated.compose`) on the clients `handlers.aws` makes (the production configs), whose requests
are answered at botocore's `before-send` with canned responses: everything the function does per
email runs (parse, compose, hash the recipients, claim the key, book the slots, build, validate,
serialize and sign each request, parse each answer, log, record the batch) and nothing else. The
floor beside it is what no lane can avoid: one bare SendEmail of the same request through the same
client. Rounds alternate the two, so the machine's noise hits both alike; the ratio of minimums is
the figure (noise only adds CPU), held to `BUDGET_RATIO`, with the milliseconds on this machine
beside it. `--against` measures another checkout's handlers the same way, in a process of its own,
rounds interleaved with this one's, and prints the two side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: A lane's CPU per email, at most this many times one bare SendEmail through the same client. An
#: email needs at least two calls (its claim and its send), a tenth of a booking and of the batch's
#: record, its composing and its log line: about 2.4 sends' worth.
BUDGET_RATIO = 3.6
BATCH = 10
_ACCOUNT = json.dumps({"SendQuota": {"MaxSendRate": 10_000.0, "Max24HourSend": 1e9, "SentLast24Hours": 0.0},
                       "SendingEnabled": True}).encode()


def _stub(client: Any, answer: Callable[[Any], bytes]) -> Any:
    """The client, with its HTTP layer replaced by `answer` (botocore's `before-send`, taken last)."""
    from botocore.awsrequest import AWSResponse

    from bench.burst_instance import ResponseBody

    def respond(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, ResponseBody(answer(request)))

    client.meta.events.register_last(f"before-send.{client.meta.service_model.service_id.hyphenize()}", respond)
    return client


def _ses_answer(request: Any) -> bytes:
    return _ACCOUNT if request.url.endswith("/account") else b'{"MessageId":"bench-message"}'


class _Rendered(logging.Handler):
    """Renders each line as production does (the formatter `configure` sets), then drops it."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


@contextlib.contextmanager
def _quiet(log: Any) -> Iterator[None]:
    """Lines rendered and dropped: through a handler where the logger takes one, else to a buffer."""
    if "handler" in inspect.signature(log.configure).parameters:
        log.configure(handler=_Rendered())
        yield
    else:  # a version that prints (structlog): same rendering, into memory
        log.configure()
        with contextlib.redirect_stdout(io.StringIO()):
            yield


class Measured:
    """The lane and the floor from the `handlers` package on `sys.path`, built once; measured alternately."""

    def __init__(self, catalog_json: str) -> None:
        handlers = {name: importlib.import_module(f"handlers.{name}") for name in (
            "aws", "log", "templated", "clients", "sending.lane", "sending.contract", "shared.settings",
            "shared.catalog")}
        self._handlers = handlers
        self._ses = _stub(handlers["aws"].create_ses_client("eu-west-1"), _ses_answer)
        dynamodb = _stub(handlers["aws"].create_dynamodb_client("eu-west-1"), lambda _request: b"{}")
        settings = handlers["shared.settings"].Settings(
            stack="bench", lane="normal", sender="Notifications <no-reply@mail.example.com>",
            configuration_set="bench", recipient_hash_key=b"bench-key", queue_url="q", dead_letter_queue_url="d",
            state_table="t", account_send_rate=10_000.0, recipient_allowlist=("@example.com",),
            templates=handlers["shared.catalog"].from_json(catalog_json))
        clients = handlers["clients"].Clients(ses=self._ses, dynamodb=dynamodb)
        self._lane = handlers["sending.lane"].LaneHandler.build(settings, handlers["templated"].compose, clients)
        self._event = json.loads((ROOT / "tests" / "events" / "email_notification.json").read_text())
        email = handlers["templated"].compose(handlers["sending.contract"].parse_event(json.dumps(self._event)),
                                              settings)
        self._request = self._lane._sender.request_for(email)  # noqa: SLF001
        self._batches = 0

    def log(self) -> Any:
        return self._handlers["log"]

    def _batch(self) -> dict[str, Any]:
        from local.sqs_events import lambda_event, received_message

        self._batches += 1
        messages = [received_message(json.dumps({**self._event, "id": f"e-{self._batches}-{index}"}))
                    for index in range(BATCH)]
        return lambda_event(messages, "arn:aws:sqs:eu-west-1:123456789012:bench")

    def lane_ms(self, batches: int) -> float:
        """The lane's CPU per email over `batches` batches of 10, in milliseconds."""
        from local.lambda_context import LambdaContext

        events = [self._batch() for _ in range(batches)]
        started = time.process_time()
        for event in events:
            response = self._lane(event, LambdaContext("bench", remaining_ms=60_000))
            assert not response["batchItemFailures"], response
        return (time.process_time() - started) * 1000 / (batches * BATCH)

    def floor_ms(self, sends: int) -> float:
        """One bare SendEmail of the same request through the same client, in milliseconds."""
        started = time.process_time()
        for _ in range(sends):
            self._ses.send_email(**self._request)
        return (time.process_time() - started) * 1000 / sends


def unpacked(handlers_dir: Path, scratch: Path) -> Path:
    """`handlers.templated`'s code archive built from `handlers_dir`, unpacked (what Lambda's `/var/task` holds)."""
    from ses_email_pipeline.packaging import build_handler_zip

    zipfile.ZipFile(build_handler_zip(handlers_dir, scratch / "templated.zip", "handlers.templated")).extractall(
        scratch / "task")
    return scratch / "task"


def catalog_json() -> str:
    from ses_email_pipeline.handlers.shared import catalog
    from ses_email_pipeline.template_files import deployed_catalog, discover

    return catalog.to_json(deployed_catalog(discover(ROOT / "templates"), "email-bench"))


def _rounds(code: Path, rounds: int, batches: int) -> Iterator[tuple[float, float]]:
    """In this process: import the lane from `code`, warm it, then yield (lane, floor) ms per round."""
    sys.path.insert(0, str(code))
    measured = Measured(catalog_json())
    with _quiet(measured.log()):
        measured.lane_ms(2)  # warm: botocore's caches, the first booking
        measured.floor_ms(20)
        for _ in range(rounds):
            yield measured.lane_ms(batches), measured.floor_ms(batches * BATCH)


def measure(handlers_dir: Path = ROOT / "handlers", rounds: int = 7, batches: int = 10) -> tuple[float, float]:
    """(lane ms per email, floor ms per send): each the minimum over alternating rounds, in a process of its own."""
    output = subprocess.run([sys.executable, __file__, "--code", str(handlers_dir), "--rounds", str(rounds),
                             "--batches", str(batches), "--raw"], capture_output=True, text=True, check=True).stdout
    pairs = [tuple(map(float, line.split())) for line in output.splitlines() if line.strip()]
    return min(lane for lane, _ in pairs), min(floor for _, floor in pairs)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/lane_cpu.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--code", type=Path, default=ROOT / "handlers", help="the handler package to measure")
    parser.add_argument("--against", type=Path, help="another handler package, measured side by side")
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="eu-west-1")
    sys.path.insert(1, str(ROOT))
    if args.raw:
        out = sys.stdout  # the lane's own lines may be going to a buffer meanwhile (`_quiet`)
        with tempfile.TemporaryDirectory() as scratch:
            for lane, floor in _rounds(unpacked(args.code.resolve(), Path(scratch)), args.rounds, args.batches):
                print(lane, floor, file=out, flush=True)
        return 0
    results = {}
    for label, code in (("this", args.code), ("against", args.against)):
        if code is not None:
            results[label] = []
    for _ in range(args.rounds):  # one round each, alternately, so the noise hits both alike
        for label in results:
            results[label].append(measure((args.code if label == "this" else args.against).resolve(), 1,
                                          args.batches))
    lane, floor = min(r[0] for r in results["this"]), min(r[1] for r in results["this"])
    ratio = lane / floor
    print(f"lane CPU per email {lane:.2f} ms = {ratio:.2f}x one bare SendEmail ({floor:.2f} ms) "
          f"(budget {BUDGET_RATIO:.2f}x) {'ok' if ratio <= BUDGET_RATIO else 'OVER'}")
    if "against" in results:
        other, other_floor = min(r[0] for r in results["against"]), min(r[1] for r in results["against"])
        print(f"  against {args.against}: {other:.2f} ms = {other / other_floor:.2f}x its bare SendEmail; "
              f"this one spends {lane / other:.2f}x its CPU per email")
    return 0 if ratio <= BUDGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
