"""Send each event once, however often SQS, EventBridge or an archive replay delivers it.

Powertools for AWS Lambda's idempotency utility keeps one DynamoDB item per key: it writes the
item as IN_PROGRESS, runs the send, then marks it COMPLETED with the SES message id. The SES call
is therefore the last step before the record is marked done; if the send raises, the item is
deleted so that redelivery can try again. A second delivery of a completed key returns the stored
message id without calling SES and is logged as `email_duplicate_skipped`.

The key is the event's `idempotencyKey` when it has one, otherwise the EventBridge event id, and
is prefixed with the stack and lane (not the function name, as Powertools does by default) so that
renaming a function does not forget what was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from botocore.config import Config

from handlers import log
from handlers.errors import RetryableSendError

CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 3})

Result = TypeVar("Result")


def create_dynamodb_client(region_name: str | None = None) -> Any:
    """A DynamoDB client for the idempotency table, with timeouts as tight as the SES client's."""
    return boto3.client("dynamodb", region_name=region_name, config=CLIENT_CONFIG)


class OnceOnly:
    """Runs an action at most once per key within the TTL.

    Args:
        table_name: the idempotency table (partition key `id`, TTL attribute `expiration`).
        ttl_seconds: how long a key is remembered; longer than a message can keep coming back.
        key_prefix: namespace for keys, e.g. `<stack>.<lane>`.
        dynamodb_client: injectable for tests.
    """

    def __init__(self, table_name: str, ttl_seconds: int, key_prefix: str, dynamodb_client: Any) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ttl_seconds,
            response_hook=self._on_duplicate,
        )
        store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
        self._run = idempotent_function(
            data_keyword_argument="claim",
            persistence_store=store,
            config=self._config,
            key_prefix=key_prefix,
        )(_run_action)
        self._log = log.get_logger()

    def register_lambda_context(self, context: Any) -> None:
        """Bound IN_PROGRESS items by the invocation's remaining time, so a crash frees the key."""
        self._config.register_lambda_context(context)

    def run(self, key: str, action: Callable[[], Result]) -> Result:
        """Run `action` unless `key` already completed; return its (possibly stored) result.

        Raises:
            RetryableSendError: another delivery holds the key right now, or the store failed
                before the action ran. The message goes back on the queue and tries again.
            Whatever `action` raises.
        """
        completed: list[Result] = []

        def tracked() -> Result:
            completed.append(action())
            return completed[0]

        try:
            return self._run(claim={"key": key}, action=tracked)
        except IdempotencyAlreadyInProgressError as exc:
            raise RetryableSendError(
                "another delivery of this event is in progress", code="IdempotencyInProgress"
            ) from exc
        except IdempotencyPersistenceLayerError as exc:
            if completed:
                # The email went out; only recording it failed. Reporting a failure now would
                # make SQS redeliver and send it twice, which is worse than a missing record.
                self._log.warning("idempotency_record_not_saved", error_code=type(exc).__name__)
                return completed[0]
            raise RetryableSendError(
                "idempotency store unavailable", code="IdempotencyStoreError"
            ) from exc

    def _on_duplicate(self, response: Any, record: DataRecord) -> Any:
        self._log.info(log.EMAIL_DUPLICATE_SKIPPED, ses_message_id=response)
        return response


def _run_action(claim: dict[str, str], action: Callable[[], Result]) -> Result:
    return action()
