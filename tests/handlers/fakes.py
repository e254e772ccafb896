"""Test doubles for AWS clients where moto cannot stand in.

moto 5.2 has no SES v2 templated sends, so lane tests script SES with `FakeSes`; the exact request
shapes are pinned separately with botocore's `Stubber`, which checks them against the service model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from botocore.exceptions import ClientError


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
