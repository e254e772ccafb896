"""AWS clients for the operator tool: one session, the stack's region, an optional endpoint.

boto3 is fine here (an operator's process, not a Lambda cold start). Calls fail fast (short
timeouts, botocore's standard retries) so a wrong endpoint is reported in seconds.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard", "total_max_attempts": 3})


class Aws:
    """Clients made on first use, so commands that call nothing (`hash`) need no credentials.

    Args:
        region: the region to call (None: the environment's default).
        endpoint_url: an emulator's address (moto, LocalStack), or None for AWS itself.
        emulator_credentials: sign with placeholder keys (an emulator takes any), not the profile's.
    """

    def __init__(self, region: str | None, endpoint_url: str | None, *, emulator_credentials: bool = False) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._keys = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if emulator_credentials else {}
        self._session: Any = None
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """The client for `service` (`sqs`, `dynamodb`, `events`, `sesv2`, `cloudwatch`, `logs`)."""
        if service not in self._clients:
            if self._session is None:
                self._session = boto3.session.Session(region_name=self.region, **self._keys)
            self._clients[service] = self._session.client(service, endpoint_url=self.endpoint_url, config=_CONFIG)
        return self._clients[service]
