"""One record per sent message of what SES said became of it: each recipient's latest status, and the history.

The record lives in the state table, under `<stack>#status#<SES message id>`, so the
operator tool's `trace` goes from an idempotency key to the message id its claim recorded, then
here, with two reads and no Logs Insights. It expires like the claims (the table's TTL).

Item layout:

| attribute            | what                                                            |
|----------------------|-----------------------------------------------------------------|
| `r_<recipient hash>` | the recipient's latest status: `status`, `rank`, `at`, `domain`, `details` |
| `history`            | every status taken, in the order it was recorded                |
| `seen`               | `<status>@<time>/<recipient hash>` of each recorded outcome: a repeated SES event changes nothing |
| `version`            | how many writes the record has had: each write names the one it read |
| `event_id`, `key_hash`, `lane`, `template`, `source`, `ses_message_id`, `sent_at` | the send, from its tags |

SES events can arrive twice and out of order (EventBridge delivers at least once and does not
order; a delay can follow a delivery in the queue). `classify` reads the record once (strongly
consistent) and keeps only the outcomes that are new and do not lower a recipient's status
(`ses_events.Status.rank`); `save` writes them in one update on condition that the record is
still the version `classify` read (optimistic locking, DynamoDB Developer Guide, "Condition
expressions"). So whatever else wrote meanwhile (another instance raising a recipient, a second
copy of the same SES event, or this very write retried by botocore after its answer was lost), the
write is refused and classified again: an outcome is never recorded twice and a status never
lowered. The condition is one comparison, whatever the number of recipients: SES's 50 recipients
stay far inside DynamoDB's 4 KB per expression.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..log import recipient_hash
from .ses_events import FINAL_RANK, SesEvent, Status
from ..shared.status_names import recipient_attribute, record_id

#: DynamoDB's answer when a condition refused the write (botocore's dynamodb model).
CONDITION_FAILED = "ConditionalCheckFailedException"
#: The record's write counter (see the module docstring).
_VERSION = "version"


@dataclass(frozen=True)
class RecipientOutcome:
    """One recipient's outcome in one SES event."""

    event: SesEvent
    address: str
    hash: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def seen_key(self) -> str:
        """What the outcome is known by, whichever delivery of whichever copy of the SES event brought it."""
        return f"{self.event.status.value}@{self.event.occurred_at}/{self.hash}"


def outcomes(event: SesEvent, key: bytes) -> list[RecipientOutcome]:
    """The event's outcomes, one per recipient it names."""
    return [RecipientOutcome(event, address, recipient_hash(address, key)) for address in event.recipients]


@dataclass(frozen=True)
class Classified:
    """An event's outcomes against the record: which to publish and record, which were seen or are stale.

    `after_delivery` are transient bounces of recipients already delivered: an automatic reply
    (an out-of-office; SES's mailbox simulator's `ooto@` plays one) reached SES after the message
    reached the mailbox. They are published and kept in the history, but the recipient stays
    delivered. A transient bounce of a recipient not delivered is SES giving up: bounced.
    `subscription_changes` are unsubscribes and resubscribes (`ses_events.SUBSCRIPTION_STATUSES`):
    published and kept in the history whatever the delivery came to, never its latest status.
    `version` is the record's as read: the write of these outcomes is conditional on it.
    """

    fresh: list[RecipientOutcome]
    repeated: list[RecipientOutcome]
    stale: list[RecipientOutcome]
    after_delivery: list[RecipientOutcome] = field(default_factory=list)
    version: int = 0
    subscription_changes: list[RecipientOutcome] = field(default_factory=list)

    @property
    def history_only(self) -> list[RecipientOutcome]:
        """What is published and recorded in the history, leaving the recipient's latest status as it is."""
        return [*self.after_delivery, *self.subscription_changes]

    @property
    def to_record(self) -> list[RecipientOutcome]:
        return [*self.fresh, *self.history_only]


class StatusRecords:
    """Reads and writes the status records of one stack.

    Args:
        table_name: the stack's table.
        stack: the stack's name, the records' key prefix.
        ttl_seconds: how long a record outlives its last event.
        dynamodb_client: a botocore DynamoDB client.
        clock: seconds since the epoch.
    """

    def __init__(self, table_name: str, stack: str, ttl_seconds: int, dynamodb_client: Any,
                 clock: Callable[[], float] = time.time) -> None:
        self._table = table_name
        self._stack = stack
        self._ttl = ttl_seconds
        self._dynamodb = dynamodb_client
        self._clock = clock

    def classify(self, found: Sequence[RecipientOutcome]) -> Classified:
        """Split one event's outcomes by what the message's record already holds.

        Raises:
            botocore's ClientError or BotoCoreError: the record could not be read.
        """
        if not found:
            return Classified([], [], [])
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"id": {"S": record_id(self._stack, found[0].event.ses_message_id)}},
            ConsistentRead=True,
            ProjectionExpression="#seen, #v, " + ", ".join(f"#r{i}" for i in range(len(found))),
            ExpressionAttributeNames={"#seen": "seen", "#v": _VERSION,
                                      **{f"#r{i}": recipient_attribute(o.hash) for i, o in enumerate(found)}},
        ).get("Item", {})
        seen = set(item.get("seen", {}).get("SS", []))
        fresh, repeated, stale, after_delivery, changes = [], [], [], [], []
        for outcome in found:
            recorded = item.get(recipient_attribute(outcome.hash), {}).get("M", {})
            if outcome.seen_key in seen:
                repeated.append(outcome)
            elif outcome.event.subscription_change:
                changes.append(outcome)
            elif outcome.event.transient_bounce and recorded.get("status", {}).get("S") == Status.DELIVERED.value:
                after_delivery.append(outcome)
            elif _lowers(int(recorded.get("rank", {}).get("N", "0")), outcome.event.rank):
                stale.append(outcome)
            else:
                fresh.append(outcome)
        version = int(item.get(_VERSION, {}).get("N", "0"))
        return Classified(fresh, repeated, stale, after_delivery, version, changes)

    def save(self, classified: Classified) -> bool:
        """Record the fresh outcomes (and the `history_only` ones, which leave the latest status as it is).

        Returns False when the record changed since `classify` read it (nothing is written then):
        classify again, against what is there now.

        Raises:
            botocore's ClientError (other than a refused condition) or BotoCoreError.
        """
        fresh, history_only = classified.fresh, classified.history_only
        if not (fresh or history_only):
            return True
        event = classified.to_record[0].event
        now = int(self._clock())
        names: dict[str, str] = {"#seen": "seen", "#history": "history", "#exp": "expiration", "#v": _VERSION}
        values: dict[str, Any] = {
            ":seen": {"SS": [o.seen_key for o in classified.to_record]},
            ":history": {"L": [{"M": _history_entry(o)} for o in classified.to_record]},
            ":none": {"L": []},
            ":exp": {"N": str(now + self._ttl)},
            ":next": {"N": str(classified.version + 1)},
        }
        assignments = ["#history = list_append(if_not_exists(#history, :none), :history)", "#exp = :exp",
                       "#v = :next"]
        for index, outcome in enumerate(fresh):
            names[f"#r{index}"] = recipient_attribute(outcome.hash)
            values[f":r{index}"] = {"M": _latest(outcome)}
            assignments.append(f"#r{index} = :r{index}")
        for index, (name, value) in enumerate(_send_fields(event).items()):
            names[f"#m{index}"] = name
            values[f":m{index}"] = {"S": value}
            assignments.append(f"#m{index} = :m{index}")
        if classified.version:
            condition = "#v = :read"
            values[":read"] = {"N": str(classified.version)}
        else:
            condition = "attribute_not_exists(#v)"
        try:
            self._dynamodb.update_item(
                TableName=self._table, Key={"id": {"S": record_id(self._stack, event.ses_message_id)}},
                UpdateExpression="SET " + ", ".join(assignments) + " ADD #seen :seen",
                ConditionExpression=condition, ExpressionAttributeNames=names, ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == CONDITION_FAILED:
                return False
            raise
        return True


def _lowers(recorded_rank: int, rank: int) -> bool:
    """Whether an outcome of `rank` would lower (or replace a final) status of `recorded_rank`.

    A final status stays: the first hard bounce, complaint, rejection or rendering failure recorded
    is the recipient's last word, so producers never see two different final statuses.
    """
    return recorded_rank > rank or recorded_rank == FINAL_RANK


def _latest(outcome: RecipientOutcome) -> dict[str, Any]:
    event = outcome.event
    return {"status": {"S": event.status.value}, "rank": {"N": str(event.rank)},
            "at": {"S": event.occurred_at}, "domain": {"S": outcome.domain},
            "details": {"M": {k: {"S": v} for k, v in event.details.items()}}}


def _history_entry(outcome: RecipientOutcome) -> dict[str, Any]:
    return {**_latest(outcome), "recipient": {"S": outcome.hash}, "ses_event_id": {"S": outcome.event.event_id}}


def _send_fields(event: SesEvent) -> Mapping[str, str]:
    sent = event.sent
    fields = {"ses_message_id": event.ses_message_id, "sent_at": event.sent_at, "event_id": sent.event_id,
              "key_hash": sent.key_hash, "lane": sent.lane, "template": sent.template, "source": sent.source}
    return {name: value for name, value in fields.items() if value}
