"""The burst benchmark's AWS endpoint: the instances' requests, answered by the emulated services in this process.

Each instance process (bench/burst_instance.py) sends every request its botocore clients make over
a connection of the calling thread's own: the service, the operation and the body botocore
serialized. Here the body is read back into the API's parameters (the JSON protocols' bodies are
the parameters: DynamoDB's and SQS's `x-amz-json-1.0`, SES v2's REST-JSON for the two operations
the lanes call), handed to the emulated service's method of the same name (bench/burst_ses.py,
bench/burst_dynamodb.py, bench/burst_sqs.py), which sleeps its latency, and the result goes back as
an HTTP status and body, errors in the shape AWS answers them (`__type`, `message`, the modelled
fields such as DynamoDB's `Item`). A request no emulator offers, or one it cannot evaluate, comes
back as a gap, which the instance raises: the record fails visibly (`record_failed`).

An instance's control connection (invocations, statistics) is kept for bench/burst_lambda.py.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection, Listener
from typing import Any

from botocore.exceptions import ClientError

from bench import burst_calls
from bench.burst_calls import EmulatorGap

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def method_name(operation: str) -> str:
    """The emulator method for an API operation: `UpdateItem` -> `update_item`."""
    return _CAMEL.sub("_", operation).lower()


def answer(services: Mapping[str, Any], service: str, operation: str, body: bytes | str) -> tuple[str, int, str, str]:
    """One request's answer: (kind, HTTP status, body, error code) with kind `ok` or `gap`."""
    emulator = services.get(service)
    method = getattr(emulator, method_name(operation), None) if emulator is not None else None
    if method is None:
        return "gap", 0, f"no emulated {service} {operation}", ""
    try:
        params = json.loads(body) if body else {}
        result = method(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
        modelled = {key: value for key, value in exc.response.items() if key not in ("Error", "ResponseMetadata")}
        return "ok", status, json.dumps({"__type": code, "message": error.get("Message", code), **modelled}), code
    except (EmulatorGap, TypeError) as exc:
        return "gap", 0, f"{type(exc).__name__}: {exc}", ""
    result = {key: value for key, value in dict(result).items() if key != "ResponseMetadata"}
    return "ok", 200, json.dumps(result, default=str), ""


class Endpoint:
    """A Unix socket the instances connect to: AWS calls answered, control connections kept by instance name.

    Args:
        services: the emulated services by botocore's service name (`sesv2`, `dynamodb`, `sqs`).
    """

    def __init__(self, services: Mapping[str, Any]) -> None:
        self.services = dict(services)
        self.authkey = os.urandom(16)
        self._directory = tempfile.TemporaryDirectory(prefix="email-bench-")
        self.address = os.path.join(self._directory.name, "aws.sock")
        self._listener = Listener(self.address, family="AF_UNIX", authkey=self.authkey)
        self._controls: dict[str, Connection] = {}
        self._arrived = threading.Condition()
        self._closed = False
        threading.Thread(target=self._accept, name="bench-endpoint", daemon=True).start()

    def control(self, instance: str, timeout: float = 120.0) -> Connection:
        """The control connection of `instance`, once its process has imported its function and connected."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: instance in self._controls, timeout):
                raise TimeoutError(f"instance {instance} never connected (see its output above)")
            return self._controls[instance]

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self._directory.cleanup()

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection = self._listener.accept()
            except OSError:
                return  # closed
            kind, instance = connection.recv()
            if kind == "control":
                with self._arrived:
                    self._controls[instance] = connection
                    self._arrived.notify_all()
            else:
                threading.Thread(target=self._serve, args=(connection,), name=f"aws:{instance}", daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        """Answer one instance thread's requests, one at a time, until its process ends."""
        while True:
            try:
                service, operation, body, left = connection.recv()
            except (EOFError, OSError):
                return
            burst_calls.received(left)  # when it left its instance: the socket's delay here is not the network's
            connection.send(answer(self.services, service, operation, body))
