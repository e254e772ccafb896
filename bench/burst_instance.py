"""One lane instance of the burst benchmark: a process running a function's archive, as a Lambda container does.

Run by bench/burst_lambda.py as `python bench/burst_instance.py ADDRESS AUTHKEY MODULE`, with the
function's environment and, on `PYTHONPATH`, only the unpacked code archive (and layer, if any; boto3 and
botocore from the interpreter, as the Lambda runtime provides them). It imports the entry module
(`handlers.templated`, say) exactly as Lambda does, so the handler makes its real botocore clients
at import; only their HTTP layer is replaced: every request, built, validated and signed by
botocore, is handed over a connection to the bench's emulated AWS (bench/burst_rpc.py), and the
answer comes back as an HTTP response that botocore parses. Request building, signing, parsing,
composing, logging and the handler's threads therefore spend this process's CPU, which the bench
confines to the function's share (bench/cpu_share.py) once the import is done (Lambda's init phase
is not what is measured).

The control connection carries invocations (`("invoke", event, deadline)` -> the handler's answer)
and, at the end, `("stats",)` -> what the process logged (bench/burst_logs.py) and its CPU time.
This module imports only the standard library, botocore and the function's own code: anything else
would be in the process and not in the function.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from multiprocessing.connection import Client, Connection
from typing import Any

#: The repository, for bench.burst_logs and local.lambda_context (appended: the archive comes first).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_JSON_TYPES = {"sesv2": "application/json"}


class EmulatorGap(Exception):
    """The emulated AWS cannot answer this request (see bench/burst_calls.py): the record fails visibly."""


class Emulated:
    """botocore's HTTP layer for this process: a pool of connections, one per request in flight.

    As urllib3's pool keeps its connections for the next request whatever thread makes it, a
    connection goes back to the pool after each answer; a new one is opened only when every
    pooled one is busy.
    """

    def __init__(self, address: str, authkey: bytes, name: str) -> None:
        self._address, self._authkey, self._name = address, authkey, name
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    def _take(self) -> Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        connection = Client(self._address, family="AF_UNIX", authkey=self._authkey)
        connection.send(("aws", self._name))
        return connection

    def _give_back(self, connection: Connection) -> None:
        with self._lock:
            self._idle.append(connection)

    def answer(self, request: Any, event_name: str, **_: Any) -> Any:
        """botocore's `before-send`: the signed request goes to the emulator; its answer comes back as HTTP."""
        from botocore.awsrequest import AWSResponse

        _, service, operation = event_name.split(".")
        body = request.body if isinstance(request.body, (bytes, str)) else b""
        connection = self._take()
        connection.send((service, operation, body, time.monotonic()))  # when it left: the network's start
        kind, status, payload, code = connection.recv()
        self._give_back(connection)
        if kind == "gap":
            raise EmulatorGap(payload)
        headers = {"Content-Type": _JSON_TYPES.get(service, "application/x-amz-json-1.0")}
        if code:
            headers["x-amzn-ErrorType"] = code
        return AWSResponse(request.url, status, headers, ResponseBody(payload.encode()))


class ResponseBody:
    """The raw body botocore reads a response from (bench/lane_cpu.py answers with it too)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def main(address: str, authkey_hex: str, module_name: str, name: str) -> int:
    """Import the function, then answer the control connection's messages until told to stop."""
    authkey = bytes.fromhex(authkey_hex)
    sys.path.append(_ROOT)
    from bench.burst_logs import LogMeter
    from local.lambda_context import LambdaContext

    emulated = Emulated(address, authkey, name)
    aws = importlib.import_module("handlers.aws")
    aws._SESSION.register("before-send", emulated.answer)  # every client the function makes inherits it
    meter = LogMeter()
    entry = importlib.import_module(module_name)  # the clients are made here, as at a cold start
    meter.configure(importlib.import_module("handlers.log"))
    control = Client(address, family="AF_UNIX", authkey=authkey)
    control.send(("control", name))
    function = os.environ.get("BENCH_FUNCTION_NAME", name)
    started_cpu = time.process_time()
    while True:
        message = control.recv()
        if message[0] == "invoke":
            _, event, deadline, request_id = message
            context = LambdaContext(function, aws_request_id=request_id, deadline=deadline,
                                    memory_limit_in_mb=int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]))
            try:
                control.send(("ok", entry.handler(event, context)))
            except Exception as exc:  # noqa: BLE001 - Lambda's view of a failed invocation
                control.send(("raised", type(exc).__name__))
        elif message[0] == "start":  # warmed up and confined: count from here
            meter.reset()
            started_cpu = time.process_time()
            control.send(("started",))
        elif message[0] == "stats":
            control.send(("stats", {**meter.snapshot(), "cpu_seconds": time.process_time() - started_cpu}))
        else:
            control.close()
            return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:5]))
