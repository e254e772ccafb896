"""SES's events about a sent message, read into what each recipient's delivery came to.

SES publishes a message's later events to the account's default EventBridge bus through the
configuration set's event destination. The detail is SES's event record (SES Developer Guide,
"Contents of event data that Amazon SES publishes to Amazon EventBridge"): `eventType`, the `mail`
object (the message id, its recipients in `destination`, its tags as name -> [value]) and one
object for the event's type, which names the recipients it is about:

| detail-type               | eventType           | recipients in                        |
|---------------------------|---------------------|--------------------------------------|
| `Email Delivered`         | `Delivery`          | `delivery.recipients` (addresses)    |
| `Email Bounced`           | `Bounce`            | `bounce.bouncedRecipients[].emailAddress` |
| `Email Complaint Received`| `Complaint`         | `complaint.complainedRecipients[].emailAddress` |
| `Email Delivery Delayed`  | `DeliveryDelay`     | `deliveryDelay.delayedRecipients[].emailAddress` |
| `Email Rejected`          | `Reject`            | the whole message: `mail.destination` |
| `Email Rendering Failed`  | `Rendering Failure` | the whole message: `mail.destination` |
| `Email Subscribed`        | `Subscription`      | the whole message: `mail.destination` |

Two outcomes are read finer than their event type:

- A permanent bounce SES raised itself because a list forbids the address is `suppressed`, not
  `bounced`: sub-type `OnAccountSuppressionList` (the account's suppression list), `Suppressed`
  (SES's global list) or `UnsubscribedRecipient` (the contact unsubscribed from the send's topic;
  SES Developer Guide, "Using list management": "SES will issue a bounce event for a message that
  is sent to an unsubscribed contact", a sub-type the guide does not name: see README, "Topics").
- A `Subscription` event (the recipient used the unsubscribe link or header of this message, or
  SES's preference page) is `unsubscribed` or `resubscribed`: a change of the recipient's
  subscription, beside the delivery order (`SUBSCRIPTION_STATUSES`). Its record names the contact
  list and the topic preferences before and after (SES Developer Guide, "Subscription object").

`parse` checks what it relies on and raises `InvalidSesEvent` naming the field and the rule,
never a value: an event the status handler cannot read is dead-lettered with that reason.
Nothing of SES's free text is kept (a bounce's `diagnosticCode` or a rendering failure's
`errorMessage` can quote an address or template data).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from email.utils import parseaddr
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..shared import correlation, log_events
from ..shared.status_names import SES_SOURCE
from ..errors import InvalidEvent


class Status(str, enum.Enum):
    """What a recipient's delivery came to, as producers read it in a status event."""

    DELAYED = "delayed"
    DELIVERED = "delivered"
    COMPLAINED = "complained"
    BOUNCED = "bounced"
    REJECTED = "rejected"
    RENDERING_FAILED = "rendering_failed"
    SUPPRESSED = "suppressed"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"



#: Order of outcomes: a later SES event with a lower rank never replaces a higher one. A delay
#: precedes a delivery; a delivery can be followed by a complaint or a late (asynchronous) hard
#: bounce; a hard bounce, complaint, rejection or rendering failure ends it. A transient bounce
#: ranks below a delivery: after one it is an automatic reply (an out-of-office), not a failure.
FINAL_RANK = 30
_RANKS = {Status.DELAYED: 10, Status.DELIVERED: 20, Status.COMPLAINED: FINAL_RANK, Status.BOUNCED: FINAL_RANK,
          Status.REJECTED: FINAL_RANK, Status.RENDERING_FAILED: FINAL_RANK, Status.SUPPRESSED: FINAL_RANK,
          Status.UNSUBSCRIBED: 0, Status.RESUBSCRIBED: 0}
TRANSIENT_BOUNCE_RANK = 15
#: Changes of the recipient's subscription, not of the message's delivery: they never raise, lower or
#: end a recipient's delivery status (rank 0, never final), and nothing the delivery did keeps them out.
SUBSCRIPTION_STATUSES = frozenset({Status.UNSUBSCRIBED, Status.RESUBSCRIBED})
#: Permanent bounce sub-types that mean SES sent nothing because a list forbids the address, and
#: which list (the status's `details.list`). SES Developer Guide, "Bounce types" (`Suppressed`,
#: `OnAccountSuppressionList`); `UnsubscribedRecipient` see the module docstring.
SUPPRESSION_SUBTYPES: Mapping[str, str] = {"OnAccountSuppressionList": "account", "Suppressed": "global",
                                           "UnsubscribedRecipient": "topic"}


@dataclass(frozen=True)
class _Kind:
    status: Status
    event_type: str
    body: str  # the detail's object for this type
    recipients: str | None  # the list in it naming recipients (None: the whole message)
    as_objects: bool = True  # [{emailAddress: ...}] rather than [address, ...]


#: detail-type -> how to read it: one per `status_names.SES_STATUS_DETAIL_TYPES`, the rule's pattern.
KINDS: Mapping[str, _Kind] = {
    "Email Delivered": _Kind(Status.DELIVERED, "Delivery", "delivery", "recipients", as_objects=False),
    "Email Bounced": _Kind(Status.BOUNCED, "Bounce", "bounce", "bouncedRecipients"),
    "Email Complaint Received": _Kind(Status.COMPLAINED, "Complaint", "complaint", "complainedRecipients"),
    "Email Delivery Delayed": _Kind(Status.DELAYED, "DeliveryDelay", "deliveryDelay", "delayedRecipients"),
    "Email Rejected": _Kind(Status.REJECTED, "Reject", "reject", None),
    "Email Rendering Failed": _Kind(Status.RENDERING_FAILED, "Rendering Failure", "failure", None),
    "Email Subscribed": _Kind(Status.UNSUBSCRIBED, "Subscription", "subscription", None),
}
#: What SES's type objects say about an outcome that a producer can act on (no free text).
_DETAILS: Mapping[Status, Mapping[str, str]] = {
    Status.BOUNCED: {"bounceType": "type", "bounceSubType": "subType"},
    Status.COMPLAINED: {"complaintFeedbackType": "feedbackType", "complaintSubType": "subType"},
    Status.DELAYED: {"delayType": "type", "expirationTime": "expiresAt"},
    Status.REJECTED: {"reason": "reason"},
    Status.RENDERING_FAILED: {"templateName": "template"},
}
#: A `Subscription` event's `source`: how the recipient changed it (SES's word, e.g.
#: `UnsubscribeHeader`); kept when it is one such word, never free text.
_SUBSCRIPTION_VIA = "via"
_SES_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


#: A complaint's `details` key saying whom it is about. SES's `complainedRecipients` lists the
#: recipients "that may have been responsible for the complaint" (SES Developer Guide, "Contents
#: of event data that Amazon SES publishes", complaint object): most mailbox providers redact the
#: complainant's address from their feedback reports, so SES names every recipient of the message
#: on the complaining domain. `recipient`: one recipient named, the complainant. `message`: several
#: named, and any one of them (or none) complained; each still gets the final `complained` status,
#: as SES's suppression list treats them.
COMPLAINT_SCOPE = "scope"


class InvalidSesEvent(InvalidEvent):
    """An SES event the status handler cannot read: dead-lettered with the field and the rule."""

    code = "InvalidSesEvent"
    lane_log_event = log_events.SES_EVENT_REJECTED


@dataclass(frozen=True)
class Sent:
    """What the pipeline's tags say about the send an SES event is about (`handlers.shared.correlation`)."""

    event_id: str | None
    source: str | None
    key_hash: str | None
    correlation_id: str | None
    lane: str | None
    template: str | None
    stack: str | None
    topic: str | None = None

    @property
    def from_pipeline(self) -> bool:
        """Whether a lane of the pipeline sent the message (every lane's send carries its event's id).

        Other mail on the configuration set (another sender, a console test send, the daily report)
        has no producer event to report back to.
        """
        return bool(self.event_id)

    @classmethod
    def from_tags(cls, tags: Mapping[str, Sequence[str]]) -> Sent:
        def first(name: str) -> str | None:
            values = tags.get(name) or []
            return str(values[0]) if values else None

        source = first(correlation.SOURCE)
        try:
            decoded = correlation.decode_tag_value(source) if source else None
        except ValueError as exc:
            raise InvalidSesEvent(f"detail.mail.tags.{correlation.SOURCE}", "is not the pipeline's tag encoding") \
                from exc
        return cls(event_id=first(correlation.EVENT_ID), source=decoded, key_hash=first(correlation.KEY_HASH),
                   correlation_id=first(correlation.CORRELATION_ID), lane=first(correlation.LANE),
                   template=first(correlation.TEMPLATE), stack=first(correlation.STACK),
                   topic=first(correlation.TOPIC))


@dataclass(frozen=True)
class SesEvent:
    """One SES event: which message, what happened, to whom, and when.

    The same outcome can reach the handler twice with different EventBridge ids (SES's event
    publishing is at least once, as is EventBridge's delivery), so an outcome is known by its
    content: status, time and recipient (`status_record.RecipientOutcome.seen_key`), not by `event_id`.
    """

    event_id: str  # EventBridge's id of this delivery of the SES event (for logs)
    status: Status
    ses_message_id: str
    sent_at: str
    occurred_at: str
    recipients: tuple[str, ...]
    sent: Sent
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def transient_bounce(self) -> bool:
        return self.status is Status.BOUNCED and self.details.get("type") == "Transient"

    @property
    def subscription_change(self) -> bool:
        """An unsubscribe or resubscribe: beside the delivery order (`SUBSCRIPTION_STATUSES`)."""
        return self.status in SUBSCRIPTION_STATUSES

    @property
    def rank(self) -> int:
        """Where the outcome stands in the order above (`FINAL_RANK`: nothing can change it)."""
        return TRANSIENT_BOUNCE_RANK if self.transient_bounce else _RANKS[self.status]

    @property
    def final(self) -> bool:
        return self.rank == FINAL_RANK


def parse(body: str) -> SesEvent:
    """Read an SQS message body holding an SES event as EventBridge delivered it.

    Every field read is checked for its type as strictly as the lanes check their events: a
    `bounceType` of 42 or a `timestamp` that is an object makes the event unreadable, never a
    status with a made-up value.

    Raises:
        InvalidSesEvent: naming the field that is missing or malformed, and the rule.
    """
    try:
        event = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidSesEvent("body", "is not JSON") from exc
    _require(isinstance(event, dict), "body", "must be a JSON object (an EventBridge event)")
    _require(event.get("source") == SES_SOURCE, "source", f"must be {SES_SOURCE}")
    kind = KINDS.get(event.get("detail-type")) if isinstance(event.get("detail-type"), str) else None
    _require(kind is not None, "detail-type", f"must be one of {', '.join(KINDS)}")
    assert kind is not None
    event_id = event.get("id")
    _require(isinstance(event_id, str) and bool(event_id), "id", "must be the EventBridge event id")
    detail = event.get("detail")
    _require(isinstance(detail, dict), "detail", "must be an object")
    _require(detail.get("eventType") == kind.event_type, "detail.eventType",
             f"must be {kind.event_type} for {event['detail-type']}")
    mail = detail.get("mail")
    _require(isinstance(mail, dict), "detail.mail", "must be an object")
    message_id = mail.get("messageId")
    _require(isinstance(message_id, str) and bool(message_id), "detail.mail.messageId", "must be a non-empty string")
    tags = mail.get("tags", {})
    _require(isinstance(tags, dict) and all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                            for v in tags.values()),
             "detail.mail.tags", "must map each tag name to a list of strings")
    sent_at = _timestamp(mail, "timestamp", "detail.mail.timestamp", required=True)
    body_object = detail.get(kind.body)
    _require(isinstance(body_object, dict), f"detail.{kind.body}", "must be an object")
    recipients = _recipients(kind, body_object, mail)
    # A reject or rendering failure has no time of its own: it happened to the message as sent.
    occurred = _timestamp(body_object, "timestamp", f"detail.{kind.body}.timestamp") or sent_at
    details: dict[str, str] = {}
    status = kind.status
    if kind.event_type == "Subscription":
        status, details = _subscription(body_object, Sent.from_tags(tags).topic)
    for key, name in _DETAILS.get(kind.status, {}).items():
        value = body_object.get(key)
        if value is None:
            continue
        _require(isinstance(value, str), f"detail.{kind.body}.{key}", "must be a string")
        if key in _TIMESTAMPS:
            value = _timestamp(body_object, key, f"detail.{kind.body}.{key}")
        if value:
            details[name] = value
    if kind.status is Status.COMPLAINED:
        details[COMPLAINT_SCOPE] = "message" if len(recipients) > 1 else "recipient"
    if status is Status.BOUNCED and details.get("type") == "Permanent" and details.get("subType") in SUPPRESSION_SUBTYPES:
        status = Status.SUPPRESSED
        details["list"] = SUPPRESSION_SUBTYPES[details["subType"]]
    return SesEvent(event_id=event_id, status=status, ses_message_id=message_id, sent_at=sent_at,
                    occurred_at=occurred, recipients=recipients, sent=Sent.from_tags(tags), details=details)


def _subscription(body: Mapping[str, Any], topic: str | None) -> tuple[Status, dict[str, str]]:
    """Whether a `Subscription` event unsubscribed or resubscribed the recipient, and from what.

    The message's own topic (its `topic` tag) decides when the event names it; otherwise the first
    topic whose status changed, or the whole list (`unsubscribeAll`). A change SES reports that
    touches neither is read as what the preferences now say about the whole list.

    Raises:
        InvalidSesEvent: the preferences are missing or not SES's shape.
    """
    new = _preferences(body, "newTopicPreferences", required=True)
    old = _preferences(body, "oldTopicPreferences", required=False)
    details: dict[str, str] = {}
    via = body.get("source")
    if isinstance(via, str) and 0 < len(via) <= 64 and set(via) <= _SES_WORD:
        details[_SUBSCRIPTION_VIA] = via
    contact_list = body.get("contactList")
    _require(isinstance(contact_list, str) and bool(contact_list), "detail.subscription.contactList",
             "must be the contact list's name")
    details["contactList"] = str(contact_list)
    new_all, new_topics = new
    old_all, old_topics = old
    if new_all != old_all or (new_all and topic is None):
        details["scope"] = "all"
        return (Status.UNSUBSCRIBED if new_all else Status.RESUBSCRIBED), details
    changed = [name for name, opted_in in new_topics.items() if old_topics.get(name) != opted_in]
    chosen = topic if topic in new_topics else (changed[0] if changed else None)
    if chosen is None:
        details["scope"] = "all"
        return (Status.UNSUBSCRIBED if new_all else Status.RESUBSCRIBED), details
    details.update(scope="topic", topic=chosen)
    return (Status.RESUBSCRIBED if new_topics[chosen] and not new_all else Status.UNSUBSCRIBED), details


def _preferences(body: Mapping[str, Any], key: str, *, required: bool) -> tuple[bool, dict[str, bool]]:
    """`(unsubscribeAll, topic name -> opted in)` of one of a Subscription event's preference objects."""
    where = f"detail.subscription.{key}"
    value = body.get(key)
    if value is None and not required:
        return False, {}
    _require(isinstance(value, dict), where, "must be an object")
    unsubscribe_all = value.get("unsubscribeAll", False)
    _require(isinstance(unsubscribe_all, bool), f"{where}.unsubscribeAll", "must be true or false")
    statuses = value.get("topicSubscriptionStatus", [])
    _require(isinstance(statuses, list) and all(
        isinstance(s, dict) and isinstance(s.get("topicName"), str) and s.get("subscriptionStatus") in ("OptIn", "OptOut")
        for s in statuses), f"{where}.topicSubscriptionStatus",
        "must list objects with a topicName and a subscriptionStatus of OptIn or OptOut")
    return unsubscribe_all, {s["topicName"]: s["subscriptionStatus"] == "OptIn" for s in statuses}


#: Fields of SES's type objects that hold a time: ISO 8601 text, as SES writes every time.
_TIMESTAMPS = frozenset({"expirationTime"})


def _timestamp(holder: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    """An ISO 8601 time SES wrote (`2017-08-05T00:41:02.669Z`), checked; "" when absent and optional."""
    value = holder.get(key)
    if value is None and not required:
        return ""
    _require(isinstance(value, str), where, "must be an ISO 8601 time as text")
    assert isinstance(value, str)
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidSesEvent(where, "must be an ISO 8601 time") from exc
    return value


def _recipients(kind: _Kind, body_object: Mapping[str, Any], mail: Mapping[str, Any]) -> tuple[str, ...]:
    where = f"detail.{kind.body}.{kind.recipients}" if kind.recipients else "detail.mail.destination"
    raw = body_object.get(kind.recipients) if kind.recipients else mail.get("destination")
    _require(isinstance(raw, list) and bool(raw), where, "must be a non-empty list")
    assert isinstance(raw, list)
    if kind.recipients and kind.as_objects:
        _require(all(isinstance(r, dict) for r in raw), where, "must list objects with an emailAddress")
        raw = [r.get("emailAddress") for r in raw]
    _require(all(isinstance(r, str) for r in raw), where, "must list email addresses")
    # An address must be text the handler can hash and write: a lone surrogate (JSON's "\\ud800")
    # is valid JSON but no UTF-8, and would fail every retry.
    _require(all(_is_utf8(r) for r in raw), where, "must list email addresses in valid UTF-8")
    addresses = [(parseaddr(r)[1] or r).strip().lower() for r in raw]
    _require(all("@" in address for address in addresses), where, "must list email addresses")
    return tuple(dict.fromkeys(addresses))


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _require(condition: bool, where: str, rule: str) -> None:
    if not condition:
        raise InvalidSesEvent(where, rule)
