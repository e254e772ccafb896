"""One SQS batch through a queue-fed handler: each record's result to its fate, and the partial batch response.

Every handler that drains a queue (the lanes, the status handler) goes through a batch the same
way, here:

- each record's work runs in its own log context (`lane`, `sqs_message_id`, `request_id`,
  `receive_count`, and whatever the work binds, such as `event_id`), and whatever it raises that
  nobody foresaw becomes that record's `Unforeseen` result: one record never fails its batch, and
  only the exception's type is logged (its text may quote the event);
- a result that is an `EmailError` gets the treatment its kind carries (`handlers.errors`): the
  lane's DLQ at once with the reason as message attributes, or kept on the queue and visible again
  after the delay its fate asks for (`retry_delay` for a retry, the long halt delay for a hold, at
  once for a record that was only out of time); an unknown outcome goes by the handler's delivery
  policy (`decide`);
- a record kept on its queue's last receive is dead-lettered instead, with why it was kept
  (`ReceivesExhausted`): kept once more, SQS's own redrive would move it without a reason;
- a dead letter that cannot be written keeps its record on the queue: nothing is lost;
- the delays are applied in batches of ten, and only kept records are reported in
  `batchItemFailures` (Lambda deletes the others when the invocation returns; the event source
  mapping must enable `ReportBatchItemFailures`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypedDict, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from . import log
from .errors import EmailError, Fate, ReceivesExhausted

T = TypeVar("T")

MAX_VISIBILITY_SECONDS = 43_200  # SQS's ceiling: 12 hours
_VISIBILITY_BATCH = 10  # ChangeMessageVisibilityBatch takes at most 10 entries
#: SQS takes message attribute values of up to 256 KiB; the reason is a line, kept short.
_REASON_CHARS = 1024


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class PartialBatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


class SQSMessageAttribute(TypedDict, total=False):
    """A message attribute as Lambda delivers it (camelCase, unlike the SQS API's shape)."""

    stringValue: str
    dataType: str


class SQSRecord(TypedDict, total=False):
    """The fields of an SQS record (as Lambda's event source mapping delivers it) used here."""

    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]
    messageAttributes: dict[str, SQSMessageAttribute]


class Queue(NamedTuple):
    """The queue a handler drains and what it does with a record it keeps or gives up on.

    Attributes:
        label: the lane's name (`status` for the status handler): log lines and dead letters carry it.
        url, dead_letter_url: the queue and its DLQ.
        max_receive_count: the queue's `maxReceiveCount`: its last receive is this one.
        retry_base_seconds, retry_max_seconds: the growing delay before a retry (`retry_delay`).
        halt_seconds: the delay of a hold (SES paused, the daily quota used up).
    """

    label: str
    url: str
    dead_letter_url: str
    max_receive_count: int
    retry_base_seconds: int = 30
    retry_max_seconds: int = 900
    halt_seconds: int = 900


class Unforeseen(EmailError):
    """Anything a record's work raised that is not an `EmailError`: a bug, or an answer nobody foresaw.

    Its fate is the handler's: a lane dead-letters it at once (the same event would fail again), the
    status handler keeps it for a retry (a readable SES event may well go through next time).
    """

    code = "InternalError"

    def __init__(self, exc: BaseException, fate: Fate) -> None:
        super().__init__(f"unexpected {type(exc).__name__} while processing this record")
        self.fate = fate
        self.error_type = type(exc).__name__

    def log_fields(self) -> dict[str, Any]:
        return {"error_code": self.code, "error_type": self.error_type}


def retry_delay(receive_count: int, base_seconds: int, max_seconds: int) -> int:
    """Visibility delay before the next attempt: base x 2^(receives - 1), capped.

    With the defaults (30 s base, 15 min cap) and the default max receive count of 8, a message
    survives about an hour of continuous failure before its last receive.
    """
    exponent = max(0, receive_count - 1)
    return int(min(max_seconds, base_seconds * 2**min(exponent, 20), MAX_VISIBILITY_SECONDS))


def receive_count(record: SQSRecord) -> int:
    return int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))


class SqsBatch:
    """One invocation's batch of records: their work, their results' fates, the partial batch response.

    Args:
        event: the SQS event as Lambda passes it.
        context: the Lambda context (its request id goes on every log line).
        queue: the queue drained and its delays.
        sqs_client: for dead letters and visibility changes.
        unforeseen: the fate of a record whose work raised what nobody foresaw.
        decide: the fate of a failure whose kind leaves it to the handler (an unknown outcome:
            the lane's delivery policy); None: every failure's own fate.
    """

    def __init__(self, event: Mapping[str, Any], context: Any, queue: Queue, sqs_client: Any, *,
                 unforeseen: Fate, decide: Callable[[EmailError], Fate] | None = None) -> None:
        self.records: list[SQSRecord] = list(event.get("Records", []))
        self._request_id = str(getattr(context, "aws_request_id", ""))
        self._queue = queue
        self._sqs = sqs_client
        self._unforeseen = unforeseen
        self._decide = decide
        self._log = log.get_logger()
        #: Each record's log context as its work last left it (with `event_id` once known).
        self._contexts: dict[str, dict[str, Any]] = {}

    def work(self, record: SQSRecord, step: Callable[[], T]) -> T | EmailError:
        """Run one record's step in the record's log context; its failure, of any kind, is its result.

        Safe to call from any thread: the step runs in a context of its own.
        """
        def run() -> T | EmailError:
            log.clear()
            log.bind(**self.log_context(record))
            try:
                return step()
            except EmailError as error:
                return error
            except Exception as exc:  # noqa: BLE001 - the one catch-all: one record never fails its batch
                error = Unforeseen(exc, self._unforeseen)
                self._log.error(log.RECORD_FAILED, **error.log_fields())
                return error
            finally:
                self._contexts[record["messageId"]] = log.bound()

        return contextvars.Context().run(run)

    def each(self, step: Callable[[SQSRecord], T]) -> dict[str, T | EmailError]:
        """`work` for every record, in order: message id -> result."""
        return {record["messageId"]: self.work(record, lambda record=record: step(record))  # type: ignore[misc]
                for record in self.records}

    def log_context(self, record: SQSRecord) -> dict[str, Any]:
        """What every log line about the record carries."""
        return self._contexts.get(record["messageId"]) or {
            "lane": self._queue.label, "sqs_message_id": record["messageId"], "request_id": self._request_id,
            "receive_count": receive_count(record)}

    def finish(self, results: Mapping[str, object]) -> PartialBatchResponse:
        """Give each record the fate of its result (a record without one is done), and answer Lambda.

        Returns:
            The records that stay on the queue, in the batch's order.
        """
        kept: list[str] = []
        delays: dict[str, int] = {}
        for record in self.records:
            result = results.get(record["messageId"])
            if not isinstance(result, EmailError):
                continue
            log.clear()
            log.bind(**self.log_context(record))
            stays, delay = self._settle(record, result)
            if stays:
                kept.append(record["messageId"])
            if delay is not None:
                delays[record["receiptHandle"]] = delay
        log.clear()
        self._apply_delays(delays)
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in kept]}

    def _settle(self, record: SQSRecord, error: EmailError) -> tuple[bool, int | None]:
        """Treat one failed record by its fate: (whether it stays on the queue, its delay if one is set)."""
        if error.lane_log_event is not None:
            self._log.error(error.lane_log_event, **error.log_fields())
        fate = error.fate
        if fate is Fate.BY_DELIVERY_POLICY and self._decide is not None:
            fate = self._decide(error)
        receives = receive_count(record)
        if fate is not Fate.DEAD_LETTER and receives >= self._queue.max_receive_count:
            error = ReceivesExhausted(error, receives)
            self._log.error(log.RECEIVES_EXHAUSTED, **error.log_fields())
            fate = Fate.DEAD_LETTER
        if fate is Fate.DEAD_LETTER:
            # A dead letter that cannot be written stays, visible again after the queue's timeout.
            return (not self._dead_letter(record, error)), None
        delays = {Fate.RETRY_NOW: 0, Fate.HOLD: self._queue.halt_seconds,
                  Fate.RETRY_LATER: retry_delay(receives, self._queue.retry_base_seconds,
                                                self._queue.retry_max_seconds)}
        delay = delays.get(fate, delays[Fate.RETRY_LATER])
        self._log.warning(log.EMAIL_DEFERRED, error_code=error.code, retry_in_seconds=delay)
        return True, delay

    def _dead_letter(self, record: SQSRecord, error: EmailError) -> bool:
        """Copy the record to the DLQ with the reason attached; False (and it stays on the queue) if that fails."""
        try:
            send_to_dead_letter_queue(self._sqs, self._queue.dead_letter_url, record, error, self._queue.label)
        except (ClientError, BotoCoreError) as exc:
            self._log.error(log.DEAD_LETTER_FORWARD_FAILED, error_code=_code(exc))
            return False
        return True

    def _apply_delays(self, delays: Mapping[str, int]) -> None:
        entries = [{"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": delay}
                   for index, (handle, delay) in enumerate(delays.items())]
        for chunk in _chunks(entries, _VISIBILITY_BATCH):
            try:
                failed = len(self._sqs.change_message_visibility_batch(QueueUrl=self._queue.url,
                                                                       Entries=chunk).get("Failed", []))
            except (ClientError, BotoCoreError):
                failed = len(chunk)
            if failed:
                # The messages are still kept; they return after the queue's visibility timeout.
                self._log.warning(log.VISIBILITY_CHANGE_FAILED, count=failed)


def send_to_dead_letter_queue(sqs: Any, queue_url: str, record: SQSRecord, error: EmailError, lane: str) -> None:
    """Send `record`'s body to `queue_url` with `error` as its attributes.

    The reason travels as message attributes, so an operator (and `email-pipeline dlq list`) reads
    it without parsing the body: `FailureCode`, `FailureReason` (the field and the rule, never a
    value), `FailureField`, `Lane`, `SourceMessageId`, `FailedAt`.

    Raises:
        botocore's ClientError or BotoCoreError: the copy was not made (keep the message, then).
    """
    attributes = {
        "FailureCode": error.code,
        "FailureReason": str(error)[:_REASON_CHARS],
        "FailureField": error.detail,
        "Lane": lane,
        "SourceMessageId": record["messageId"],
        "FailedAt": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    sqs.send_message(QueueUrl=queue_url, MessageBody=record["body"], MessageAttributes={
        name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()})


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    return (items[start:start + size] for start in range(0, len(items), size))


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
