"""Test doubles for SES, where moto cannot stand in (moto 5.2 has no SES v2 templated sends).

Two, for two depths: `FakeSes` is a client-shaped object whose send outcomes are scripted (fast,
for the lane's own logic); `ScriptedSes` answers a real botocore SES v2 client below it, through
its `before-send` event (`scripted_client`), so botocore's request building, signing, error
parsing and the send module's retry run as against AWS. The exact request shapes are pinned with
botocore's `Stubber`, which checks them against the service model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from botocore.exceptions import ClientError

from ses_email_pipeline.handlers import aws


def client_error(code: str, status: int = 400, operation: str = "SendEmail") -> ClientError:
    """A ClientError shaped as botocore raises it for an SES error response."""
    return ClientError(
        {"Error": {"Code": code, "Message": f"{code} for victim@example.com"},
         "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


class FakeSes:
    """An SES v2 client whose send outcomes are scripted: None sends, a ClientError raises."""

    def __init__(self, outcomes: Iterable[ClientError | None] = (), max_send_rate: float = 1000.0) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[dict[str, Any]] = []
        self.attempts = 0
        self.max_send_rate = max_send_rate

    def get_account(self) -> dict[str, Any]:
        return {
            "SendQuota": {"Max24HourSend": 50_000.0, "MaxSendRate": self.max_send_rate, "SentLast24Hours": 1234.0},
            "SendingEnabled": True,
        }

    def send_email(self, **request: Any) -> dict[str, str]:
        self.attempts += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(request)
        return {"MessageId": f"ses-{len(self.sent):04d}"}


class Recording:
    """Wraps a client and records each method call's name and keyword arguments."""

    def __init__(self, client: Any, fail: set[str] | None = None) -> None:
        self._client = client
        self._fail = fail or set()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            if name in self._fail:
                raise client_error("ServiceUnavailable", 503, name)
            return method(**kwargs)

        return call

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for called, kwargs in self.calls if called == name]


class LambdaKilled(BaseException):
    """What Lambda does at a timeout or crash: the invocation stops, no handler code runs after it."""


@dataclass
class ScriptedSes:
    """SES behind a real botocore client: each SendEmail takes the next outcome of `script`.

    Outcomes: "accept" (SES sends and answers), "accept-no-answer" (SES sends; the answer never
    arrives: a read timeout), "accept-then-die" (SES sends; then the function is killed),
    "accept-no-id" (SES sends and answers 200 without a message id), "unavailable" (503).
    """

    script: list[str] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0

    def respond(self, request: Any, **_: Any) -> AWSResponse:
        if request.url.endswith("/v2/email/account"):
            return json_response(request, 200, {"SendQuota": {"MaxSendRate": 1000.0, "Max24HourSend": 50_000.0,
                                                               "SentLast24Hours": 0.0}, "SendingEnabled": True})
        self.attempts += 1
        outcome = self.script.pop(0) if self.script else "accept"
        if outcome == "unavailable":
            return json_response(request, 503, {"message": "Service Unavailable"}, "ServiceUnavailable")
        if outcome == "paused":
            return json_response(request, 400, {"message": "Sending is paused for this account"},
                                  "SendingPausedException")
        if outcome == "denied":
            # What SES answers when IAM denies the send (e.g. a sandbox recipient's identity).
            return json_response(request, 403, {"message": "User is not authorized to perform ses:SendEmail"},
                                  "AccessDeniedException")
        self.delivered.append(json.loads(request.body))
        if outcome == "accept-no-answer":
            raise ReadTimeoutError(endpoint_url=request.url)
        if outcome == "accept-then-die":
            raise LambdaKilled()
        if outcome == "accept-no-id":
            return json_response(request, 200, {})
        return json_response(request, 200, {"MessageId": f"ses-{len(self.delivered):04d}"})


def json_response(request: Any, status: int, body: dict[str, Any], error: str | None = None) -> AWSResponse:
    """An AWS JSON-protocol answer to `request`, with `error` as its error type if given."""
    headers = {"Content-Type": "application/json"}
    if error:
        headers["x-amzn-ErrorType"] = error
    return AWSResponse(request.url, status, headers, RawBody(json.dumps(body).encode()))


class RawBody:
    """The raw HTTP body botocore reads a response from (`AWSResponse.raw`)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def scripted_client(scripted: ScriptedSes, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The handlers' real SES v2 client, answered by `scripted` instead of the network.

    botocore calls every `before-send` handler and takes the first answer, and moto's stub answers
    (or fails) for SES's own host; an endpoint of its own keeps moto out of these requests.
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", "https://scripted-ses.test")
    client = aws.create_ses_client("eu-west-1")
    client.meta.events.register_first("before-send.sesv2", scripted.respond)
    return client
