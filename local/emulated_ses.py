"""An SES v2 client for the local system: moto underneath, plus what moto lacks.

moto 5.2 implements SES v2 simple sends but neither templated sends nor GetAccount. This wrapper
renders a templated send from the templates the program declared (`template_render`, as SES would),
passes the rendered message to moto as a simple send (so moto still checks the sender identity),
and keeps an outbox of what was sent. It can also play SES's bad days: a throttle for the next N
sends, a paused account, or an exhausted daily quota.

In the sandbox (`sandbox=True`) it refuses recipients that are not verified identities, as SES
does and moto does not, except SES's mailbox simulator addresses, which SES lets a sandbox account
send to. Each function gets its own view (`for_caller`), which authorizes every call against the
function's role policy first (`local.iam`), as the botocore clients do.

Given an `events` client, it also publishes what SES publishes later through the configuration
set's EventBridge event destination: `Email Sent` for every accepted message, then each
recipient's delivery, bounce or complaint as SES's mailbox simulator plays them (`local.ses_event_records`).

Lists decide before any of that, as in SES:
- the account's suppression list (`local.sesv2_extensions`): a recipient on it is accepted and
  not sent to, and SES reports a `Permanent`/`OnAccountSuppressionList` bounce ("If you attempt
  to send a message to an address that's on your account-level suppression list, Amazon SES
  accepts the message, but doesn't send it", SES Developer Guide, "Using the Amazon SES
  account-level suppression list"). Like SES, the emulator never puts the mailbox simulator's
  addresses on the list: they only play outcomes.
- a send with `ListManagementOptions` (a topic): its contact list and topic must exist; a contact
  who opted out of the topic or unsubscribed from everything is not sent to (a bounce with the
  sub-type `UnsubscribedRecipient`: see `handlers.delivery_status.ses_events`), nor is a recipient
  who is no contact when the topic's default is `OPT_OUT` (the default applies "if the contact has
  not noted their preference", SES API v2 Reference, `Topic`); the message carries RFC 8058's
  `List-Unsubscribe` and `List-Unsubscribe-Post` headers and SES's `{{amazonSESUnsubscribeUrl}}`
  placeholder is filled (SES Developer Guide, "Using subscription management"). A send without a
  topic carries neither. `one_click_unsubscribe(url)` is what a mail client's button does: the
  contact opts out and SES publishes a `Subscription` event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from botocore.exceptions import BotoCoreError, ClientError

from local import ses_event_records, sesv2_extensions
from local.blueprint import TemplateSpec
from ses_email_pipeline.template_render import RenderingFailure, render_email
from ses_email_pipeline.handlers.shared.simulator import is_simulator_address


@dataclass(frozen=True)
class SentEmail:
    """One message the emulated SES accepted, as a recipient would read it."""

    to: list[str]
    cc: list[str]
    bcc: list[str]
    subject: str
    text: str
    html: str
    template: str | None
    lane: str
    headers: Mapping[str, str]
    message_id: str
    #: The send's message tags (`EmailTags`), as SES publishes them with each of its events.
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Why SES could not render it ("" when it did): SES accepted it, then sent nothing.
    rendering_failure: str = ""
    #: The send's topic (`ListManagementOptions.TopicName`), "" for a transactional send.
    topic: str = ""
    #: Recipients SES accepted and did not send to, and which list said no (`account`, `topic`).
    not_sent: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Faults:
    """Failures to inject: each counter is consumed by the next sends."""

    throttle_next: int = 0
    paused: bool = False
    quota_exhausted: bool = False


@dataclass
class EmulatedSes:
    """The `sesv2` client the local handlers get (send_email and get_account).

    Args:
        events: a boto3 `events` client of the emulator: when given, every accepted send
            publishes SES's events for it on the default bus (None: no events, as before).
        publishing_failures: why publishing an accepted send's events failed, one line each.
            SES publishes events apart from the send, so a failure never fails the send.
    """

    moto_client: Any
    templates: Mapping[str, TemplateSpec]
    max_send_rate: float = 50.0
    outbox: list[SentEmail] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    rendering_failures: list[str] = field(default_factory=list)
    sandbox: bool = False
    region: str = "eu-west-1"
    events: Any = None
    publishing_failures: list[str] = field(default_factory=list)
    #: Each published message's configuration set and sender, for the events SES publishes later.
    _configuration_sets: dict[str, str] = field(default_factory=dict)
    _senders: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sesv2_extensions.install()

    def get_account(self) -> dict[str, Any]:
        return {
            "SendQuota": {"Max24HourSend": 50_000.0, "MaxSendRate": self.max_send_rate,
                          "SentLast24Hours": float(len(self.outbox))},
            "SendingEnabled": not self.faults.paused,
            "ProductionAccessEnabled": not self.sandbox,
        }

    def for_caller(self, authorize: Authorize) -> AuthorizedSes:
        """The client one function gets: this SES, with `authorize` run before each call."""
        return AuthorizedSes(self, authorize)

    def send_email(self, **request: Any) -> dict[str, str]:
        self._inject_faults()
        if self.sandbox:
            self._check_recipients_verified(request.get("Destination", {}))
        destination = request.get("Destination", {})
        recipients = [r for key in ("ToAddresses", "CcAddresses", "BccAddresses") for r in destination.get(key, [])]
        options = request.get("ListManagementOptions")
        topic = self._topic(options) if options else None
        not_sent = {**self._suppressed(recipients), **(self._unsubscribed(options, recipients) if options else {})}
        unsubscribe_url = self._preference_url(options, recipients[0]) if options and recipients else ""
        content = request["Content"]
        failure = ""
        if "Template" in content:
            template_name = content["Template"]["TemplateName"]
            try:
                simple = self._render(content["Template"], unsubscribe_url)
            except RenderingFailure as exc:
                # SES accepts the send and renders it later: a template it cannot render with the
                # data is a Rendering Failure event, never an error of SendEmail (SES Developer
                # Guide, "Event publishing": "Rendering Failure - The email wasn't sent because of
                # a template rendering issue").
                failure = str(exc)
                self.rendering_failures.append(f"{template_name}: {failure}")
                simple = {"Subject": {"Data": ""}, "Body": {"Text": {"Data": ""}}}
        else:
            simple, template_name = content["Simple"], None
            if unsubscribe_url:
                simple = _with_unsubscribe_url(simple, unsubscribe_url)
        moto_request = {key: value for key, value in request.items() if key != "ListManagementOptions"}
        moto_request["Content"] = {"Simple": {"Subject": simple["Subject"], "Body": simple["Body"]}}
        response = self.moto_client.send_email(**moto_request)
        tags = {tag["Name"]: tag["Value"] for tag in request.get("EmailTags", [])}
        headers = {h["Name"]: h["Value"] for h in simple.get("Headers", [])}
        if options:
            # RFC 8058: the URI the client POSTs `List-Unsubscribe=One-Click` to, and the flag.
            headers.update({"List-Unsubscribe": f"<{unsubscribe_url}>",
                            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
        self.outbox.append(SentEmail(
            to=list(destination.get("ToAddresses", [])), cc=list(destination.get("CcAddresses", [])),
            bcc=list(destination.get("BccAddresses", [])), subject=simple["Subject"]["Data"],
            text=simple["Body"].get("Text", {}).get("Data", ""), html=simple["Body"].get("Html", {}).get("Data", ""),
            template=template_name, lane=tags.get("lane", ""), headers=headers,
            message_id=response["MessageId"], tags=tags, rendering_failure=failure,
            topic=topic or "", not_sent=not_sent,
        ))
        if self.events is not None:
            self._publish_events(request, simple["Subject"]["Data"], response["MessageId"],
                                 failure=(template_name or "", failure) if failure else None, not_sent=not_sent)
        return {"MessageId": response["MessageId"]}

    # --- lists ---------------------------------------------------------------------------------

    def _suppressed(self, recipients: Sequence[str]) -> dict[str, str]:
        """The recipients on the account's suppression list (`local.sesv2_extensions`), by address."""
        found = {}
        for recipient in recipients:
            address = parseaddr(recipient)[1] or recipient
            try:
                self.moto_client.get_suppressed_destination(EmailAddress=address)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NotFoundException":
                    raise
                continue
            found[recipient] = "account"
        return found

    def _topic(self, options: Mapping[str, Any]) -> str | None:
        """The send's topic, checked against its contact list: SES refuses a list or topic it does not have."""
        contact_list = self._contact_list(options["ContactListName"])
        topic = options.get("TopicName")
        if topic is not None and topic not in {t["TopicName"] for t in contact_list.get("Topics", [])}:
            raise _error("NotFoundException", 404, f"Topic {topic} does not exist in contact list "
                                                   f"{options['ContactListName']}.")
        return topic

    def _contact_list(self, name: str) -> dict[str, Any]:
        return self.moto_client.get_contact_list(ContactListName=name)

    def _unsubscribed(self, options: Mapping[str, Any], recipients: Sequence[str]) -> dict[str, str]:
        """The recipients who did not opt in to the send's topic (or left the whole list), by address."""
        name, topic = options["ContactListName"], options.get("TopicName")
        defaults = {t["TopicName"]: t.get("DefaultSubscriptionStatus") == "OPT_IN"
                    for t in self._contact_list(name).get("Topics", [])}
        found = {}
        for recipient in recipients:
            unsubscribe_all, opted = self._preferences(name, parseaddr(recipient)[1] or recipient, defaults)
            if unsubscribe_all or (topic is not None and not opted.get(topic, False)):
                found[recipient] = "topic"
        return found

    def _preferences(self, contact_list: str, address: str, defaults: Mapping[str, bool]) -> tuple[bool, dict[str, bool]]:
        """A contact's `(unsubscribed from all, topic -> opted in)`: each topic's default where it noted none."""
        try:
            contact = self.moto_client.get_contact(ContactListName=contact_list, EmailAddress=address)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NotFoundException":
                raise
            return False, dict(defaults)
        noted = {p["TopicName"]: p["SubscriptionStatus"] == "OPT_IN" for p in contact.get("TopicPreferences", [])}
        return bool(contact.get("UnsubscribeAll")), {**defaults, **noted}

    def _preference_url(self, options: Mapping[str, Any], recipient: str) -> str:
        """Where the one-click button POSTs (SES hosts it; the emulator's stands for it: `one_click_unsubscribe`)."""
        query = {"list": options["ContactListName"], "address": parseaddr(recipient)[1] or recipient}
        if options.get("TopicName"):
            query["topic"] = options["TopicName"]
        return f"{UNSUBSCRIBE_ENDPOINT}?{urlencode(query)}"

    def one_click_unsubscribe(self, url: str, *, message_id: str | None = None) -> None:
        """What a mail client does with the `List-Unsubscribe` URL of a message: the contact opts out.

        The contact leaves the URL's topic (or the whole list for a send without one), as SES's
        hosted endpoint does, and SES publishes a `Subscription` event for the message it came in.

        Raises:
            ValueError: `url` is not one of this emulator's unsubscribe URLs.
        """
        parsed = urlparse(url.strip("<>"))
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        if f"{parsed.scheme}://{parsed.netloc}{parsed.path}" != UNSUBSCRIBE_ENDPOINT or "list" not in query:
            raise ValueError("not an unsubscribe URL of the emulated SES")
        name, address, topic = query["list"], query["address"], query.get("topic")
        defaults = {t["TopicName"]: t.get("DefaultSubscriptionStatus") == "OPT_IN"
                    for t in self._contact_list(name).get("Topics", [])}
        old_all, old_topics = self._preferences(name, address, defaults)
        new_all, new_topics = (old_all, {**old_topics, topic: False}) if topic else (True, old_topics)
        preferences = {"ContactListName": name, "EmailAddress": address, "UnsubscribeAll": new_all,
                       "TopicPreferences": [{"TopicName": t, "SubscriptionStatus": "OPT_IN" if on else "OPT_OUT"}
                                            for t, on in new_topics.items()]}
        try:
            self.moto_client.update_contact(**preferences)
        except ClientError:
            self.moto_client.create_contact(**preferences)
        sent = next((m for m in reversed(self.outbox) if m.headers.get("List-Unsubscribe") == f"<{url.strip('<>')}>"
                     and (message_id is None or m.message_id == message_id)), None)
        if sent is None or self.events is None:
            return
        configuration_set = self._configuration_sets.get(sent.message_id)
        if not configuration_set:
            return
        mail = ses_event_records.mail_object(
            sent.message_id, self._senders.get(sent.message_id, "sender@example.com"), sent.to + sent.cc + sent.bcc,
            ses_event_records.message_tags([{"Name": k, "Value": v} for k, v in sent.tags.items()], configuration_set),
            datetime.now(UTC), subject=sent.subject, to=sent.to, region=self.region)
        record = ses_event_records.subscription(
            mail, name, old=ses_event_records.topic_preferences(old_all, old_topics),
            new=ses_event_records.topic_preferences(new_all, new_topics), at=datetime.now(UTC))
        self._put([record], sent.message_id)

    def _publish_events(self, request: Mapping[str, Any], subject: str, message_id: str, *,
                        failure: tuple[str, str] | None = None, not_sent: Mapping[str, str] | None = None) -> None:
        """Put what SES publishes for this message on the default bus (`ses_event_records.after_send`),
        or its Rendering Failure (`failure`: the template's name and why).

        SES publishes through the configuration set's event destination, so a send without one
        publishes nothing. Every record goes in one PutEvents call (at most 6, under its 10).
        """
        configuration_set = request.get("ConfigurationSetName")
        if not configuration_set:
            return
        self._configuration_sets[message_id] = configuration_set
        self._senders[message_id] = str(request["FromEmailAddress"])
        destination = request.get("Destination", {})
        recipients = [r for key in ("ToAddresses", "CcAddresses", "BccAddresses") for r in destination.get(key, [])]
        sender = str(request["FromEmailAddress"])
        mail = ses_event_records.mail_object(
            message_id, sender, recipients, ses_event_records.message_tags(request.get("EmailTags", []), configuration_set),
            datetime.now(UTC), subject=subject, to=destination.get("ToAddresses", []),
            source_arn=request.get("FromEmailAddressIdentityArn") or self._identity_arn(sender),
            region=self.region)
        records = ses_event_records.after_send(mail, not_sent or {}) if failure is None else \
            [ses_event_records.rendering_failure(mail, *failure)]
        self._put(records, message_id)

    def _put(self, records: Sequence[Mapping[str, Any]], message_id: str) -> None:
        try:
            response = self.events.put_events(Entries=[ses_event_records.entry(r) for r in records])
        except (ClientError, BotoCoreError) as exc:
            self.publishing_failures.append(f"{message_id}: PutEvents failed: {exc}")
            return
        failed = [e.get("ErrorCode", "") for e in response.get("Entries", []) if e.get("ErrorCode")]
        if failed:
            self.publishing_failures.append(f"{message_id}: PutEvents refused {len(failed)} entries: {', '.join(failed)}")

    def _identity_arn(self, sender: str) -> str:
        """The verified identity a sender is sent as: the address's, else its domain's (SES's `sourceArn`)."""
        address = (parseaddr(sender)[1] or sender).lower()
        verified = self._verified_identities()
        identity = address if address in verified else address.rpartition("@")[2]
        return f"arn:aws:ses:{self.region}:{ses_event_records.ACCOUNT}:identity/{identity}"

    def _render(self, template: Mapping[str, Any], unsubscribe_url: str = "") -> dict[str, Any]:
        name = template["TemplateName"]
        spec = self.templates.get(name)
        if spec is None:
            raise _error("NotFoundException", 404, f"Template {name} does not exist")
        data = json.loads(template.get("TemplateData", "{}"))
        if unsubscribe_url:
            data = {**data, UNSUBSCRIBE_PLACEHOLDER: unsubscribe_url}
        email = render_email(spec.subject, spec.html, spec.text, data)
        return {
            "Subject": {"Data": email.subject, "Charset": "UTF-8"},
            "Body": {"Text": {"Data": email.text, "Charset": "UTF-8"}, "Html": {"Data": email.html, "Charset": "UTF-8"}},
            "Headers": list(template.get("Headers", [])),
        }

    def _check_recipients_verified(self, destination: Mapping[str, Any]) -> None:
        """The sandbox sends only to verified identities (the address, or its domain) and the simulator.

        SES's words (SES Developer Guide, "Troubleshooting: errors"; in region upper case):
        "Email address is not verified. The following identities failed the check in region ...".
        "You can use the mailbox simulator even if your account is in the Amazon SES sandbox"
        (SES Developer Guide, "Using the mailbox simulator manually").
        """
        verified = self._verified_identities()
        recipients = [r for key in ("ToAddresses", "CcAddresses", "BccAddresses") for r in destination.get(key, [])]
        failed = [r for r in recipients if not is_simulator_address(r) and not _covered(parseaddr(r)[1] or r, verified)]
        if failed:
            raise _error("MessageRejected", 400, "Email address is not verified. The following identities failed "
                         f"the check in region {self.region.upper()}: {', '.join(failed)}")

    def _verified_identities(self) -> set[str]:
        names: set[str] = set()
        pages: dict[str, Any] = {}
        while True:
            response = self.moto_client.list_email_identities(**pages)
            names |= {i["IdentityName"].lower() for i in response.get("EmailIdentities", [])}
            if not response.get("NextToken"):
                return names
            pages = {"NextToken": response["NextToken"]}

    def _inject_faults(self) -> None:
        if self.faults.paused:
            raise _error("SendingPausedException", 400, "Sending is paused for this account")
        if self.faults.quota_exhausted:
            raise _error("LimitExceededException", 400, "Daily message quota exceeded")
        if self.faults.throttle_next > 0:
            self.faults.throttle_next -= 1
            raise _error("TooManyRequestsException", 429, "Maximum sending rate exceeded")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.moto_client, name)


#: Authorizes one call (operation name, parameters); raises the service's ClientError when denied.
Authorize = Callable[[str, Mapping[str, Any]], None]


@dataclass(frozen=True)
class AuthorizedSes:
    """One function's SES client: the shared emulated SES behind its role's permissions."""

    ses: EmulatedSes
    authorize: Authorize

    def send_email(self, **request: Any) -> dict[str, str]:
        self.authorize("SendEmail", request)
        return self.ses.send_email(**request)

    def get_account(self) -> dict[str, Any]:
        self.authorize("GetAccount", {})
        return self.ses.get_account()

    @property
    def meta(self) -> Any:
        """The service model (the send module reads it to see which request fields exist)."""
        return self.ses.moto_client.meta


#: SES's placeholder for the subscription page's link in a topic send's body (SES Developer Guide,
#: "Using subscription management"); SES fills it, the template's data never does.
UNSUBSCRIBE_PLACEHOLDER = "amazonSESUnsubscribeUrl"
#: The emulator's stand-in for SES's hosted unsubscribe endpoint.
UNSUBSCRIBE_ENDPOINT = "https://unsubscribe.email.local/one-click"


def _with_unsubscribe_url(simple: Mapping[str, Any], url: str) -> dict[str, Any]:
    """A simple message with SES's placeholder replaced, in the subject and both bodies."""
    def fill(part: Mapping[str, Any]) -> dict[str, Any]:
        return {**part, "Data": str(part.get("Data", "")).replace("{{" + UNSUBSCRIBE_PLACEHOLDER + "}}", url)}
    body = {kind: fill(part) for kind, part in simple.get("Body", {}).items()}
    return {**simple, "Subject": fill(simple["Subject"]), "Body": body}


def _covered(address: str, verified: set[str]) -> bool:
    address = address.lower()
    return address in verified or address.rpartition("@")[2] in verified


def _error(code: str, status: int, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail")
