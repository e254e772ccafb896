"""SES's event records, built as SES publishes them, and what it publishes after a send.

Through a configuration set's EventBridge event destination, SES puts each event on the account's
default bus ("Only the default bus is supported", SES API v2 Reference, `EventBridgeDestination`)
with source `aws.ses` and one detail-type per event type (EventBridge Events Reference, "Amazon
Simple Email Service events"). The detail is SES's event record (SES Developer Guide, "Contents
of event data that Amazon SES publishes" and "Examples of event data that Amazon SES publishes"):
`eventType`, the `mail` object, and one object for the type (`delivery`, `bounce`, ...).

One builder per event type returns that record; `entry` wraps one into a PutEvents entry.
Tests build records with these too (duplicates, events out of order), so the builders take every
time explicitly and derive ids from their inputs: the same arguments give the same record.

`after_send` is what SES publishes once it accepted a message: `Send`, then per recipient what
its mailbox simulator does (`SIMULATOR`; the addresses are `ses_email_pipeline.handlers.shared.simulator`),
any other recipient being delivered (the local stand-in for a recipient's server accepting the
message). SES groups a message's recipients per event: one `Delivery` lists every recipient
delivered, and "If you use the mailbox simulator to simulate multiple bounces from the same
sending request, Amazon SES combines the bounce responses into a single response" (SES Developer
Guide, "Using the mailbox simulator manually").
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from ses_email_pipeline.handlers.shared import simulator

#: moto's account and the local system's region (`local.mocks`), the defaults of a mail object.
ACCOUNT = "123456789012"
REGION = "eu-west-1"
#: What SES fills in about the caller; the local run has no client IP or IAM user name to report.
SOURCE_IP = "127.0.0.1"
CALLER_IDENTITY = "local"

SOURCE = "aws.ses"
DEFAULT_BUS = "default"
#: Configuration set event publishing adds this tag to every record's `mail.tags`.
CONFIGURATION_SET_TAG = "ses:configuration-set"

#: SES's own feedback ids look like `<hex>-<uuid>-000000`; ours are derived from this namespace.
_FEEDBACK_NAMESPACE = uuid.UUID("5e5e5e5e-0000-4000-8000-000000000001")
#: The most a configuration set lets SES keep trying a delivery (50400 s: SES API v2 Reference,
#: `DeliveryOptions.MaxDeliverySeconds`), a delayed message's `expirationTime` unless given.
_MAX_DELIVERY = timedelta(seconds=50_400)


class EventType(enum.StrEnum):
    """SES's `eventType` values for sending events, and the detail-type EventBridge carries each as."""

    SEND = "Send"
    DELIVERY = "Delivery"
    BOUNCE = "Bounce"
    COMPLAINT = "Complaint"
    REJECT = "Reject"
    RENDERING_FAILURE = "Rendering Failure"
    DELIVERY_DELAY = "DeliveryDelay"
    SUBSCRIPTION = "Subscription"

    @property
    def detail_type(self) -> str:
        return DETAIL_TYPES[self]


#: EventBridge Events Reference, "Amazon Simple Email Service events".
DETAIL_TYPES: Mapping[EventType, str] = {
    EventType.SEND: "Email Sent",
    EventType.DELIVERY: "Email Delivered",
    EventType.BOUNCE: "Email Bounced",
    EventType.COMPLAINT: "Email Complaint Received",
    EventType.REJECT: "Email Rejected",
    EventType.RENDERING_FAILURE: "Email Rendering Failed",
    EventType.DELIVERY_DELAY: "Email Delivery Delayed",
    EventType.SUBSCRIPTION: "Email Subscribed",
}


# --- the mail object ---------------------------------------------------------------------------


def timestamp(at: datetime) -> str:
    """SES's ISO 8601 form, in UTC with milliseconds (`2017-08-05T00:41:02.669Z`); naive means UTC."""
    utc = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def message_tags(email_tags: Sequence[Mapping[str, str]], configuration_set: str | None) -> dict[str, str]:
    """The tags SES publishes for a SendEmail request: its `EmailTags`, and the configuration set's name.

    Args:
        email_tags: the request's `EmailTags` (`[{"Name": ..., "Value": ...}]`).
        configuration_set: the request's `ConfigurationSetName`, published as `ses:configuration-set`.
    """
    tags = {tag["Name"]: tag["Value"] for tag in email_tags}
    if configuration_set:
        tags[CONFIGURATION_SET_TAG] = configuration_set
    return tags


def mail_object(message_id: str, sender: str, destination: Sequence[str], tags: Mapping[str, str],
                sent_at: datetime, *, subject: str = "", to: Sequence[str] | None = None,
                source_arn: str | None = None, account: str = ACCOUNT, region: str = REGION) -> dict[str, Any]:
    """The `mail` object every record of one message carries (SES Developer Guide, "Mail object").

    Args:
        message_id: the MessageId SES returned for the send.
        sender: the From address, as sent (`Name <address>` is kept, as SES keeps it in `source`).
        destination: every recipient of the message: To, CC and BCC.
        tags: the message's tags, one value each (`message_tags`); SES's own `ses:source-ip`,
            `ses:from-domain` and `ses:caller-identity` are added unless given.
        sent_at: when SES accepted the message.
        subject: the message's subject, for `headers` and `commonHeaders`.
        to: the To addresses for the headers; all of `destination` unless given.
        source_arn: the ARN of the identity sent as; the sender address's identity unless given.
        account, region: of the sending account.
    """
    address = parseaddr(sender)[1] or sender
    published = {"ses:source-ip": SOURCE_IP, "ses:from-domain": address.rpartition("@")[2],
                 "ses:caller-identity": CALLER_IDENTITY, **tags}
    to_header = list(destination if to is None else to)
    return {
        "timestamp": timestamp(sent_at),
        "source": sender,
        "sourceArn": source_arn or f"arn:aws:ses:{region}:{account}:identity/{address}",
        "sendingAccountId": account,
        "messageId": message_id,
        "destination": list(destination),
        "headersTruncated": False,
        "headers": [{"name": "From", "value": sender}, {"name": "To", "value": ", ".join(to_header)},
                    {"name": "Subject", "value": subject}, {"name": "MIME-Version", "value": "1.0"}],
        "commonHeaders": {"from": [sender], "to": to_header, "messageId": message_id, "subject": subject},
        "tags": {name: [value] for name, value in published.items()},
    }


# --- one builder per event type ------------------------------------------------------------------


def send(mail: Mapping[str, Any]) -> dict[str, Any]:
    """`Send`: SES accepted the message and will try to deliver it (its `send` object is always empty)."""
    return _record(EventType.SEND, mail, "send", {})


def delivery(mail: Mapping[str, Any], recipients: Sequence[str], *, at: datetime | None = None) -> dict[str, Any]:
    """`Delivery`: the recipients' mail servers accepted the message ("Delivery object").

    Args:
        at: when it was delivered; when the message was sent unless given.
    """
    when = at or _sent_at(mail)
    return _record(EventType.DELIVERY, mail, "delivery", {
        "timestamp": timestamp(when),
        "processingTimeMillis": max(0, round((when - _sent_at(mail)).total_seconds() * 1000)),
        "recipients": list(recipients),
        "smtpResponse": "250 2.6.0 Message received",
        "reportingMTA": _mta(mail),
    })


#: Per bounce sub-type, when the event gives no other: (DSN status, diagnostic code, reporting MTA;
#: None for SES's own). `General` is SES's example record's ("Examples of event data"); the
#: suppression-list texts are SES's own (AWS Knowledge Center, "Do bounces from the Amazon SES
#: suppression list affect my daily sending quota?").
BOUNCE_DIAGNOSTICS: Mapping[str, tuple[str, str, str | None]] = {
    "General": ("5.1.1", "smtp; 550 5.1.1 user unknown", None),
    "Suppressed": ("5.1.1", "Amazon SES has suppressed sending to this address because it has a recent history of "
                   "bouncing as an invalid address. For more information about how to remove an address from the "
                   "suppression list, see the Amazon SES Developer Guide: "
                   "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/remove-from-suppressionlist.html",
                   "dns; amazonses.com"),
    "OnAccountSuppressionList": ("5.1.1", "Amazon SES did not send the message to this address because it is on the "
                                 "suppression list for your account. For more information about removing addresses "
                                 "from the suppression list, see the Amazon SES Developer Guide at "
                                 "https://docs.aws.amazon.com/ses/latest/DeveloperGuide/sending-email-suppression-list.html",
                                 "dns; amazonses.com"),
}


def bounce(mail: Mapping[str, Any], recipients: Sequence[str], bounce_type: str = "Permanent",
           sub_type: str = "General", *, at: datetime | None = None, diagnostic_code: str | None = None,
           dsn: bool = True) -> dict[str, Any]:
    """`Bounce`: the recipients' servers refused the message, or SES did not send it ("Bounce object").

    Args:
        bounce_type, sub_type: SES's classification ("Bounce types": `Permanent`/`General`,
            `Permanent`/`Suppressed`, `Transient`/`MailboxFull`, ...).
        at: when the bounce was reported; when the message was sent unless given.
        diagnostic_code: the receiving server's words, for every recipient; the sub-type's
            usual ones (`BOUNCE_DIAGNOSTICS`) unless given.
        dsn: whether a delivery status notification came with the bounce. Without one SES
            reports only the addresses: `action`, `status`, `diagnosticCode` and `reportingMTA`
            are present only "if a DSN is attached to the bounce" ("Bounced recipients").
    """
    when = at or _sent_at(mail)
    status, usual, reporting_mta = BOUNCE_DIAGNOSTICS.get(sub_type, BOUNCE_DIAGNOSTICS["General"])
    details = {"action": "failed", "status": status, "diagnosticCode": diagnostic_code or usual} if dsn else {}
    body: dict[str, Any] = {
        "bounceType": bounce_type,
        "bounceSubType": sub_type,
        "bouncedRecipients": [{"emailAddress": r, **details} for r in recipients],
        "timestamp": timestamp(when),
        "feedbackId": _feedback_id(mail, EventType.BOUNCE, recipients, when),
    }
    if dsn:
        body["reportingMTA"] = reporting_mta or f"dns; {_mta(mail)}"
    return _record(EventType.BOUNCE, mail, "bounce", body)


#: The feedback report's User-Agent in the mailbox simulator's complaints, as recorded events
#: published by SES show it (with `complaintSubType` null and `complaintFeedbackType` abuse).
COMPLAINT_USER_AGENT = "Amazon SES Mailbox Simulator"


def complaint(mail: Mapping[str, Any], recipients: Sequence[str], feedback_type: str = "abuse", *,
              at: datetime | None = None) -> dict[str, Any]:
    """`Complaint`: a recipient marked the message as spam ("Complaint object").

    Args:
        feedback_type: the report's Feedback-Type (`abuse`, `fraud`, `virus`, ..., "Complaint types").
        at: when the complaint was reported; when the message was sent unless given.
    """
    when = at or _sent_at(mail)
    return _record(EventType.COMPLAINT, mail, "complaint", {
        "complainedRecipients": [{"emailAddress": r} for r in recipients],
        "timestamp": timestamp(when),
        "feedbackId": _feedback_id(mail, EventType.COMPLAINT, recipients, when),
        # null unless SES withheld the message for the account-level suppression list ("Complaint subtypes").
        "complaintSubType": None,
        "userAgent": COMPLAINT_USER_AGENT,
        "complaintFeedbackType": feedback_type,
        "arrivalDate": timestamp(when),
    })


def delivery_delay(mail: Mapping[str, Any], recipients: Sequence[str],
                   delay_type: str = "TransientCommunicationFailure", *, at: datetime | None = None,
                   expires_at: datetime | None = None) -> dict[str, Any]:
    """`DeliveryDelay`: SES could not deliver yet and keeps trying ("DeliveryDelay object").

    Args:
        delay_type: why (`TransientCommunicationFailure`, `MailboxFull`, `SpamDetected`, ...).
        at: when the delay occurred; when the message was sent unless given.
        expires_at: when SES stops trying; the longest a configuration set allows unless given.
    """
    when = at or _sent_at(mail)
    return _record(EventType.DELIVERY_DELAY, mail, "deliveryDelay", {
        "timestamp": timestamp(when),
        "delayType": delay_type,
        "expirationTime": timestamp(expires_at or _sent_at(mail) + _MAX_DELIVERY),
        "delayedRecipients": [{"emailAddress": r, "status": "4.4.1",
                               "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host"}
                              for r in recipients],
        "reportingMTA": _mta(mail),
    })


def reject(mail: Mapping[str, Any]) -> dict[str, Any]:
    """`Reject`: SES found a virus and sent the message to no one ("Reject object": the only reason)."""
    return _record(EventType.REJECT, mail, "reject", {"reason": "Bad content"})


def rendering_failure(mail: Mapping[str, Any], template: str, message: str) -> dict[str, Any]:
    """`Rendering Failure`: SES could not render the template and sent nothing ("Rendering Failure object")."""
    return _record(EventType.RENDERING_FAILURE, mail, "failure", {"templateName": template, "errorMessage": message})


#: How a recipient changed a subscription (the record's `subscription.source`): SES's example
#: record's, the List-Unsubscribe header a mail client's one-click button posts to.
UNSUBSCRIBE_HEADER = "UnsubscribeHeader"


def subscription(mail: Mapping[str, Any], contact_list: str, *, old: Mapping[str, Any], new: Mapping[str, Any],
                 at: datetime | None = None, source: str = UNSUBSCRIBE_HEADER) -> dict[str, Any]:
    """`Subscription`: a recipient of the message changed their preferences ("Subscription object").

    Args:
        contact_list: the send's contact list (its `ListManagementOptions`).
        old, new: the contact's preferences before and after (`topic_preferences`).
        at: when; when the message was sent unless given.
        source: how (`UNSUBSCRIBE_HEADER`: the one-click button of a mail client).
    """
    when = at or _sent_at(mail)
    return _record(EventType.SUBSCRIPTION, mail, "subscription", {
        "contactList": contact_list, "timestamp": timestamp(when), "source": source,
        "newTopicPreferences": dict(new), "oldTopicPreferences": dict(old)})


def topic_preferences(unsubscribe_all: bool, topics: Mapping[str, bool]) -> dict[str, Any]:
    """A Subscription record's preferences: `unsubscribeAll`, and each topic's `OptIn`/`OptOut`."""
    return {"unsubscribeAll": unsubscribe_all,
            "topicSubscriptionStatus": [{"topicName": name, "subscriptionStatus": "OptIn" if opted_in else "OptOut"}
                                        for name, opted_in in topics.items()]}


def entry(detail: Mapping[str, Any]) -> dict[str, str]:
    """The PutEvents entry SES's event destination puts on the default bus for one record."""
    return {"Source": SOURCE, "DetailType": EventType(detail["eventType"]).detail_type,
            "Detail": json.dumps(detail), "EventBusName": DEFAULT_BUS}


# --- what SES publishes after a send -----------------------------------------------------------


class SimulatedOutcome(enum.Enum):
    """What happens to one recipient after SES accepted the message; records go out in this order."""

    DELIVERED = 1
    HARD_BOUNCE = 2
    AUTO_REPLY = 3
    COMPLAINED = 4
    #: Not sent: the address is on the account's suppression list.
    SUPPRESSED = 5
    #: Not sent: the contact did not opt in to the send's topic.
    UNSUBSCRIBED = 6


#: The mailbox simulator's scenarios (SES Developer Guide, "Using the mailbox simulator manually",
#: docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html#send-email-simulator), as
#: SES publishes them. Where the guide leaves the record open, what SES is recorded publishing:
#: - `bounce`: "rejects your email with an SMTP 550 5.1.1 ("Unknown User") response code", a
#:   `Permanent`/`General` bounce.
#: - `suppressionlist`: "a hard bounce as if the recipient's address is on the global suppression
#:   list". The guide's page on that list says such a bounce is `Permanent`/`Suppressed`, but the
#:   simulator's recorded events are `Permanent`/`General`, with the diagnostic below, and one
#:   bounce event holds both mailboxes (floci-io/floci#4048 and its probe of 2026-09-21; records
#:   SES published 2026-03-26 through a configuration set, kept as a public test fixture): the
#:   emulator follows what SES publishes.
#: - `ooto`: delivered; "The email provider sends an automatic response ... to the address in the
#:   Return-Path header of the email, or the envelope sender ("MAIL FROM") address", which is
#:   SES's own unless the sender set one, and SES publishes that reply as a `Transient`/`General`
#:   bounce without a DSN (the same records of 2026-03-26; a 2013 SNS notification from the
#:   simulator, quoted in a Q&A thread, shows it too). The event-publishing guide says only
#:   transient bounces SES stopped retrying are published; this one is published all the same.
#: - `complaint`: delivered, then a complaint of type `abuse`.
SIMULATOR: Mapping[str, tuple[SimulatedOutcome, ...]] = {
    simulator.SUCCESS: (SimulatedOutcome.DELIVERED,),
    simulator.BOUNCE: (SimulatedOutcome.HARD_BOUNCE,),
    simulator.OOTO: (SimulatedOutcome.DELIVERED, SimulatedOutcome.AUTO_REPLY),
    simulator.COMPLAINT: (SimulatedOutcome.DELIVERED, SimulatedOutcome.COMPLAINED),
    simulator.SUPPRESSION_LIST: (SimulatedOutcome.HARD_BOUNCE,),
}
#: Any other recipient: its server accepts the message.
ELSEWHERE: tuple[SimulatedOutcome, ...] = (SimulatedOutcome.DELIVERED,)
#: The simulator's words in a hard bounce, per mailbox (from the recorded events above).
SIMULATOR_DIAGNOSTICS: Mapping[str, str] = {
    simulator.BOUNCE: "smtp; 550 5.1.1 As requested: user unknown <{address}>",
    simulator.SUPPRESSION_LIST: "smtp; 550 5.1.1 As requested: user unknown (suppressed address: {address})",
}


def outcomes(recipient: str) -> tuple[SimulatedOutcome, ...]:
    """What happens to `recipient` after the send: the simulator's scenario, else delivery."""
    mailbox = simulator.simulator_mailbox(recipient)
    return SIMULATOR[mailbox] if mailbox else ELSEWHERE


#: A recipient a list kept SES from sending to (`local.emulated_ses`): which list, and its outcome.
NOT_SENT: Mapping[str, SimulatedOutcome] = {"account": SimulatedOutcome.SUPPRESSED,
                                            "topic": SimulatedOutcome.UNSUBSCRIBED}


def after_send(mail: Mapping[str, Any], not_sent: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The records SES publishes for an accepted message, in order: `Send`, then one per outcome.

    Args:
        not_sent: recipients SES did not send to, by the list that said no (`NOT_SENT`'s keys).
    """
    grouped: dict[SimulatedOutcome, list[str]] = {}
    for recipient in mail["destination"]:
        listed = (not_sent or {}).get(recipient)
        for outcome in (NOT_SENT[listed],) if listed else outcomes(recipient):
            grouped.setdefault(outcome, []).append(recipient)
    return [send(mail), *(_RECORDS[o](mail, grouped[o]) for o in sorted(grouped, key=lambda o: o.value))]


def _hard_bounce(mail: Mapping[str, Any], recipients: Sequence[str]) -> dict[str, Any]:
    record = bounce(mail, recipients, "Permanent", "General")
    for bounced in record["bounce"]["bouncedRecipients"]:
        address = bounced["emailAddress"]
        text = SIMULATOR_DIAGNOSTICS.get(simulator.simulator_mailbox(address) or "")
        if text:
            bounced["diagnosticCode"] = text.format(address=parseaddr(address)[1] or address)
    return record


#: Each outcome's record, for all the recipients it happened to.
_RECORDS: Mapping[SimulatedOutcome, Callable[[Mapping[str, Any], Sequence[str]], dict[str, Any]]] = {
    SimulatedOutcome.DELIVERED: delivery,
    SimulatedOutcome.HARD_BOUNCE: _hard_bounce,
    SimulatedOutcome.AUTO_REPLY: lambda mail, recipients: bounce(mail, recipients, "Transient", "General", dsn=False),
    SimulatedOutcome.COMPLAINED: lambda mail, recipients: complaint(mail, recipients, "abuse"),
    SimulatedOutcome.SUPPRESSED: lambda mail, recipients: bounce(mail, recipients, "Permanent",
                                                                 "OnAccountSuppressionList"),
    SimulatedOutcome.UNSUBSCRIBED: lambda mail, recipients: bounce(mail, recipients, "Permanent",
                                                                   "UnsubscribedRecipient", dsn=False),
}


# --- helpers -----------------------------------------------------------------------------------


def _record(event_type: EventType, mail: Mapping[str, Any], key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"eventType": event_type.value, "mail": dict(mail), key: dict(body)}


def _sent_at(mail: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(mail["timestamp"])


def _mta(mail: Mapping[str, Any]) -> str:
    """A host name of SES's outbound mail servers in the message's region."""
    return f"smtp-out.{str(mail['sourceArn']).split(':')[3]}.amazonses.com"


def _feedback_id(mail: Mapping[str, Any], event_type: EventType, recipients: Sequence[str], at: datetime) -> str:
    """An id in SES's shape, the same for the same report (so a test's duplicate is a true duplicate)."""
    name = "\n".join([mail["messageId"], event_type.value, timestamp(at), *recipients])
    derived = uuid.uuid5(_FEEDBACK_NAMESPACE, name)
    return f"{derived.hex[:16]}-{derived}-000000"
