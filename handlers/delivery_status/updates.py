"""SES's events for the stack's messages in, delivery statuses for producers out: the status function's work.

A rule on the default bus (SES publishes nowhere else) queues this stack's SES events; each batch
goes through `handlers.sqs_batch.SqsBatch`, one SES event after the other (two of one message, a
delivery and then an automatic reply, often share a batch, and each must see the record as the one
before left it). For each SES event and each recipient it names:

1. read the message's status record (`status_record`): an outcome already recorded (the same SES
   event again) or one lower than the recipient's status (a delay after the delivery) is skipped;
2. publish one `Email Status Changed` event on the pipeline's bus (`STATUS_SOURCE`), carrying the
   producer's `source` and `correlationId`, the key hash, event id, lane, template, SES message id,
   timestamps and the recipient as keyed hash and domain (`status_detail`); a message no lane sent
   is recorded and counted, never published;
3. record the outcome, so `trace` can answer and later events are ordered by it.

Publishing comes before recording: a failed publish leaves the record as it was and the SES event
on the queue, so it is published on the retry; a failed record write after a publish keeps the
SES event too, and its retry may publish the status again (status events are at least once, as
all EventBridge delivery is; each carries a `statusId` to drop repeats by). An SES event that
cannot be read is dead-lettered with the field and the rule. Either half can be turned off per
stack (`Settings.status_events`, `status_records`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import log
from ..clients import Clients
from ..errors import EmailError, Fate
from ..shared.settings import Settings
from ..shared.status_names import STATUS_DETAIL_TYPE, STATUS_LANE, STATUS_SOURCE
from ..sqs_batch import PartialBatchResponse, Queue, SqsBatch, SQSRecord
from .ses_events import SesEvent, parse
from .status_record import Classified, RecipientOutcome, StatusRecords, outcomes

#: PutEvents takes at most 10 entries per call (botocore's events model, PutEventsRequestEntryList).
_PUT_EVENTS_MAX = 10
#: Writes of one SES event's outcomes while other instances keep raising its recipients.
_SAVE_ATTEMPTS = 3


class StatusNotDone(EmailError):
    """Why an SES event stays on the status queue: the step that failed (`code`) and AWS's answer (`detail`)."""

    def __init__(self, code: str, aws_code: str) -> None:
        super().__init__(f"{code}: AWS answered {aws_code}", code=code)
        self._aws_code = aws_code

    @property
    def detail(self) -> str:
        return self._aws_code


def status_detail(outcome: RecipientOutcome, *, with_address: bool, after_delivery: bool = False) -> dict[str, Any]:
    """The status event's detail: the contract producers read (README, "Delivery status").

    `after_delivery`: a transient bounce of a recipient already delivered (an automatic reply),
    which changes nothing: `final` is false and `afterDelivery` says why. An unsubscribe or a
    resubscribe is never final either: it is about the recipient's subscription, not the delivery.
    """
    event, sent = outcome.event, outcome.event.sent
    recipient = {"hash": outcome.hash, "domain": outcome.domain}
    if with_address:
        recipient["address"] = outcome.address
    return {
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
        "topic": sent.topic,
        "lane": sent.lane,
        "stack": sent.stack,
        "sesMessageId": event.ses_message_id,
        "sentAt": event.sent_at,
        "occurredAt": event.occurred_at,
    }


class StatusUpdates:
    """The status function's handler: one SQS batch of SES events, each published and recorded in turn.

    Args:
        settings: the function's settings: its queues, the state table, the bus, which halves are on.
        clients: DynamoDB (records), EventBridge (status events), SQS (dead letters, delays).
    """

    def __init__(self, settings: Settings, clients: Clients) -> None:
        self._settings = settings.require("queue_url", "dead_letter_queue_url", "state_table")
        if settings.status_events:
            settings.require("status_bus")
        self._queue = Queue(STATUS_LANE, settings.queue_url, settings.dead_letter_queue_url,
                            settings.max_receive_count, settings.retry_base_delay_seconds,
                            settings.retry_max_delay_seconds, settings.halt_delay_seconds)
        self._clients = clients
        self._records = StatusRecords(settings.state_table, settings.stack, settings.record_ttl_seconds,
                                      clients.dynamodb)
        self._log = log.get_logger()

    def __call__(self, event: dict[str, Any], context: Any = None) -> PartialBatchResponse:
        # Unforeseen failures keep the SES event: it was readable, so a retry may well go through,
        # and on its last receive it is dead-lettered with the reason.
        batch = SqsBatch(event, context, self._queue, self._clients.sqs, unforeseen=Fate.RETRY_LATER)
        return batch.finish(batch.each(self._update))

    def _update(self, record: SQSRecord) -> None:
        """Publish and record one SES event's outcomes, or raise why it cannot be done now."""
        event = parse(record["body"])
        classified = self._classify(event)
        self._publish(event, classified)
        self._record(event, classified)

    def _classify(self, event: SesEvent) -> Classified:
        found = outcomes(event, self._settings.recipient_hash_key)
        if not self._settings.status_records:
            return Classified(found, [], [])
        try:
            classified = self._records.classify(found)
        except (ClientError, BotoCoreError) as exc:
            self._log.warning(log.STATUS_RECORD_UNAVAILABLE, error_code=_code(exc), **_fields(event))
            raise StatusNotDone("StatusRecordUnavailable", _code(exc)) from exc
        for reason, skipped in (("repeated", classified.repeated), ("lower_than_recorded", classified.stale)):
            for outcome in skipped:
                self._log.info(log.EMAIL_STATUS_SKIPPED, reason=reason, **_fields(event, outcome))
        return classified

    def _publish(self, event: SesEvent, classified: Classified) -> None:
        """One status event per outcome to tell; if any is not published, the SES event is kept for a retry.

        A message the pipeline did not send (no `event_id` tag: another sender on the configuration
        set, a console test send, the daily report) has no producer to tell: it is recorded, for
        `trace`, and counted (`email_status_unattributed`), never published.
        """
        if not self._settings.status_events:
            return
        if not event.sent.from_pipeline:
            for outcome in classified.to_record:
                self._log.info(log.EMAIL_STATUS_UNATTRIBUTED, **_fields(event, outcome))
            return
        entries = [(outcome, False) for outcome in [*classified.fresh, *classified.subscription_changes]] + \
            [(o, True) for o in classified.after_delivery]
        refused = None
        for start in range(0, len(entries), _PUT_EVENTS_MAX):
            chunk = entries[start:start + _PUT_EVENTS_MAX]
            try:
                results = self._clients.events.put_events(
                    Entries=[self._entry(o, after_delivery=late) for o, late in chunk])["Entries"]
            except (ClientError, BotoCoreError) as exc:
                results = [{"ErrorCode": _code(exc)}] * len(chunk)
            for (outcome, _late), result in zip(chunk, results):
                if result.get("ErrorCode"):
                    refused = StatusNotDone("StatusNotPublished", str(result["ErrorCode"]))
                    self._log.warning(log.STATUS_NOT_PUBLISHED, error_code=result["ErrorCode"],
                                      **_fields(event, outcome))
        if refused is not None:
            raise refused

    def _record(self, event: SesEvent, classified: Classified) -> None:
        if self._settings.status_records:
            classified = self._save(event, classified)
        published = self._settings.status_events and event.sent.from_pipeline
        for outcome in classified.fresh:
            self._log.info(log.EMAIL_STATUS, published=published, recorded=self._settings.status_records,
                           final=event.final, **_fields(event, outcome))
        for outcome in classified.after_delivery:
            self._log.info(log.EMAIL_STATUS, published=published, recorded=self._settings.status_records,
                           final=False, after_delivery=True, **_fields(event, outcome))
        for outcome in classified.subscription_changes:
            self._log.info(log.EMAIL_STATUS, published=published, recorded=self._settings.status_records,
                           final=False, **_fields(event, outcome))

    def _save(self, event: SesEvent, classified: Classified) -> Classified:
        """Write the outcomes; when the record changed meanwhile, classify again and retry. Returns what was written.

        The record changes under a write when another instance recorded an SES event of the same
        message, or a second copy of this one, or when botocore retried this very write after its
        answer was lost. Each retry drops what is now repeated or lower, and writes the rest. An
        outcome dropped that way was already published (`superseded_meanwhile`); one found repeated
        was recorded by the other copy. Still refused after `_SAVE_ATTEMPTS`: the SES event is kept.

        Raises:
            StatusNotDone: the write failed, or the record kept changing under it.
        """
        try:
            for _attempt in range(_SAVE_ATTEMPTS):
                if self._records.save(classified):
                    return classified
                again = self._records.classify(classified.to_record)
                for reason, skipped in (("superseded_meanwhile", again.stale), ("recorded_meanwhile", again.repeated)):
                    for outcome in skipped:
                        self._log.info(log.EMAIL_STATUS_SKIPPED, reason=reason, **_fields(event, outcome))
                classified = dataclasses.replace(again, repeated=[*classified.repeated, *again.repeated],
                                                 stale=[*classified.stale, *again.stale])
            code = "StatusRecordContended"
        except (ClientError, BotoCoreError) as exc:
            code = _code(exc)
        self._log.warning(log.STATUS_RECORD_NOT_SAVED, error_code=code, **_fields(event))
        raise StatusNotDone("StatusRecordNotSaved", code)

    def _entry(self, outcome: RecipientOutcome, *, after_delivery: bool = False) -> dict[str, Any]:
        detail = status_detail(outcome, with_address=self._settings.status_addresses, after_delivery=after_delivery)
        return {"Source": STATUS_SOURCE, "DetailType": STATUS_DETAIL_TYPE, "EventBusName": self._settings.status_bus,
                "Detail": json.dumps(detail)}


def _fields(event: SesEvent, outcome: RecipientOutcome | None = None) -> dict[str, Any]:
    """What a status log line carries: never an address, never the producer's correlation id."""
    fields: dict[str, Any] = {"status": event.status.value, "ses_message_id": event.ses_message_id,
                              "ses_event_id": event.event_id, "event_id": event.sent.event_id,
                              "key_hash": event.sent.key_hash, "template": event.sent.template,
                              "sent_lane": event.sent.lane, **{f"detail_{k}": v for k, v in event.details.items()}}
    if outcome is not None:
        fields.update(recipient_hashes=[outcome.hash], recipient_domains=[outcome.domain])
    return fields


def _code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
