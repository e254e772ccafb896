"""The AWS clients a handler uses, made once per container and handed to its `build` function.

Every handler module wires itself the same way: `handler = build(Clients.create())` at import,
with the function's own region (Lambda sets AWS_REGION); tests and the local emulator call
`build` with clients of their own. Clients only the failure path or one handler needs are made
on first use, so they cost nothing on a cold start that does not use them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import aws
from .idempotency.once_only import create_dynamodb_client
from .sending.ses import create_client as create_ses_client

#: What Lambda calls: (event, context) -> response.
Handler = Callable[[dict[str, Any], Any], Any]


class LazyClient:
    """A client created on first use, for calls only some invocations make.

    A lane's SQS client only dead-letters and delays retries; creating it at import would add its
    cost to every cold start, including all those that only send.
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._factory()
        return getattr(self._client, name)


@dataclass(frozen=True)
class Clients:
    """SES (sends), DynamoDB (idempotency), SQS (dead letters, retry delays), CloudWatch (the report),
    EventBridge (the status handler's status events)."""

    ses: Any
    dynamodb: Any
    sqs: Any = None
    cloudwatch: Any = None
    events: Any = None

    @classmethod
    def create(cls, region_name: str | None = None) -> Clients:
        """Clients for the function's own region; SQS and CloudWatch are made on first use."""
        return cls(
            ses=create_ses_client(region_name),
            dynamodb=create_dynamodb_client(region_name),
            sqs=LazyClient(functools.partial(aws.create_client, "sqs", aws.STANDARD_CONFIG, region_name)),
            cloudwatch=LazyClient(functools.partial(aws.create_client, "cloudwatch", aws.STANDARD_CONFIG,
                                                    region_name)),
        )
