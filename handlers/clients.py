"""The AWS clients a handler uses, made once per container and handed to its `build` function.

Every entry module wires itself the same way: `handler = build(Clients.for_...())` at import,
with the function's own region (Lambda sets AWS_DEFAULT_REGION); tests and the local emulator
call `build` with clients of their own. Clients only the failure path needs (SQS: dead letters
and retry delays) are made on first use, so they cost nothing on a cold start that does not use them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from . import aws


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


class Clients(NamedTuple):
    """SES (sends), DynamoDB (idempotency), SQS (dead letters, retry delays), CloudWatch (the report),
    EventBridge (the status handler's status events)."""

    ses: Any
    dynamodb: Any
    sqs: Any = None
    cloudwatch: Any = None
    events: Any = None

    @classmethod
    def create(cls, region_name: str | None = None) -> Clients:
        """A lane's or the report's clients: SES and DynamoDB now; SQS and CloudWatch on first use."""
        return cls(
            ses=aws.create_ses_client(region_name),
            dynamodb=aws.create_dynamodb_client(region_name),
            sqs=_lazy("sqs", region_name),
            cloudwatch=_lazy("cloudwatch", region_name),
        )

    @classmethod
    def for_status(cls, region_name: str | None = None) -> Clients:
        """The status handler's: DynamoDB and EventBridge on every invocation, SQS to dead-letter; no SES."""
        return cls(ses=None, dynamodb=aws.create_dynamodb_client(region_name), sqs=_lazy("sqs", region_name),
                   events=aws.create_client("events", aws.STANDARD_CONFIG, region_name))


def _lazy(service: str, region_name: str | None) -> LazyClient:
    return LazyClient(functools.partial(aws.create_client, service, aws.STANDARD_CONFIG, region_name))
