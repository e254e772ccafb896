"""Drain one SQS lane: a batch of EventBridge events in, a partial batch response out.

This is where each failure kind from `handlers.errors` gets its treatment:

- invalid events and permanent SES rejections are copied to the lane's dead-letter queue at once,
  with the reason as message attributes, and deleted from the lane (no pointless retries);
- retryable failures stay on the queue and come back after a delay that doubles with every
  receive (`retry_delay`), so a long throttle spreads out instead of exhausting the receive count;
- after a throttle, the daily quota or a halt, the rest of the batch is not attempted: SES has
  told us to back off, and each of those messages is kept with the same delay;
- when the invocation is close to its timeout, no new send starts: the rest are reported as
  failures, so a timeout can never cut off a batch whose sends went out but were not reported.
  "Close" is the worst case of one send plus its completion write (`timeouts.SEND_RESERVE_SECONDS`);
- when the outcome of a send is unknown (SES never answered, or an earlier delivery claimed the
  event and never recorded what happened), the lane's delivery policy decides: at most once
  dead-letters it with the reason `OutcomeUnknown`, at least once sends it again. Redriving such
  a dead letter (it carries `FailureCode=OutcomeUnknown`) is an operator's decision to send it;
- a record that raises anything unforeseen is dead-lettered with `InternalError`: one record
  never fails the batch.

Only records in `batchItemFailures` stay on the queue; Lambda deletes the others. The function's
event source mapping must enable `ReportBatchItemFailures`.
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from .. import log
from ..clients import Clients, Handler
from .contract import EmailRequest, parse_event
from ..dead_letter import send_to_dead_letter_queue
from ..errors import EmailError, Fate, NearTimeout, NotAttempted, OutcomeUnknown, ReceivesExhausted, SendThrottled
from ..idempotency.once_only import OnceOnly
from ..scheduling.pacing import Pacing, fallback_share, slot_offsets
from ..scheduling.schedule import MAX_LATENESS_SECONDS, SendSchedule, horizon_slots
from .ses import OutgoingEmail, SendGate, SesSender
from ..shared.settings import Delivery, Settings
from ..sqs_batch import PartialBatchResponse, SQSRecord
from ..shared.timeouts import SEND_RESERVE_SECONDS

MAX_VISIBILITY_SECONDS = 43_200  # SQS's ceiling: 12 hours
_VISIBILITY_BATCH = 10  # ChangeMessageVisibilityBatch takes at most 10 entries

#: Sends of one batch in flight at once: enough for a batch of 10 (SQS's largest for these lanes).
MAX_PARALLEL_SENDS = 10
#: New slots a late send may book before it goes out anyway (late by at most one wake-up).
_REBOOKINGS = 3
#: Sends of one email within an invocation: the first, and one at a new slot after a throttle.
_SEND_ATTEMPTS = 2

Composer = Callable[[EmailRequest, Settings], OutgoingEmail]
T = TypeVar("T")


def entry_point(compose: Composer, clients: Clients, *, clock: Callable[[], float] = time.time) -> Handler:
    """A Lambda handler for a lane that sends what `compose` builds.

    The processor is built on the first invocation, not at import: importing a handler module
    creates clients but reads no settings, so tests and tools can import it freely.

    Args:
        compose: builds the outgoing email from a request.
        clients: the module-scope AWS clients.
        clock: wall-clock seconds, for idempotency leases and TTLs (injectable for tests).
    """

    @functools.cache
    def processor() -> LaneProcessor:
        return LaneProcessor.build(
            Settings.from_environ(), compose, ses_client=clients.ses, sqs_client=clients.sqs,
            dynamodb_client=clients.dynamodb, clock=clock,
        )

    def handler(event: dict[str, Any], context: Any) -> PartialBatchResponse:
        return processor().handle(event, context)

    return handler


def retry_delay(receive_count: int, base_seconds: int, max_seconds: int) -> int:
    """Visibility delay before the next attempt: base x 2^(receives - 1), capped.

    With the defaults (30 s base, 15 min cap) and the default max receive count of 8, a message
    survives about an hour of continuous failure before the queue's redrive dead-letters it.
    """
    exponent = max(0, receive_count - 1)
    return int(min(max_seconds, base_seconds * 2**min(exponent, 20), MAX_VISIBILITY_SECONDS))


class Deferred(Exception):
    """Raised for a record that stays on the queue: it becomes a batch item failure."""


@dataclass
class _Batch:
    """State shared by the records of one invocation, and by its send threads."""

    context: Any
    #: Closed by the first failure that stops the batch (SES said stop, time ran out): see `SendGate`.
    gate: SendGate = field(default_factory=SendGate)
    delays: dict[str, int] = field(default_factory=dict)
    kept: set[str] = field(default_factory=set)
    #: Why each kept record (by message id) was kept.
    reasons: dict[str, EmailError] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    crash: BaseException | None = None

    @property
    def stop(self) -> EmailError | None:
        return self.gate.stop

    def keep(self, record: SQSRecord) -> None:
        with self.lock:
            self.kept.add(record["messageId"])

    def remaining_seconds(self) -> float:
        return float(self.context.get_remaining_time_in_millis()) / 1000


@dataclass(frozen=True)
class _Ready:
    """A record that parsed and composed: what to send, and the log context it was prepared in."""

    record: SQSRecord
    request: EmailRequest
    email: OutgoingEmail
    log_context: dict[str, Any]


class LaneProcessor:
    """Processes SQS batches for one lane: validate, compose, book slots, send once, sort failures.

    A batch is handled in two steps. Every record is parsed and composed first, so the lane knows
    how many recipients it must book; then the ready emails are booked on the send schedule (in
    one booking, or horizon-sized ones for a lane that is not urgent) and sent in parallel, each
    at its own slot.

    Args:
        settings: the function's settings; needs queue URLs, the lane and the state table.
        compose: builds the outgoing email from a request; raises `InvalidEvent` to reject.
        sender: the shared SES send module.
        once: the idempotency guard.
        sqs_client: for dead-lettering and visibility changes.
        pacing: books send slots (on the stack's schedule, or locally without it).
        clock: epoch seconds, the pacing's clock.
        sleep: how to wait for a slot (injectable for tests).
        parallel_sends: sends of one batch in flight at once; 1 sends in order on the calling thread.
    """

    def __init__(
        self,
        settings: Settings,
        compose: Composer,
        sender: SesSender,
        once: OnceOnly,
        sqs_client: Any,
        pacing: Pacing,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        parallel_sends: int = MAX_PARALLEL_SENDS,
    ) -> None:
        self._settings = settings.require("lane", "queue_url", "dead_letter_queue_url", "state_table")
        self._compose = compose
        self._sender = sender
        self._once = once
        self._sqs = sqs_client
        self._pacing = pacing
        self._clock = clock
        self._sleep = sleep
        self._parallel_sends = max(1, parallel_sends)
        self._log = log.get_logger()

    @classmethod
    def build(
        cls, settings: Settings, compose: Composer, *, ses_client: Any, sqs_client: Any, dynamodb_client: Any,
        clock: Callable[[], float] = time.time,
    ) -> LaneProcessor:
        """Wire a processor from settings and clients (the handlers' module-scope clients)."""
        once = OnceOnly(
            table_name=settings.state_table,
            ttl_seconds=settings.record_ttl_seconds,
            key_prefix=f"{settings.stack}.{settings.lane}",
            dynamodb_client=dynamodb_client,
            clock=clock,
        )
        sender = SesSender(settings, ses_client)
        schedule = SendSchedule(settings.state_table, settings.stack, dynamodb_client, clock=clock)
        pacing = Pacing(schedule, sender.send_rate, fallback_share(settings), urgent=settings.lane_urgent,
                        clock=clock)
        return cls(settings, compose, sender, once, sqs_client, pacing, clock=clock)

    def handle(self, event: dict[str, Any], context: Any) -> PartialBatchResponse:
        """Lambda entry point for an SQS event with `ReportBatchItemFailures`.

        Each record that must stay on the queue is reported, in the batch's order; Lambda deletes
        every other one when the invocation returns.
        """
        self._once.register_lambda_context(context)
        batch = _Batch(context)
        records: list[SQSRecord] = event.get("Records", [])
        ready: list[_Ready] = []
        for record in records:
            self._bind(record, batch)
            prepared = self._guarded(record, batch, lambda record=record: self._prepare(record, batch))
            if prepared is not None:
                ready.append(prepared)
        structlog.contextvars.clear_contextvars()
        with self._once.batch():  # one write records every email the batch sent
            self._send_all(ready, batch)
        self._dead_letter_last_receives(records, batch)
        structlog.contextvars.clear_contextvars()
        self._apply_delays(batch.delays)
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in records
                                      if record["messageId"] in batch.kept]}

    def _bind(self, record: SQSRecord, batch: _Batch) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            lane=self._settings.lane,
            sqs_message_id=record["messageId"],
            request_id=getattr(batch.context, "aws_request_id", ""),
            receive_count=_receive_count(record),
        )

    def _guarded(self, record: SQSRecord, batch: _Batch, step: Callable[[], T]) -> T | None:
        """Run one step for one record; whatever it raises, only this record's fate depends on it."""
        try:
            try:
                return step()
            except EmailError as exc:
                self._treat(record, batch, exc)
            except Deferred:
                raise
            except Exception as exc:  # noqa: BLE001 - one record must never fail its batch
                # Only the type is logged: an exception's text or traceback may quote the event.
                internal = EmailError(f"unexpected {type(exc).__name__} while processing this record",
                                      code="InternalError")
                self._log.error(log.RECORD_FAILED, error_code=internal.code, error_type=type(exc).__name__)
                self._dead_letter(record, internal)
        except Deferred:
            batch.keep(record)
        return None

    def _prepare(self, record: SQSRecord, batch: _Batch) -> _Ready:
        if batch.stop is not None:
            self._defer(record, batch, batch.stop, batch.stop.fate)
        request = parse_event(record["body"])
        structlog.contextvars.bind_contextvars(event_id=request.event_id)
        email = self._compose(request, self._settings)
        return _Ready(record, request, email, structlog.contextvars.get_contextvars())

    def _treat(self, record: SQSRecord, batch: _Batch, error: EmailError) -> None:
        """Give the record the treatment its failure carries (see `handlers.errors`)."""
        if isinstance(error, NotAttempted):
            self._defer(record, batch, error.cause, error.cause.fate)
        if error.stops_batch:
            batch.gate.close(error)  # SES said stop or slow down, or time is up: the rest would fail too
        if error.lane_log_event is not None:
            self._log.error(error.lane_log_event, **error.log_fields())
        fate = self._decide(error)
        if fate is Fate.DEAD_LETTER:
            self._dead_letter(record, error)
        else:
            self._defer(record, batch, error, fate)

    # --- sending ---------------------------------------------------------------------------------

    def _send_all(self, ready: Sequence[_Ready], batch: _Batch) -> None:
        """Send the ready emails; a second event with a key already in the batch goes after the first.

        Sent in parallel, two events with one idempotency key would race for its claim, and which
        went out would be chance. The first in the batch is sent; a repeat waits for it, then finds
        the key sent (and is skipped) or released (and is sent).
        """
        firsts: list[_Ready] = []
        repeats: list[_Ready] = []
        keys: set[str] = set()
        for item in ready:
            (repeats if item.request.idempotency_key in keys else firsts).append(item)
            keys.add(item.request.idempotency_key)
        self._send_group(firsts, batch)
        if repeats:
            self._send_all(repeats, batch)

    def _send_group(self, ready: Sequence[_Ready], batch: _Batch) -> None:
        """Book slots for emails with distinct keys and send each at its own, `parallel_sends` at once."""
        threads: list[threading.Thread] = []
        in_flight = threading.BoundedSemaphore(self._parallel_sends)
        try:
            self._book_and_start(ready, batch, threads, in_flight)
        finally:
            # Even if booking failed unforeseen: no send may outlive the invocation (a frozen
            # container would resume it later), and the batch record must see every send.
            self._join(threads, batch)

    def _book_and_start(self, ready: Sequence[_Ready], batch: _Batch, threads: list[threading.Thread],
                        in_flight: threading.BoundedSemaphore) -> None:
        for chunk in self._chunks(ready):
            sizes = [len(item.email.recipients) for item in chunk]
            size, offsets = slot_offsets(sizes, self._pacing.account_rate())
            block = None
            if batch.stop is None:
                block = self._pacing.book(size, self._latest_start(batch))
                if block is None:
                    batch.gate.close(NearTimeout(f"no {size} send slot(s) free before the invocation's last safe "
                                                 "send; the next invocation takes them"))
            for item, offset in zip(chunk, offsets):
                slot = block.start + offset * block.interval if block is not None else 0.0
                threads.append(self._start(item, slot, batch, in_flight))

    @staticmethod
    def _join(threads: Sequence[threading.Thread], batch: _Batch) -> None:
        for thread in threads:
            if thread.ident is not None:
                thread.join()
        if batch.crash is not None:
            # What ends a thread other than an Exception (SystemExit, say) ends the invocation too,
            # as it would have without threads: Lambda then redelivers the batch.
            raise batch.crash

    def _latest_start(self, batch: _Batch) -> float:
        """The last moment a slot may start: one send's worst case and its record still fit after
        it, even if the send leaves as late as the schedule allows."""
        return self._clock() + batch.remaining_seconds() - SEND_RESERVE_SECONDS - MAX_LATENESS_SECONDS

    def _chunks(self, ready: Sequence[_Ready]) -> list[list[_Ready]]:
        """The bookings: the whole batch for an urgent lane, horizon-sized pieces for the others."""
        if self._pacing.urgent:
            return [list(ready)] if ready else []
        limit = horizon_slots(self._pacing.account_rate())
        chunks: list[list[_Ready]] = []
        booked = limit
        for item in ready:
            count = len(item.email.recipients)
            if booked + count > limit:
                chunks.append([])
                booked = 0
            chunks[-1].append(item)
            booked += count
        return chunks

    def _start(self, item: _Ready, slot: float, batch: _Batch, in_flight: threading.BoundedSemaphore) -> \
            threading.Thread:
        """Send one email at its slot on a thread of its own (at most `parallel_sends` at once).

        botocore clients are thread-safe; each thread logs in a fresh context holding its record's fields.
        """
        def run() -> None:
            try:
                contextvars.Context().run(self._send_one, item, slot, batch)
            except BaseException as exc:  # noqa: BLE001 - not an Exception: it ends the invocation (see _send_all)
                batch.crash = exc
                if self._parallel_sends == 1:
                    raise
            finally:
                in_flight.release()

        in_flight.acquire()
        thread = threading.Thread(target=run, name=f"{threading.current_thread().name}/send", daemon=True)
        if self._parallel_sends == 1:
            thread.run()  # in order, on this thread: what tests with a scripted clock need
        else:
            thread.start()
        return thread

    def _send_one(self, item: _Ready, slot: float, batch: _Batch) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(**item.log_context)
        self._guarded(item.record, batch, lambda: self._send_once(item, slot, batch))

    def _send_once(self, item: _Ready, slot: float, batch: _Batch) -> None:
        if batch.stop is not None:
            self._defer(item.record, batch, batch.stop, batch.stop.fate)
        # An operator who redrives an OutcomeUnknown dead letter has decided to send it again.
        resend = self._settings.delivery is Delivery.AT_LEAST_ONCE or _redriven_unknown(item.record)
        self._once.run(item.request.idempotency_key, lambda: self._send_at(item.email, slot, batch),
                       resend_unknown=resend)

    def _send_at(self, email: OutgoingEmail, slot: float, batch: _Batch) -> str:
        """Wait for the email's slot, then send, unless the batch stopped or time ran short meanwhile.

        A throttle proves SES sent nothing. Under the schedule it means a send arrived off its slot
        (or something else in the account is sending), so the email is tried once more at a new
        slot; a second throttle stops the batch (see `handlers.errors.SendThrottled`).
        """
        for attempt in range(1, _SEND_ATTEMPTS + 1):
            self._wait_for_slot(slot, len(email.recipients), batch)
            if batch.stop is not None:
                raise NotAttempted(batch.stop)
            self._check_time_budget(batch)
            try:
                return self._sender.send(email, batch.gate)
            except SendThrottled as throttled:
                if attempt == _SEND_ATTEMPTS:
                    batch.gate.close(throttled)  # now: the batch's other sends check the gate as they start
                    raise
            except EmailError as error:
                if error.stops_batch:
                    batch.gate.close(error)
                raise
            slot = self._book_again(len(email.recipients), batch)
        raise AssertionError("unreachable")

    def _book_again(self, recipients: int, batch: _Batch) -> float:
        """A new slot for one email whose slot passed; stops the batch if none is left in time."""
        size, [offset] = slot_offsets([recipients], self._pacing.account_rate())
        block = self._pacing.book(size, self._latest_start(batch))
        if block is None:
            raise NotAttempted(batch.gate.close(NearTimeout("no send slot free before the invocation's last safe send")))
        return block.start + offset * block.interval

    def _wait_for_slot(self, slot: float, recipients: int, batch: _Batch) -> None:
        """Sleep until the slot; one missed by more than the schedule allows gets a new slot.

        A send that leaves late (its claim was slow, the thread woke late) lands beside the next
        slot's and can put R + 1 in some second. Its slot is gone, so it books another (one more
        write, rare) rather than go out late.
        """
        for rebookings in range(_REBOOKINGS + 1):
            wait = slot - self._clock()
            if wait > 0:
                self._sleep(wait)
            if self._clock() - slot <= MAX_LATENESS_SECONDS or batch.stop is not None or rebookings == _REBOOKINGS:
                return
            slot = self._book_again(recipients, batch)

    def _decide(self, error: EmailError) -> Fate:
        """The failure's fate; for an unknown outcome, the lane's delivery policy, logged and counted."""
        if error.fate is not Fate.BY_DELIVERY_POLICY:
            return error.fate
        if self._settings.delivery is Delivery.AT_LEAST_ONCE:
            self._log.warning(log.EMAIL_OUTCOME_UNKNOWN, decision="retry", **error.log_fields())
            return Fate.RETRY_LATER
        self._log.error(log.EMAIL_OUTCOME_UNKNOWN, decision="dead_letter", **error.log_fields())
        return Fate.DEAD_LETTER

    def _check_time_budget(self, batch: _Batch) -> None:
        """Start no send that Lambda could cut off: the send's worst case and its record must fit."""
        remaining_ms = batch.context.get_remaining_time_in_millis()
        reserve_ms = 1000 * SEND_RESERVE_SECONDS
        if remaining_ms < reserve_ms:
            raise NotAttempted(batch.gate.close(NearTimeout(f"{remaining_ms} ms left, {reserve_ms:.0f} ms needed for "
                                                            "one send")))

    def _defer(self, record: SQSRecord, batch: _Batch, reason: EmailError, fate: Fate) -> None:
        """Keep the record on the queue, visible again after the delay its fate asks for."""
        settings = self._settings
        delays = {
            Fate.RETRY_NOW: lambda: 0,  # nothing is wrong with it; let the next invocation take it
            Fate.HOLD: lambda: settings.halt_delay_seconds,
            Fate.RETRY_LATER: lambda: retry_delay(
                _receive_count(record), settings.retry_base_delay_seconds, settings.retry_max_delay_seconds),
        }
        delay = delays[fate]()
        with batch.lock:
            batch.delays[record["receiptHandle"]] = delay
            batch.reasons[record["messageId"]] = reason
        self._log.warning(log.EMAIL_DEFERRED, error_code=reason.code, retry_in_seconds=delay)
        raise Deferred(reason.code) from reason

    def _dead_letter_last_receives(self, records: Sequence[SQSRecord], batch: _Batch) -> None:
        """A record kept on its last receive goes to the DLQ now, with why it was kept (`ReceivesExhausted`)."""
        for record in records:
            receives, reason = _receive_count(record), batch.reasons.get(record["messageId"])
            if record["messageId"] not in batch.kept or reason is None or receives < self._settings.max_receive_count:
                continue
            self._bind(record, batch)
            exhausted = ReceivesExhausted(reason, receives)
            self._log.error(log.RECEIVES_EXHAUSTED, **exhausted.log_fields())
            try:
                self._dead_letter(record, exhausted)
            except Deferred:
                continue  # still kept: the queue's redrive takes it, without the reason
            batch.kept.discard(record["messageId"])
            batch.delays.pop(record["receiptHandle"], None)

    def _dead_letter(self, record: SQSRecord, error: EmailError) -> None:
        """Copy the message to the lane's DLQ with the reason attached, then let Lambda delete it."""
        try:
            send_to_dead_letter_queue(self._sqs, self._settings.dead_letter_queue_url, record, error,
                                      self._settings.lane)
        except (ClientError, BotoCoreError) as exc:
            # Not deleted: the message stays on the lane and is retried, so nothing is lost.
            self._log.error(log.DEAD_LETTER_FORWARD_FAILED, error_code=type(exc).__name__)
            raise Deferred("DeadLetterForwardFailed") from exc

    def _apply_delays(self, delays: dict[str, int]) -> None:
        entries = [
            {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": delay}
            for index, (handle, delay) in enumerate(delays.items())
        ]
        for start in range(0, len(entries), _VISIBILITY_BATCH):
            chunk = entries[start : start + _VISIBILITY_BATCH]
            try:
                result = self._sqs.change_message_visibility_batch(
                    QueueUrl=self._settings.queue_url, Entries=chunk
                )
                failed = len(result.get("Failed", []))
            except (ClientError, BotoCoreError):
                failed = len(chunk)
            if failed:
                # The messages are still kept; they return after the queue's visibility timeout.
                self._log.warning(log.VISIBILITY_CHANGE_FAILED, count=failed)


def _receive_count(record: SQSRecord) -> int:
    return int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))


def _redriven_unknown(record: SQSRecord) -> bool:
    """Whether this message is a dead letter of an unknown outcome that an operator moved back."""
    failure = record.get("messageAttributes", {}).get("FailureCode", {})
    return failure.get("stringValue") == OutcomeUnknown.code
