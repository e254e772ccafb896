"""Send each event once, however often SQS, EventBridge or an archive replay delivers it.

One DynamoDB item per key, moved through its states with conditional writes:

1. claim: `PutItem` as IN_PROGRESS with a lease until the claiming invocation's own deadline,
   only if no item exists (or its TTL has passed). The item itself lives for the whole TTL, so
   a claim outlives every redelivery of its message;
2. run the action (the SES call: the last step before the record is marked done);
3. complete: record the SES message id. Inside a lane's batch (`OnceOnly.batch`), the claims name
   the batch's record (`completed_in`), and one `PutItem` at the end of the batch writes every
   sent key's message id into it: one write for up to ten emails instead of one each, which
   halves what idempotency costs. Outside a batch (the daily report), `UpdateItem` sets the
   claim to COMPLETED. If the action failed in a way that proves nothing was sent, `DeleteItem`
   the claim so that redelivery can try again; if the outcome is unknown (SES's answer never
   came), `UpdateItem` it to UNKNOWN.

A delivery that finds the key completed (COMPLETED, or IN_PROGRESS and listed in the record its
claim names) returns the stored message id without calling SES and logs `email_duplicate_skipped`;
one that finds a live IN_PROGRESS lease (a concurrent delivery) is retried later. One that finds
UNKNOWN, or an IN_PROGRESS whose lease has run out and that no record lists (its invocation died,
timed out, or could not record the outcome), cannot know whether the email went out: it raises
`OutcomeUnknown`, unless the caller's delivery policy says to send again, in which case it takes
the claim over. Nothing is ever re-sent because a claim quietly expired.

The key is hashed, so an idempotency key that embeds an address never reaches the table in clear.

This is the protocol of Powertools for AWS Lambda's idempotency utility (plus the UNKNOWN state
and the batch record), written out here because `import aws_lambda_powertools` alone measured 56 ms
of cold start (it loads Logger, Metrics and Tracer), which broke the handlers' cold-start budget;
see bench/README.md.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import log
from ..shared import table_keys
from ..errors import DependencyUnavailable, EmailError, OutcomeUnknown

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
UNKNOWN = "UNKNOWN"
#: Claim lease when no Lambda context tells the remaining time.
_DEFAULT_CLAIM_MS = 60_000



class OnceOnly:
    """Runs an action at most once per key within the TTL.

    Args:
        table_name: the state table (partition key `id`, TTL attribute `expiration`).
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
        self._record_id: str | None = None
        self._sent: dict[str, str] = {}
        self._lock = threading.Lock()
        self._log = log.get_logger()

    def register_lambda_context(self, context: Any) -> None:
        """Lease claims until the invocation's deadline: past it, an unfinished claim's holder is gone."""
        self._context = context

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Record the sends made inside the block in one write, when it ends (see the module docstring).

        The record is written even if the block raises: what was sent was sent. If the write
        fails, the claims stay IN_PROGRESS and, once their lease lapses, read as unknown outcomes,
        as a lost completion always has.
        """
        self._record_id = table_keys.new_batch_record_id(self._prefix)
        self._sent = {}
        try:
            yield
        finally:
            record_id, sent = self._record_id, dict(self._sent)
            self._record_id, self._sent = None, {}
            if sent:
                self._save_record(record_id, sent)

    def run(self, key: str, action: Callable[[], str], *, resend_unknown: bool = False) -> str:
        """Run `action` unless `key` already completed; return its (possibly stored) result.

        Args:
            key: the idempotency key (hashed before it is stored).
            action: the send; its typed `EmailError`s say whether anything went out.
            resend_unknown: when an earlier delivery left the outcome unknown, run the action
                again (at-least-once) instead of raising `OutcomeUnknown` (at-most-once).

        Raises:
            DependencyUnavailable: another delivery holds the key right now, or the store failed
                before the action ran. The message goes back on the queue and tries again.
            OutcomeUnknown: the action's outcome is unknown, or an earlier delivery's is and
                `resend_unknown` is off. The claim stays, so no later delivery sends blindly.
            Whatever else `action` raises, after releasing the claim.
        """
        item_id = self._item_id(key)
        with self._lock:
            stored = self._sent.get(table_keys.record_key(item_id)) if self._record_id is not None else None
        if stored is None:
            stored = self._claim(item_id, resend_unknown)
        if stored is not None:
            self._log.info(log.EMAIL_DUPLICATE_SKIPPED, ses_message_id=stored)
            return stored
        try:
            result = action()
        except OutcomeUnknown:
            self._mark_unknown(item_id)
            raise
        except EmailError:
            self._release(item_id)  # every other typed failure proves nothing was sent
            raise
        except Exception as exc:
            # An error no one foresaw, possibly after SES accepted: nothing proves it unsent.
            self._mark_unknown(item_id)
            raise OutcomeUnknown(f"{type(exc).__name__} during the send", cause="unexpected_error") from exc
        if self._record_id is not None:
            with self._lock:
                self._sent[table_keys.record_key(item_id)] = result
        else:
            self._complete(item_id, result)
        return result

    def _item_id(self, key: str) -> str:
        return table_keys.claim_id(self._prefix, key)

    def _lease_ms(self) -> int:
        return self._context.get_remaining_time_in_millis() if self._context else _DEFAULT_CLAIM_MS

    def _claim(self, item_id: str, resend_unknown: bool) -> str | None:
        """Write the IN_PROGRESS claim; return the stored result if the key already completed."""
        now = self._clock()
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": item_id},
                    "status": {"S": IN_PROGRESS},
                    "expiration": {"N": str(int(now + self._ttl))},
                    "in_progress_expiry": {"N": str(int(now * 1000 + self._lease_ms()))},
                    **({"completed_in": {"S": self._record_id}} if self._record_id else {}),
                },
                ConditionExpression="attribute_not_exists(id) OR expiration < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise _store_error(exc) from exc
            existing = exc.response.get("Item") or self._get(item_id)
        except BotoCoreError as exc:
            raise _store_error(exc) from exc
        status = existing.get("status", {}).get("S")
        if status == COMPLETED:
            return existing.get("result", {}).get("S", "")
        recorded = self._recorded_result(item_id, existing) if status == IN_PROGRESS else None
        if recorded is not None:
            return recorded
        lease_ends_ms = int(existing.get("in_progress_expiry", {}).get("N", "0"))
        if status == IN_PROGRESS and lease_ends_ms >= now * 1000:
            raise DependencyUnavailable("another delivery of this event is in progress", code="IdempotencyInProgress")
        # UNKNOWN, or a lease that ran out: the holder died, timed out or could not record.
        cause = "earlier_attempt_unanswered" if status == UNKNOWN else "claim_never_completed"
        if not resend_unknown:
            raise OutcomeUnknown("an earlier delivery of this event may have sent it", cause=cause)
        if status != UNKNOWN:
            # Counted here: nobody saw this one before (an explicit UNKNOWN was logged when set).
            self._log.warning(log.EMAIL_OUTCOME_UNKNOWN, cause=cause, decision="resend")
        self._take_over(item_id, existing)
        return None

    def _take_over(self, item_id: str, existing: dict[str, Any]) -> None:
        """Renew an unresolved claim for this delivery, unless another delivery did so first."""
        now = self._clock()
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": item_id}},
                # The claim now belongs to this delivery's batch record (or to none, outside a batch).
                UpdateExpression="SET #status = :in_progress, in_progress_expiry = :lease"
                                 + (", completed_in = :record" if self._record_id else " REMOVE completed_in"),
                ConditionExpression="#status = :seen_status AND in_progress_expiry = :seen_lease",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":in_progress": {"S": IN_PROGRESS},
                    ":lease": {"N": str(int(now * 1000 + self._lease_ms()))},
                    **({":record": {"S": self._record_id}} if self._record_id else {}),
                    ":seen_status": existing["status"],
                    ":seen_lease": existing.get("in_progress_expiry", {"N": "0"}),
                },
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise DependencyUnavailable("another delivery took this event over", code="IdempotencyInProgress") from exc
            raise _store_error(exc) from exc
        except BotoCoreError as exc:
            raise _store_error(exc) from exc

    def _recorded_result(self, item_id: str, claim: dict[str, Any]) -> str | None:
        """The message id the claim's batch record holds for this key, if its batch sent it."""
        record_id = claim.get("completed_in", {}).get("S")
        if not record_id:
            return None
        sent = self._get(record_id).get("sent", {}).get("M", {})
        result = sent.get(table_keys.record_key(item_id), {}).get("S")
        return None if result is None else str(result)

    def _save_record(self, record_id: str, sent: dict[str, str]) -> None:
        """Write a batch's record: every key it sent, with SES's message id."""
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "id": {"S": record_id},
                    "expiration": {"N": str(int(self._clock() + self._ttl))},
                    "sent": {"M": {key: {"S": result} for key, result in sent.items()}},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            # The emails went out; only recording them failed. The messages are reported done, and
            # the claims stay IN_PROGRESS: if an event ever comes back, its lapsed lease reads as an
            # unknown outcome and the lane's delivery policy decides, never a silent re-send.
            self._log.warning(log.IDEMPOTENCY_RECORD_NOT_SAVED, error_code=type(exc).__name__, count=len(sent))

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
            # The email went out; only recording it failed. The message is reported done, and the
            # claim stays IN_PROGRESS: if the event ever comes back, its lapsed lease reads as an
            # unknown outcome and the lane's delivery policy decides, never a silent re-send.
            self._log.warning(log.IDEMPOTENCY_RECORD_NOT_SAVED, error_code=type(exc).__name__)

    def _mark_unknown(self, item_id: str) -> None:
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": item_id}},
                UpdateExpression="SET #status = :unknown",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":unknown": {"S": UNKNOWN}},
            )
        except (ClientError, BotoCoreError) as exc:
            # The claim stays IN_PROGRESS; once its lease runs out it reads as unknown all the same.
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
            # The claim stays; after its lease it reads as an unknown outcome (a documented cost:
            # an at-most-once lane then dead-letters an email that was in fact never sent).
            self._log.warning(log.IDEMPOTENCY_CLAIM_NOT_RELEASED, error_code=type(exc).__name__)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _store_error(exc: Exception) -> DependencyUnavailable:
    return DependencyUnavailable(f"idempotency store unavailable ({type(exc).__name__})", code="IdempotencyStoreError")
