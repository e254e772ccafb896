"""Send each event once, however often SQS, EventBridge or an archive replay delivers it.

One DynamoDB item per key, moved through two states with conditional writes:

1. claim: `PutItem` as IN_PROGRESS, only if no live item exists (none, TTL-expired, or an
   IN_PROGRESS claim whose invocation has timed out);
2. run the action (the SES call: the last step before the record is marked done);
3. complete: `UpdateItem` to COMPLETED with the SES message id; or, if the action raised,
   `DeleteItem` so that redelivery can try again.

A delivery that finds a COMPLETED item returns the stored message id without calling SES and logs
`email_duplicate_skipped`; one that finds a live IN_PROGRESS claim (a concurrent delivery) is
retried later. The key is hashed, so an idempotency key that embeds an address never reaches the
table in clear.

This is the protocol of Powertools for AWS Lambda's idempotency utility, written out here because
`import aws_lambda_powertools` alone measured 56 ms of cold start (it loads Logger, Metrics and
Tracer), which broke the handlers' cold-start budget; see bench/README.md.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import aws, log
from .errors import RetryableSendError

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
#: Claim lifetime when no Lambda context tells the remaining time.
_DEFAULT_CLAIM_MS = 60_000


def create_dynamodb_client(region_name: str | None = None) -> Any:
    """A DynamoDB client for the idempotency table, with timeouts as tight as the SES client's."""
    return aws.create_client("dynamodb", aws.STANDARD_CONFIG, region_name)


class OnceOnly:
    """Runs an action at most once per key within the TTL.

    Args:
        table_name: the idempotency table (partition key `id`, TTL attribute `expiration`).
        ttl_seconds: how long a key is remembered; longer than a message can keep coming back.
        key_prefix: namespace for keys, e.g. `<stack>.<lane>`.
        dynamodb_client: injectable for tests.
        clock: seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        table_name: str,
        ttl_seconds: int,
        key_prefix: str,
        dynamodb_client: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table_name
        self._ttl = ttl_seconds
        self._prefix = key_prefix
        self._dynamodb = dynamodb_client
        self._clock = clock
        self._context: Any = None
        self._log = log.get_logger()

    def register_lambda_context(self, context: Any) -> None:
        """Bound claims by the invocation's remaining time, so a crash frees the key."""
        self._context = context

    def run(self, key: str, action: Callable[[], str]) -> str:
        """Run `action` unless `key` already completed; return its (possibly stored) result.

        Raises:
            RetryableSendError: another delivery holds the key right now, or the store failed
                before the action ran. The message goes back on the queue and tries again.
            Whatever `action` raises (after releasing the claim).
        """
        item_id = self._item_id(key)
        stored = self._claim(item_id)
        if stored is not None:
            self._log.info(log.EMAIL_DUPLICATE_SKIPPED, ses_message_id=stored)
            return stored
        try:
            result = action()
        except Exception:
            self._release(item_id)
            raise
        self._complete(item_id, result)
        return result

    def _item_id(self, key: str) -> str:
        return f"{self._prefix}#{hashlib.sha256(key.encode()).hexdigest()}"

    def _claim(self, item_id: str) -> str | None:
        """Write the IN_PROGRESS claim; return the stored result if the key already completed."""
        now = self._clock()
        claim_ms = self._context.get_remaining_time_in_millis() if self._context else _DEFAULT_CLAIM_MS
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": item_id},
                    "status": {"S": IN_PROGRESS},
                    "expiration": {"N": str(int(now + self._ttl))},
                    "in_progress_expiry": {"N": str(int(now * 1000 + claim_ms))},
                },
                ConditionExpression=(
                    "attribute_not_exists(id) OR expiration < :now "
                    "OR (#status = :in_progress AND in_progress_expiry < :now_ms)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":now": {"N": str(int(now))},
                    ":now_ms": {"N": str(int(now * 1000))},
                    ":in_progress": {"S": IN_PROGRESS},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise _store_error(exc) from exc
            existing = exc.response.get("Item") or self._get(item_id)
        except BotoCoreError as exc:
            raise _store_error(exc) from exc
        if existing.get("status", {}).get("S") == COMPLETED:
            return existing.get("result", {}).get("S", "")
        raise RetryableSendError("another delivery of this event is in progress", code="IdempotencyInProgress")

    def _get(self, item_id: str) -> dict[str, Any]:
        try:
            response = self._dynamodb.get_item(TableName=self._table, Key={"id": {"S": item_id}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise _store_error(exc) from exc
        return dict(response.get("Item", {}))

    def _complete(self, item_id: str, result: str) -> None:
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": item_id}},
                UpdateExpression="SET #status = :completed, #result = :result, expiration = :expiration",
                ExpressionAttributeNames={"#status": "status", "#result": "result"},
                ExpressionAttributeValues={
                    ":completed": {"S": COMPLETED},
                    ":result": {"S": result},
                    ":expiration": {"N": str(int(self._clock() + self._ttl))},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            # The email went out; only recording it failed. Reporting a failure now would make
            # SQS redeliver and send it twice, which is worse than a claim that expires unmarked.
            self._log.warning(log.IDEMPOTENCY_RECORD_NOT_SAVED, error_code=type(exc).__name__)

    def _release(self, item_id: str) -> None:
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key={"id": {"S": item_id}},
                ConditionExpression="#status = :in_progress",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":in_progress": {"S": IN_PROGRESS}},
            )
        except (ClientError, BotoCoreError) as exc:
            # The claim stays until the invocation's time runs out; redelivery after that retries.
            self._log.warning(log.IDEMPOTENCY_CLAIM_NOT_RELEASED, error_code=type(exc).__name__)


def _store_error(exc: Exception) -> RetryableSendError:
    return RetryableSendError(f"idempotency store unavailable ({type(exc).__name__})", code="IdempotencyStoreError")
