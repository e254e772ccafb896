"""`email-pipeline dlq list|show|redrive`: read the lanes' dead letters and move them back.

`redrive` is a filtered move: it receives from a lane's DLQ, sends each chosen message to the
lane's queue with its body and all its message attributes, then deletes it from the DLQ. The
attributes matter: the lane reads `FailureCode=OutcomeUnknown` on a redriven message as the
operator's decision to send that email again (it may already have gone out). SQS's native
`start-message-move-task` moves everything and cannot filter by failure code.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .session import Aws
from .dead_letters import DeadLetter, Sample, peek, queue_depths
from .problems import CliError, not_found
from .stack import Stack

OUTCOME_UNKNOWN = "OutcomeUnknown"
#: How long a message received by `redrive` stays hidden while it is being moved (or skipped):
#: long enough that the scan moves on to others; skipped ones are made visible again at the end.
REDRIVE_HOLD_SECONDS = 120
_BATCH = 10
_MAX_EMPTY_RECEIVES = 5
#: SendMessageBatch refuses more than 256 KiB in all: batches are cut below it.
_BATCH_BYTES = 240_000


# --- list and show ---------------------------------------------------------------------------

def collect(stack: Stack, aws: Aws, lane: str | None, *, max_receives: int,
            show_addresses: bool) -> dict[str, Any]:
    """The `dlq list` document: per lane, depth, counts by code and each message read."""
    lanes = {}
    for name in stack.lane_names(lane):
        sample = peek(aws.client("sqs"), name, stack.dead_letter_url(name), max_receives=max_receives)
        lanes[name] = {
            "depth": sample.depth, "in_flight": sample.in_flight, "by_code": sample.by_code(),
            "read": len(sample.letters), "complete": sample.complete,
            "messages": [_entry(letter, show_addresses) for letter in sample.letters],
        }
    return {"stack": stack.prefix, "lanes": lanes}


def _entry(letter: DeadLetter, show_addresses: bool) -> dict[str, Any]:
    entry: dict[str, Any] = letter.summary()
    if show_addresses:
        entry["event"] = letter.shown_event(show_addresses=True)
    return entry


def list_text(document: Mapping[str, Any]) -> str:
    """`dlq list` for a terminal."""
    lines = []
    for lane, found in document["lanes"].items():
        codes = ", ".join(f"{code} {count}" for code, count in found["by_code"].items()) or "empty"
        partial = "" if found["complete"] else f" (read {found['read']} of ~{found['depth']}; --max-receives reads more)"
        lines.append(f"{lane}: {found['depth']} dead letter(s): {codes}{partial}")
        for message in found["messages"]:
            lines.append(f"  {message['message_id']}  event {message['event_id'] or '-'}  {message['code']}"
                         f"  field {message['field'] or '-'}  at {message['failed_at'] or '-'}")
            if message["reason"]:
                lines.append(f"      reason: {message['reason']}")
            if "event" in message:
                lines.append(f"      event: {json.dumps(message['event'], sort_keys=True)}")
    return "\n".join(lines)


def find(stack: Stack, aws: Aws, message_id: str, lane: str | None, *, max_receives: int) -> DeadLetter:
    """The dead letter whose DLQ message id (or EventBridge event id) is `message_id`."""
    for name in stack.lane_names(lane):
        sample = peek(aws.client("sqs"), name, stack.dead_letter_url(name), max_receives=max_receives)
        for letter in sample.letters:
            if message_id in (letter.message_id, letter.event_id):
                return letter
    raise not_found(f"no dead letter with id {message_id!r} in the {', '.join(stack.lane_names(lane))} DLQ(s)",
                    "copy a message id from `email-pipeline dlq list`; a large DLQ may need --max-receives")


def show_document(letter: DeadLetter, show_addresses: bool) -> dict[str, Any]:
    """`dlq show`: the summary and the event (addresses hidden unless asked for)."""
    return {**letter.summary(), "event": letter.shown_event(show_addresses)}


def show_text(document: Mapping[str, Any]) -> str:
    lines = [f"{key.replace('_', ' ')}: {value or '-'}" for key, value in document.items() if key != "event"]
    lines.append("event: " + json.dumps(document["event"], indent=2, sort_keys=True))
    return "\n".join(lines)


# --- redrive ---------------------------------------------------------------------------------

@dataclass
class Moved:
    """What a redrive did: counts by failure code."""

    lane: str
    moved: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    def text(self, code: str | None) -> str:
        verb = "would move" if self.dry_run else "moved"
        lines = [f"{verb} {sum(self.moved.values())} from the {self.lane} DLQ to the {self.lane} lane"
                 + (f": {_counts(self.moved)}" if self.moved else "")]
        if self.skipped:
            why = f" (not {code})" if code else ""
            lines.append(f"left {sum(self.skipped.values())}{why}: {_counts(self.skipped)}")
        if self.failed:
            lines.append(f"FAILED to move {sum(self.failed.values())} (still in the DLQ): {_counts(self.failed)}")
        if self.moved.get(OUTCOME_UNKNOWN):
            lines.append(f"note: the lane sends the {self.moved[OUTCOME_UNKNOWN]} {OUTCOME_UNKNOWN} message(s) again; "
                         "they may already have reached their recipients")
        return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{code} {count}" for code, count in sorted(counter.items()))


def dry_run(stack: Stack, aws: Aws, lane: str, code: str | None, *, max_receives: int) -> tuple[Moved, Sample]:
    """What a redrive would move, from a peek (nothing is received for longer than an instant)."""
    sample = peek(aws.client("sqs"), lane, stack.dead_letter_url(lane), max_receives=max_receives)
    result = Moved(lane, dry_run=True)
    for letter in sample.letters:
        (result.moved if code in (None, letter.code) else result.skipped)[letter.code] += 1
    return result, sample


class Progress:
    """A one-line progress report on stderr, only when stderr is a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._active = self._stream.isatty()
        self._shown = False

    def update(self, moved: Moved) -> None:
        if self._active:
            self._stream.write(f"\rredrive {moved.lane}: moved {sum(moved.moved.values())}, "
                               f"left {sum(moved.skipped.values())}")
            self._stream.flush()
            self._shown = True

    def done(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


def redrive(stack: Stack, aws: Aws, lane: str, code: str | None, *, limit: int | None = None,
            progress: Callable[[Moved], None] = lambda moved: None) -> Moved:
    """Move the lane's dead letters (those with `code`, or all) back to the lane.

    Each message is sent to the lane first and deleted from the DLQ only once the send
    succeeded: an interruption leaves at most a copy in both, and the lane's idempotency skips
    the copy of anything already sent. Messages left behind are made visible again at the end.

    Args:
        stack: the stack's names (the lane's queue and DLQ URLs).
        aws: clients.
        lane: the lane whose DLQ to move back.
        code: move only dead letters with this FailureCode (None: all).
        limit: move at most this many.
        progress: called after each batch with the counts so far.
    """
    sqs = aws.client("sqs")
    source, target = stack.dead_letter_url(lane), stack.queue_url(lane)
    result = Moved(lane)
    left: dict[str, DeadLetter] = {}  # message id -> each message received and not (yet) moved
    try:
        for batch in _scan(sqs, source, lane):
            left.update((letter.message_id, letter) for letter in batch)
            room = None if limit is None else max(0, limit - sum(result.moved.values()))
            chosen = [letter for letter in batch if code in (None, letter.code)][:room]
            chosen_ids = {letter.message_id for letter in chosen}
            result.skipped.update(letter.code for letter in batch if letter.message_id not in chosen_ids)
            for letter in _move(sqs, source, target, chosen, result):
                del left[letter.message_id]
            progress(result)
            if room is not None and room <= len(chosen):
                break
    finally:
        # Hidden while the scan went on: visible again now, not after REDRIVE_HOLD_SECONDS.
        _release(sqs, source, [letter.receipt_handle for letter in left.values()])
    return result


def _scan(sqs: Any, url: str, lane: str) -> Iterable[list[DeadLetter]]:
    """Batches of the DLQ's messages, each received once: hidden while the scan goes on."""
    seen: set[str] = set()
    empty_receives = 0
    while empty_receives < _MAX_EMPTY_RECEIVES:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=_BATCH, VisibilityTimeout=REDRIVE_HOLD_SECONDS, WaitTimeSeconds=0,
            MessageAttributeNames=["All"]).get("Messages", [])
        fresh = [DeadLetter.from_message(lane, message) for message in messages if message["MessageId"] not in seen]
        if fresh:
            empty_receives = 0
            seen.update(letter.message_id for letter in fresh)
            yield fresh
            continue
        # A short poll samples some of SQS's servers: an empty answer is final only if the
        # queue agrees it has nothing visible, or after a few in a row.
        if queue_depths(sqs, url)["visible"] == 0:
            return
        empty_receives += 1


def _move(sqs: Any, source: str, target: str, letters: Sequence[DeadLetter], result: Moved) -> list[DeadLetter]:
    """Send each letter to the lane, then delete the sent ones from the DLQ; return the sent ones."""
    moved = []
    for chunk in _chunks(letters):
        response = sqs.send_message_batch(QueueUrl=target, Entries=[
            {"Id": str(index), "MessageBody": letter.body, "MessageAttributes": _sendable(letter.message_attributes)}
            for index, letter in enumerate(chunk)])
        sent_ids = {int(entry["Id"]) for entry in response.get("Successful", [])}
        sent = [letter for index, letter in enumerate(chunk) if index in sent_ids]
        for index, letter in enumerate(chunk):
            if index not in sent_ids:
                result.failed[letter.code] += 1
        if sent:
            # A failed delete leaves a copy in both queues: the lane's idempotency sends it once.
            sqs.delete_message_batch(QueueUrl=source, Entries=[
                {"Id": str(index), "ReceiptHandle": letter.receipt_handle} for index, letter in enumerate(sent)])
        for letter in sent:
            result.moved[letter.code] += 1
        moved += sent
    return moved


def _chunks(letters: Sequence[DeadLetter]) -> Iterable[list[DeadLetter]]:
    chunk: list[DeadLetter] = []
    size = 0
    for letter in letters:
        letter_size = len(letter.body.encode()) + sum(
            len(name) + len(str(value.get("StringValue", ""))) for name, value in letter.message_attributes.items())
        if chunk and (len(chunk) == _BATCH or size + letter_size > _BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(letter)
        size += letter_size
    if chunk:
        yield chunk


def _sendable(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Received message attributes in SendMessage's shape (only the fields it accepts)."""
    sendable = {}
    for name, value in attributes.items():
        entry = {"DataType": value.get("DataType", "String")}
        if "StringValue" in value:
            entry["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["BinaryValue"] = value["BinaryValue"]
        sendable[name] = entry
    return sendable


def _release(sqs: Any, url: str, handles: Sequence[str]) -> None:
    """Make the messages a redrive left behind visible again at once."""
    for start in range(0, len(handles), _BATCH):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for index, handle in enumerate(handles[start:start + _BATCH])])


def check_code(code: str | None) -> str | None:
    """A failure code as given (`--code`); refuses an empty one."""
    if code is not None and not code.strip():
        raise CliError("--code is empty", "pass a FailureCode as `dlq list` shows it, e.g. InvalidEvent")
    return code
