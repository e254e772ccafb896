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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from local import ses_event_records
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
        content = request["Content"]
        failure = ""
        if "Template" in content:
            template_name = content["Template"]["TemplateName"]
            try:
                simple = self._render(content["Template"])
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
        moto_request = {**request, "Content": {"Simple": {
            "Subject": simple["Subject"], "Body": simple["Body"]}}}
        response = self.moto_client.send_email(**moto_request)
        destination = request.get("Destination", {})
        tags = {tag["Name"]: tag["Value"] for tag in request.get("EmailTags", [])}
        self.outbox.append(SentEmail(
            to=list(destination.get("ToAddresses", [])), cc=list(destination.get("CcAddresses", [])),
            bcc=list(destination.get("BccAddresses", [])), subject=simple["Subject"]["Data"],
            text=simple["Body"].get("Text", {}).get("Data", ""), html=simple["Body"].get("Html", {}).get("Data", ""),
            template=template_name, lane=tags.get("lane", ""),
            headers={h["Name"]: h["Value"] for h in simple.get("Headers", [])},
            message_id=response["MessageId"], tags=tags, rendering_failure=failure,
        ))
        if self.events is not None:
            self._publish_events(request, simple["Subject"]["Data"], response["MessageId"],
                                 failure=(template_name or "", failure) if failure else None)
        return {"MessageId": response["MessageId"]}

    def _publish_events(self, request: Mapping[str, Any], subject: str, message_id: str, *,
                        failure: tuple[str, str] | None = None) -> None:
        """Put what SES publishes for this message on the default bus (`ses_event_records.after_send`),
        or its Rendering Failure (`failure`: the template's name and why).

        SES publishes through the configuration set's event destination, so a send without one
        publishes nothing. Every record goes in one PutEvents call (at most 5, under its 10).
        """
        configuration_set = request.get("ConfigurationSetName")
        if not configuration_set:
            return
        destination = request.get("Destination", {})
        recipients = [r for key in ("ToAddresses", "CcAddresses", "BccAddresses") for r in destination.get(key, [])]
        sender = str(request["FromEmailAddress"])
        mail = ses_event_records.mail_object(
            message_id, sender, recipients, ses_event_records.message_tags(request.get("EmailTags", []), configuration_set),
            datetime.now(UTC), subject=subject, to=destination.get("ToAddresses", []),
            source_arn=request.get("FromEmailAddressIdentityArn") or self._identity_arn(sender),
            region=self.region)
        records = ses_event_records.after_send(mail) if failure is None else \
            [ses_event_records.rendering_failure(mail, *failure)]
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

    def _render(self, template: Mapping[str, Any]) -> dict[str, Any]:
        name = template["TemplateName"]
        spec = self.templates.get(name)
        if spec is None:
            raise _error("NotFoundException", 404, f"Template {name} does not exist")
        email = render_email(spec.subject, spec.html, spec.text, json.loads(template.get("TemplateData", "{}")))
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


def _covered(address: str, verified: set[str]) -> bool:
    address = address.lower()
    return address in verified or address.rpartition("@")[2] in verified


def _error(code: str, status: int, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail")
