"""The status handler: SES's events for this stack's messages in, delivery statuses for producers out.

A rule on the default bus (SES publishes nowhere else) queues this stack's SES events; this
handler drains the queue in batches. For each SES event and each recipient it names, it:

1. reads the message's status record (`status_record`): an outcome already recorded (the same SES
   event again) or one lower than the recipient's status (a delay after the delivery) is skipped;
2. publishes one `Email Status Changed` event on the pipeline's bus (`STATUS_SOURCE`), carrying
   the producer's `source` and `correlationId`, the key hash, event id, lane, template, SES
   message id, timestamps and the recipient as keyed hash and domain (`status_detail`);
3. records the outcome, so `trace` can answer for the key and later events are ordered by it.

Publishing comes before recording: a failed publish leaves the record as it was and the SES event
on the queue, so it is published on the retry; a failed record write after a publish keeps the
SES event too, and its retry may publish the status again (status events are at least once, as
all EventBridge delivery is; each carries a `statusId` to drop repeats by). An SES event that
cannot be read is dead-lettered with the field and the rule; nothing fails the batch.
Either half can be turned off per stack (`Settings.status_events`, `status_records`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from . import aws, log
from .clients import Clients, Handler, LazyClient
from .dead_letter import send_to_dead_letter_queue
from .errors import EmailError, ReceivesExhausted
from .idempotency.once_only import create_dynamodb_client
from .delivery_status.ses_events import InvalidSesEvent, SesEvent, parse
from .shared.settings import Settings
from .sqs_batch import PartialBatchResponse, SQSRecord
from .shared.status_names import STATUS_DETAIL_TYPE, STATUS_LANE, STATUS_SOURCE
from .delivery_status.status_record import Classified, Outcome, StatusRecords, outcomes

log.configure()

#: PutEvents takes at most 10 entries per call (botocore's events model, PutEventsRequestEntryList).
_PUT_EVENTS_MAX = 10
#: Writes of one SES event's outcomes while other instances keep raising its recipients.
_SAVE_ATTEMPTS = 3


class ContendedRecord(ClientError):
    """The status record kept changing under the write: the SES event is kept for a retry."""


def build(clients: Clients) -> Handler:
    """The Lambda handler; settings are read on the first invocation, not at import."""

    @functools.cache
    def processor() -> StatusProcessor:
        return StatusProcessor(Settings.from_environ(), clients)

    def handler(event: dict[str, Any], context: Any) -> PartialBatchResponse:
        return processor().handle(event)

    return handler


def status_detail(outcome: Outcome, *, with_address: bool, after_delivery: bool = False) -> dict[str, Any]:
    """The status event's detail: the contract producers read (README, "Delivery status").

    `after_delivery`: a transient bounce of a recipient already delivered (an automatic reply),
    which changes nothing: `final` is false and `afterDelivery` says why.
    """
    event, sent = outcome.event, outcome.event.sent
    recipient = {"hash": outcome.hash, "domain": outcome.domain}
    if with_address:
        recipient["address"] = outcome.address
    detail: dict[str, Any] = {
        "status": event.status.value,
        "rank": event.rank,
        "final": event.final and not after_delivery,
        "afterDelivery": after_delivery,
        # The message's id too: one recipient can have the same status at the same instant on two messages.
        "statusId": hashlib.sha256(f"{event.ses_message_id}/{outcome.seen_key}".encode()).hexdigest()[:32],
        "recipient": recipient,
        "details": dict(event.details),
        "source": sent.source,
        "correlationId": sent.correlation_id,
        "keyHash": sent.key_hash,
        "eventId": sent.event_id,
        "template": sent.template,
        "lane": sent.lane,
        "stack": sent.stack,
        "sesMessageId": event.ses_message_id,
        "sentAt": event.sent_at,
        "occurredAt": event.occurred_at,
    }
    return detail


@dataclass
class _Item:
    """One SQS record's SES event and what became of its outcomes in this invocation."""

    record: SQSRecord
    event: SesEvent
    classified: Classified = field(default_factory=lambda: Classified([], [], []))
    #: Why the SES event stays on the queue for a retry (None: it is done).
    kept_for: EmailError | None = None

    @property
    def failed(self) -> bool:
        return self.kept_for is not None


class StatusNotDone(EmailError):
    """Why an SES event stays on the status queue: the step that failed (`code`) and AWS's answer (`detail`)."""

    def __init__(self, code: str, aws_code: str) -> None:
        super().__init__(f"{code}: AWS answered {aws_code}", code=code)
        self._aws_code = aws_code

    @property
    def detail(self) -> str:
        return self._aws_code


class StatusProcessor:
    """One batch of SES events: statuses published and recorded, a partial batch response back."""

    def __init__(self, settings: Settings, clients: Clients) -> None:
        self._settings = settings.require("dead_letter_queue_url", "state_table")
        if settings.status_events:
            settings.require("status_bus")
        self._clients = clients
        self._records = StatusRecords(settings.state_table, settings.stack, settings.record_ttl_seconds,
                                      clients.dynamodb)
        self._log = log.get_logger()

    def handle(self, event: dict[str, Any]) -> PartialBatchResponse:
        records: list[SQSRecord] = event.get("Records", [])
        kept: set[str] = set()
        # One SES event after the other: two of one message (a delivery, then an automatic reply)
        # often share a batch, and each must see the record as the one before left it.
        for record in records:
            item = self._read(record, kept)
            if item is None:
                continue
            try:
                self._sort(item)
                if not item.failed:
                    self._publish(item)
                if not item.failed:
                    self._record(item)
            except Exception as exc:  # noqa: BLE001 - one record must never fail its batch
                # Kept, not dead-lettered: the event was readable, so a retry may well go through;
                # after the queue's receives it reaches the DLQ. Only the type is logged.
                self._log.error(log.RECORD_FAILED, error_code="InternalError", error_type=type(exc).__name__)
                item.kept_for = StatusNotDone("InternalError", type(exc).__name__)
            if item.kept_for is not None:
                self._keep(item, kept)
        structlog.contextvars.clear_contextvars()
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["messageId"] in kept]}

    @staticmethod
    def _bind(record: SQSRecord) -> None:
        """Every line about a record names it (the phases of a batch interleave records)."""
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(lane=STATUS_LANE, sqs_message_id=record["messageId"])

    def _read(self, record: SQSRecord, kept: set[str]) -> _Item | None:
        self._bind(record)
        try:
            event = parse(record["body"])
        except InvalidSesEvent as exc:
            self._log.error(log.SES_EVENT_REJECTED, **exc.log_fields())
            self._dead_letter(record, exc, kept)
            return None
        except Exception as exc:  # noqa: BLE001 - one record must never fail its batch
            self._log.error(log.SES_EVENT_REJECTED, error_code="InternalError", error_type=type(exc).__name__)
            self._dead_letter(record, EmailError(f"unexpected {type(exc).__name__} reading this SES event",
                                                 code="InternalError"), kept)
            return None
        return _Item(record, event)

    def _sort(self, item: _Item) -> None:
        self._bind(item.record)
        found = outcomes(item.event, self._settings.recipient_hash_key)
        if not self._settings.status_records:
            item.classified = Classified(found, [], [])
            return
        try:
            item.classified = self._records.classify(found)
        except (ClientError, BotoCoreError) as exc:
            self._log.warning(log.STATUS_RECORD_UNAVAILABLE, error_code=_code(exc), **self._fields(item.event))
            item.kept_for = StatusNotDone("StatusRecordUnavailable", _code(exc))
            return
        for reason, skipped in (("repeated", item.classified.repeated), ("lower_than_recorded", item.classified.stale)):
            for outcome in skipped:
                self._log.info(log.EMAIL_STATUS_SKIPPED, reason=reason, **self._fields(item.event, outcome))

    def _publish(self, item: _Item) -> None:
        """One status event per outcome to tell; if any is not published, the SES event is kept for a retry.

        A message the pipeline did not send (no `event_id` tag: another sender on the configuration
        set, a console test send, the daily report) has no producer to tell: it is recorded, for
        `trace`, and counted (`email_status_unattributed`), never published.
        """
        if not self._settings.status_events:
            return
        if not item.event.sent.from_pipeline:
            for outcome in item.classified.to_record:
                self._log.info(log.EMAIL_STATUS_UNATTRIBUTED, **self._fields(item.event, outcome))
            return
        classified = item.classified
        entries = [(outcome, False) for outcome in classified.fresh] + [(o, True) for o in classified.after_delivery]
        for start in range(0, len(entries), _PUT_EVENTS_MAX):
            chunk = entries[start:start + _PUT_EVENTS_MAX]
            try:
                results = self._clients.events.put_events(
                    Entries=[self._entry(o, after_delivery=late) for o, late in chunk])["Entries"]
            except (ClientError, BotoCoreError) as exc:
                results = [{"ErrorCode": _code(exc)}] * len(chunk)
            for (outcome, _late), result in zip(chunk, results):
                if result.get("ErrorCode"):
                    item.kept_for = StatusNotDone("StatusNotPublished", str(result["ErrorCode"]))
                    self._log.warning(log.STATUS_NOT_PUBLISHED, error_code=result["ErrorCode"],
                                      **self._fields(item.event, outcome))

    def _record(self, item: _Item) -> None:
        self._bind(item.record)
        if self._settings.status_records:
            try:
                self._save(item)
            except (ClientError, BotoCoreError) as exc:
                self._log.warning(log.STATUS_RECORD_NOT_SAVED, error_code=_code(exc), **self._fields(item.event))
                item.kept_for = StatusNotDone("StatusRecordNotSaved", _code(exc))
                return
        published = self._settings.status_events and item.event.sent.from_pipeline
        for outcome in item.classified.fresh:
            self._log.info(log.EMAIL_STATUS, published=published, recorded=self._settings.status_records,
                           final=item.event.final, **self._fields(item.event, outcome))
        for outcome in item.classified.after_delivery:
            self._log.info(log.EMAIL_STATUS, published=published, recorded=self._settings.status_records,
                           final=False, after_delivery=True, **self._fields(item.event, outcome))

    def _save(self, item: _Item) -> None:
        """Write the item's outcomes; when the record changed meanwhile, classify again and retry.

        The record changes under a write when another instance recorded an SES event of the same
        message, or a second copy of this one, or when botocore retried this very write after its
        answer was lost. Each retry drops what is now repeated or lower, and writes the rest. An
        outcome dropped that way was already published (`superseded_meanwhile`); one found repeated
        was recorded by the other copy. Still refused after `_SAVE_ATTEMPTS`: a failed write, so
        the SES event is kept and retried.
        """
        for _attempt in range(_SAVE_ATTEMPTS):
            if self._records.save(item.classified):
                return
            again = self._records.classify(item.classified.to_record)
            for outcome in again.stale:
                self._log.info(log.EMAIL_STATUS_SKIPPED, reason="superseded_meanwhile",
                               **self._fields(item.event, outcome))
            for outcome in again.repeated:
                self._log.info(log.EMAIL_STATUS_SKIPPED, reason="recorded_meanwhile",
                               **self._fields(item.event, outcome))
            item.classified = dataclasses.replace(again, repeated=[*item.classified.repeated, *again.repeated],
                                                  stale=[*item.classified.stale, *again.stale])
        raise ContendedRecord(
            {"Error": {"Code": "StatusRecordContended", "Message": "status record kept changing"}}, "UpdateItem")

    def _entry(self, outcome: Outcome, *, after_delivery: bool = False) -> dict[str, Any]:
        detail = status_detail(outcome, with_address=self._settings.status_addresses, after_delivery=after_delivery)
        return {"Source": STATUS_SOURCE, "DetailType": STATUS_DETAIL_TYPE, "EventBusName": self._settings.status_bus,
                "Detail": json.dumps(detail)}

    @staticmethod
    def _fields(event: SesEvent, outcome: Outcome | None = None) -> dict[str, Any]:
        """What a status log line carries: never an address, never the producer's correlation id."""
        fields: dict[str, Any] = {"status": event.status.value, "ses_message_id": event.ses_message_id,
                                  "ses_event_id": event.event_id, "event_id": event.sent.event_id,
                                  "key_hash": event.sent.key_hash, "template": event.sent.template,
                                  "sent_lane": event.sent.lane, **{f"detail_{k}": v for k, v in event.details.items()}}
        if outcome is not None:
            fields.update(recipient_hashes=[outcome.hash], recipient_domains=[outcome.domain])
        return fields

    def _keep(self, item: _Item, kept: set[str]) -> None:
        """Keep the SES event for a retry; on its queue's last receive, dead-letter it with why instead.

        Kept once more, the queue's redrive would move it to the DLQ on the next receive, without
        a reason (`ReceivesExhausted`).
        """
        receives = int(item.record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        if item.kept_for is None or receives < self._settings.max_receive_count:
            kept.add(item.record["messageId"])
            return
        self._bind(item.record)
        exhausted = ReceivesExhausted(item.kept_for, receives)
        self._log.error(log.RECEIVES_EXHAUSTED, **exhausted.log_fields())
        self._dead_letter(item.record, exhausted, kept)

    def _dead_letter(self, record: SQSRecord, error: EmailError, kept: set[str]) -> None:
        """Copy the SES event to the status DLQ with the reason; if that fails, keep it on the queue."""
        try:
            send_to_dead_letter_queue(self._clients.sqs, self._settings.dead_letter_queue_url, record, error,
                                      STATUS_LANE)
        except (ClientError, BotoCoreError) as exc:
            self._log.error(log.DEAD_LETTER_FORWARD_FAILED, error_code=_code(exc))
            kept.add(record["messageId"])


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def _clients() -> Clients:
    """DynamoDB and EventBridge on every invocation; SQS only to dead-letter; no SES client at all."""
    events = aws.create_client("events", aws.STANDARD_CONFIG)
    sqs = LazyClient(functools.partial(aws.create_client, "sqs", aws.STANDARD_CONFIG))
    return Clients(ses=None, dynamodb=create_dynamodb_client(), sqs=sqs, events=events)


handler = build(_clients())
