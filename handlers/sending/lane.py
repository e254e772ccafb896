"""One SQS batch of a lane, from its records to SES: compose each, book the batch's slots, send each at its own.

A batch goes in two steps, each record in its own log context (`handlers.sqs_batch.SqsBatch`):

1. Every record is parsed (`contract.parse_event`) and composed by the lane's `compose`, so the
   lane knows how many recipients it must book. A record that cannot be sent as it is ends here
   with its `InvalidEvent`.
2. The ready emails are booked on the stack's send schedule (`handlers.scheduling`; the whole
   batch at once for an urgent lane, horizon-sized pieces for the others) and sent in parallel,
   each at its own slot, each at most once per idempotency key (`handlers.idempotency`), through
   the one SES module (`ses.SesSender`). Two events with one key go one after the other.

Each record ends with a result: the SES message id, or the `EmailError` that explains why not;
`SqsBatch.finish` gives each failure the fate its kind carries (dead letter, retry after a delay,
hold) and answers Lambda with the partial batch response. Along the way:

- SES's answers that stop the batch (sending paused, the daily quota, a second throttle, the
  stack not authorized) close the batch's `SendGate`: no send of the batch starts after that,
  checked once each request is signed; the rest are `NotAttempted` and share the stop's fate;
- no send starts without the worst case of one send and its record left in the invocation
  (`timeouts.SEND_RESERVE_SECONDS`), so a timeout never cuts off a send that went out;
- a throttle proves SES sent nothing: the email is tried once more at a new slot;
- a chunk's slots are booked once its requests are ready (claimed, built, signed), so a send's
  own work never makes it late; each waits for its slot at the last moment, and one that would
  still leave later than the schedule allows books a new slot rather than go out late; how late
  each left and how many new slots it needed are on its `email_sent` line (`slot_late_ms`,
  `rebookings`);
- an unknown outcome (SES never answered) goes by the lane's delivery policy: at most once
  dead-letters it, at least once sends it again; an operator who redrives such a dead letter
  (`FailureCode=OutcomeUnknown`) has decided to send it again.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, NamedTuple

from .. import entry, log
from ..clients import Clients
from ..entry import Handler
from ..errors import EmailError, Fate, NearTimeout, NotAttempted, OutcomeUnknown, SendThrottled
from ..idempotency.once_only import OnceOnly
from ..scheduling.pacing import BlockBooking, Departure, Pacing, SlotMissed, fallback_share, slot_offsets
from ..scheduling.schedule import MAX_LATENESS_SECONDS, SendSchedule, horizon_slots
from ..shared import table_keys
from ..shared.settings import Delivery, Settings
from ..shared.timeouts import SEND_RESERVE_SECONDS
from ..sqs_batch import PartialBatchResponse, Queue, SqsBatch, SQSRecord
from .contract import EmailRequest, parse_event
from .send_gate import SendGate
from .ses import OutgoingEmail, SesSender

#: Sends of one batch in flight at once: enough for a batch of 10 (SQS's largest for these lanes).
MAX_PARALLEL_SENDS = 10

Composer = Callable[[EmailRequest, Settings], OutgoingEmail]


def entry_point(compose: Composer, clients: Clients, *, clock: Callable[[], float] = time.time,
                sleep: Callable[[float], None] = time.sleep) -> Handler:
    """A lane's Lambda handler: logging set up now, the lane built from the environment on first use."""
    return entry.lambda_handler(
        lambda: LaneHandler.build(Settings.from_environ(), compose, clients, clock=clock, sleep=sleep))


class _Ready(NamedTuple):
    """A record that parsed and composed: what to send."""

    record: SQSRecord
    request: EmailRequest
    email: OutgoingEmail


class _Invocation(NamedTuple):
    """What the sends of one invocation share: its records' work, its gate, its deadline."""

    batch: SqsBatch
    gate: SendGate
    context: Any

    def remaining_seconds(self) -> float:
        return float(self.context.get_remaining_time_in_millis()) / 1000


class LaneHandler:
    """Sends one lane's SQS batches (see the module docstring); `build` wires it.

    Args:
        settings: the function's settings; needs the lane, its queues and the state table.
        compose: builds the outgoing email from a request; raises `InvalidEvent` to refuse it.
        sender: the shared SES send module.
        once: the idempotency guard.
        pacing: books send slots (on the stack's schedule, or locally without it).
        sqs_client: for dead letters and visibility changes.
        clock: epoch seconds, the pacing's clock.
        sleep: how to wait for a slot.
        parallel_sends: sends of one batch in flight at once; 1 sends in order on the calling thread.
    """

    def __init__(self, settings: Settings, compose: Composer, sender: SesSender, once: OnceOnly, pacing: Pacing,
                 sqs_client: Any, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, parallel_sends: int = MAX_PARALLEL_SENDS) -> None:
        self._settings = settings.require("lane", "queue_url", "dead_letter_queue_url", "state_table")
        self._queue = Queue(settings.lane, settings.queue_url, settings.dead_letter_queue_url,
                            settings.max_receive_count, settings.retry_base_delay_seconds,
                            settings.retry_max_delay_seconds, settings.halt_delay_seconds)
        self._compose = compose
        self._sender = sender
        self._once = once
        self._pacing = pacing
        self._sqs = sqs_client
        self._clock = clock
        self._sleep = sleep
        self._parallel_sends = max(1, parallel_sends)
        self._pool = ThreadPoolExecutor(parallel_sends, thread_name_prefix="send") if parallel_sends > 1 else None
        self._log = log.get_logger()

    @classmethod
    def build(cls, settings: Settings, compose: Composer, clients: Clients, *,
              clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
              parallel_sends: int = MAX_PARALLEL_SENDS) -> LaneHandler:
        """The one wiring of a lane, from settings and clients: Lambda's, the emulator's and the tests' alike."""
        once = OnceOnly(settings.state_table, settings.record_ttl_seconds, table_keys.claim_prefix(settings.stack, settings.lane),
                        clients.dynamodb, clock=clock)
        sender = SesSender(settings, clients.ses, clock=clock, sleep=sleep)
        schedule = SendSchedule(settings.state_table, settings.stack, clients.dynamodb, clock=clock, sleep=sleep)
        pacing = Pacing(schedule, sender.send_rate, fallback_share(settings), urgent=settings.lane_urgent,
                        clock=clock)
        return cls(settings, compose, sender, once, pacing, clients.sqs, clock=clock, sleep=sleep,
                   parallel_sends=parallel_sends)

    def __call__(self, event: dict[str, Any], context: Any) -> PartialBatchResponse:
        """Lambda's entry for an SQS event: every record ends sent, dead-lettered with its reason, or kept."""
        batch = SqsBatch(event, context, self._queue, self._sqs, unforeseen=Fate.DEAD_LETTER,
                         decide=self._by_delivery_policy)
        self._once.register_lambda_context(context)
        results: dict[str, object] = dict(batch.each(self._prepare))
        ready = [result for result in results.values() if isinstance(result, _Ready)]
        with self._once.batch():  # one write records every email the batch sent
            results.update(self._send_all(ready, _Invocation(batch, SendGate(), context)))
        return batch.finish(results)

    # --- 1. composing ----------------------------------------------------------------------------

    def _prepare(self, record: SQSRecord) -> _Ready:
        request = parse_event(record["body"])
        log.bind(event_id=request.event_id)  # every later line about the record names its event
        return _Ready(record, request, self._compose(request, self._settings))

    # --- 2. sending -------------------------------------------------------------------------------

    def _send_all(self, ready: Sequence[_Ready], invocation: _Invocation) -> dict[str, object]:
        """Each email's result; an email whose key is already in the batch goes after the first.

        Sent in parallel, two events with one idempotency key would race for its claim, and which
        went out would be chance. The first in the batch is sent; a repeat waits for it, then finds
        the key sent (and is skipped) or released (and is sent).
        """
        results: dict[str, object] = {}
        while ready:
            firsts: dict[str, _Ready] = {}
            for item in ready:
                firsts.setdefault(item.request.idempotency_key, item)
            results.update(self._send_group(list(firsts.values()), invocation))
            ready = [item for item in ready if firsts[item.request.idempotency_key] is not item]
        return results

    def _send_group(self, group: Sequence[_Ready], invocation: _Invocation) -> dict[str, object]:
        """Emails with distinct keys, sent `parallel_sends` at once: each chunk booked once its requests are ready."""
        with _Parallel(self._pool) as sends:
            for chunk in self._chunks(group):
                booking = BlockBooking([len(item.email.recipients) for item in chunk],
                                       lambda counts: self._book(counts, invocation), self._parallel_sends)
                for index, item in enumerate(chunk):
                    departure = Departure(booking, index, self._clock, self._sleep,
                                          lambda: self._may_start(invocation), lambda: invocation.gate.stop is not None)
                    sends.submit(item.record["messageId"],
                                 functools.partial(self._send_one, item, departure, invocation))
        return sends.results

    def _send_one(self, item: _Ready, departure: Departure, invocation: _Invocation) -> object:
        """One email's result, worked out in its record's log context (on a send thread)."""
        try:
            return invocation.batch.work(item.record, lambda: self._send_once(item, departure, invocation))
        finally:
            departure.abandon()  # if it never got ready: its block is booked without it

    def _send_once(self, item: _Ready, departure: Departure, invocation: _Invocation) -> str:
        """Send one email once, at its slot: SES's message id, or the typed failure that explains why not."""
        # An operator who redrives an OutcomeUnknown dead letter has decided to send it again.
        resend = self._settings.delivery is Delivery.AT_LEAST_ONCE or _redriven_unknown(item.record)
        return self._once.run(item.request.idempotency_key,
                              lambda: self._send_at(item.email, departure, invocation), resend_unknown=resend)

    def _send_at(self, email: OutgoingEmail, departure: Departure, invocation: _Invocation) -> str:
        """Send at the email's slot, unless the batch stopped or time ran short meanwhile.

        The request is built and signed first, then handed to its departure at the last moment,
        once botocore is about to put it on the wire (`handlers.scheduling.pacing.Departure`): the
        block is booked once every request of it is ready, and what a send leaves to do after its
        slot is next to nothing, however little CPU the function has. One that would still leave
        later than the schedule allows books a new slot instead. A throttle proves SES sent nothing:
        under the schedule it means a send arrived off its slot (or something else in the account
        is sending), so the email is tried once more at a new slot; a second throttle stops the
        batch (see `handlers.errors.SendThrottled`).
        """
        while True:
            try:
                return self._sender.send(email, invocation.gate, departure)
            except SlotMissed:
                pass  # a new slot, below
            except SendThrottled as throttled:
                if departure.throttled:
                    invocation.gate.close(throttled)  # now: the batch's other sends check the gate as they start
                    raise
                departure.throttled = True
            except EmailError as error:
                if error.stops_batch:
                    invocation.gate.close(error)
                raise
            departure.rebook(self._book_one(len(email.recipients), invocation))

    def _may_start(self, invocation: _Invocation) -> None:
        """Start no send once the batch stopped, nor one Lambda could cut off (the send's worst case and its record)."""
        remaining_ms = 1000 * invocation.remaining_seconds()
        if remaining_ms < 1000 * SEND_RESERVE_SECONDS:
            invocation.gate.close(NearTimeout(f"{remaining_ms:.0f} ms left, {1000 * SEND_RESERVE_SECONDS:.0f} ms "
                                              "needed for one send"))
        invocation.gate.admit()

    # --- booking ----------------------------------------------------------------------------------

    def _chunks(self, group: Sequence[_Ready]) -> list[list[_Ready]]:
        """The bookings: the whole group for an urgent lane, horizon-sized pieces for the others.

        A chunk never holds more emails than get ready at once (`parallel_sends`): its block is
        booked only when every one of them is ready (`BlockBooking`), and one waiting for a free
        thread never would be.
        """
        limit = math.inf if self._pacing.urgent else horizon_slots(self._pacing.account_rate())
        most = len(group) if self._parallel_sends == 1 else self._parallel_sends
        chunks: list[list[_Ready]] = []
        booked = limit
        for item in group:
            count = len(item.email.recipients)
            if not chunks or booked + count > limit or len(chunks[-1]) == most:
                chunks.append([])
                booked = 0
            chunks[-1].append(item)
            booked += count
        return chunks

    def _book(self, recipients: Sequence[int], invocation: _Invocation) -> list[float | EmailError]:
        """One booking for emails of these recipient counts: each one's slot, or `NotAttempted` when none fits in time."""
        size, offsets = slot_offsets(recipients, self._pacing.account_rate())
        stop = invocation.gate.stop
        block = self._pacing.book(size, self._latest_start(invocation)) if stop is None else None
        if block is None:
            stop = stop or invocation.gate.close(NearTimeout(
                f"no {size} send slot(s) free before the invocation's last safe send; the next invocation takes them"))
            return [NotAttempted(stop) for _count in recipients]
        return [block.start + offset * block.interval for offset in offsets]

    def _book_one(self, recipients: int, invocation: _Invocation) -> float:
        """A new slot for one email whose slot passed (or was throttled); the batch stops if none is left in time."""
        [slot] = self._book([recipients], invocation)
        if isinstance(slot, EmailError):
            raise slot
        return slot

    def _latest_start(self, invocation: _Invocation) -> float:
        """The last moment a slot may start: one send's worst case and its record still fit after
        it, even if the send leaves as late as the schedule allows."""
        return self._clock() + invocation.remaining_seconds() - SEND_RESERVE_SECONDS - MAX_LATENESS_SECONDS

    # --- an unknown outcome -------------------------------------------------------------------------

    def _by_delivery_policy(self, error: EmailError) -> Fate:
        """What the lane does with an email SES may or may not have sent: its policy, logged and counted."""
        if self._settings.delivery is Delivery.AT_LEAST_ONCE:
            self._log.warning(log.EMAIL_OUTCOME_UNKNOWN, decision="retry", **error.log_fields())
            return Fate.RETRY_LATER
        self._log.error(log.EMAIL_OUTCOME_UNKNOWN, decision="dead_letter", **error.log_fields())
        return Fate.DEAD_LETTER


class _Parallel:
    """Runs each send on a thread of the instance's pool, at most `limit` at once; with 1, in order on this thread.

    The pool's threads live as long as the container (starting ten threads for every batch cost
    about a tenth of a millisecond of CPU per email). Leaving the block waits for every send: none
    may outlive the invocation (a frozen container would resume it later), and the batch's record
    must see every send. What ends a send other than an Exception (a killed invocation) ends the
    invocation too, as it would have without threads; Lambda then redelivers the batch. botocore
    clients are thread-safe.
    """

    def __init__(self, pool: ThreadPoolExecutor | None) -> None:
        self._pool = pool
        self._futures: dict[str, Future[object]] = {}
        self.results: dict[str, object] = {}

    def submit(self, key: str, work: Callable[[], object]) -> None:
        if self._pool is None:
            self.results[key] = work()  # in order: what tests with a scripted clock need
        else:
            self._futures[key] = self._pool.submit(work)

    def __enter__(self) -> _Parallel:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        wait(self._futures.values())
        if exc is None:
            self.results.update({key: future.result() for key, future in self._futures.items()})


def _redriven_unknown(record: SQSRecord) -> bool:
    """Whether this message is a dead letter of an unknown outcome that an operator moved back."""
    failure = record.get("messageAttributes", {}).get("FailureCode", {})
    return failure.get("stringValue") == OutcomeUnknown.code
