"""The one module that talks to Amazon SES (v2): building sends, reading limits, sorting failures.

Every SES call in the project goes through `SesSender`, so the retry policy, the error taxonomy and
the privacy rules for logging are written once. When each send may go is `handlers.scheduling.pacing`'s,
and the check made at the last moment before it goes (its slot, the batch's gate) is `send_gate`'s.

Retries: SES's SendEmail has no idempotency token, so a retry of a request SES may already have
accepted can send the email twice. botocore's `standard` mode would retry read timeouts, closed
connections and every 5xx, so the SES client makes one attempt only, and `SesSender.send` retries
itself, once, only what proves nothing was sent: a connection that was never established, 503
ServiceUnavailable (`retry_in_call`). (A `needs-retry` hook that vetoes botocore's retries is not
enough: botocore before its `is False` check in `Endpoint._needs_retry` read a False answer as
"retry now", and the handlers run on whatever botocore the Lambda runtime bundles.) Throttling
(429) proves nothing was sent too, but a retry after a random backoff would land outside the send
schedule and could be throttled in turn: the lane retries it at a slot it books
(`handlers.sending.lane`). The daily quota is not retried either: it only frees up as the 24-hour window
rolls on.
Whatever still fails is raised as a typed error; a request that went out and got no usable
answer is `OutcomeUnknown`, and the lane's delivery policy decides (see `handlers.sending.lane`).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as ConnectionNotEstablished

from .. import log
from ..shared import correlation, timeouts
from ..errors import (
    DailyQuotaExhausted,
    DependencyUnavailable,
    EmailError,
    OutcomeUnknown,
    PermanentSendError,
    RetryableSendError,
    SendingHalted,
    SendingNotAuthorized,
    SendThrottled,
)
from ..shared.settings import Settings
from .send_gate import Departure, LastMoment, SendGate, before_send

#: How long an instance trusts the MaxSendRate it read: a raised quota reaches pacing within this.
RATE_MAX_AGE_SECONDS = 300.0

#: What each SES error code means for the message. Codes not listed fall back by HTTP status.
ERROR_KINDS: Mapping[str, type[EmailError]] = {
    "TooManyRequestsException": SendThrottled,
    "ThrottlingException": SendThrottled,
    "Throttling": SendThrottled,
    "LimitExceededException": DailyQuotaExhausted,
    "SendingPausedException": SendingHalted,
    "AccountSuspendedException": SendingHalted,
    # The stack's own permissions or setup, not the message: halt the lane until someone fixes it.
    # AccessDeniedException is not in SendEmail's modelled errors (botocore's sesv2 service-2.json)
    # but is what SES answers with HTTP 403 when IAM denies the call.
    "AccessDeniedException": SendingNotAuthorized,
    "MailFromDomainNotVerifiedException": SendingNotAuthorized,
    "MessageRejected": PermanentSendError,
    "NotFoundException": PermanentSendError,
    "BadRequestException": PermanentSendError,
    "InvalidParameterValue": PermanentSendError,
}

#: Answers that prove SES did not act on the request: it throttled it or was unavailable.
_THROTTLING_CODES = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})
_UNSENT_CODES = _THROTTLING_CODES | {"ServiceUnavailable"}
_SERVICE_UNAVAILABLE = 503

_CHARSET = "UTF-8"
#: The default of an email's mappings (nothing may change it).
_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: What an SES tag value may not hold (one regular expression: a loop over the characters of every
#: tag of every send cost more CPU than the rest of building the request).
_NOT_TAG_SAFE = re.compile(r"[^A-Za-z0-9_-]")



def retry_in_call(exc: ClientError | BotoCoreError) -> bool:
    """Whether a failed SendEmail proves SES never acted on it, so trying again cannot send twice.

    A connection that was never established carried no request, and 503 means SES refused it
    unread. A throttle proves the same but is the lane's to retry, at a slot; anything later (a
    read timeout, a connection closed mid-exchange, another 5xx) may have been acted on.
    """
    if isinstance(exc, ConnectionNotEstablished):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return _refused_before_acting(code, status) and code not in _THROTTLING_CODES
    return False


def _refused_before_acting(code: str, status: int) -> bool:
    """Whether SES's answer proves it did not act on the request: it throttled it or was unavailable."""
    return code in _UNSENT_CODES or status == _SERVICE_UNAVAILABLE


class AccountLimits(NamedTuple):
    """The SES account's sending limits and state, as GetAccount reports them."""

    max_send_rate: float
    max_24_hour_send: float
    sent_last_24_hours: float
    sending_enabled: bool


class OutgoingEmail(NamedTuple):
    """One message ready for SES: either a template with data, or simple subject and bodies.

    (A named tuple, not a dataclass: making a dataclass costs a cold start about a millisecond of
    CPU, a named tuple a tenth of that; bench/README.md.)
    """

    to: tuple[str, ...]
    lane: str
    template_label: str
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    template_name: str | None = None
    template_data: Mapping[str, Any] = _EMPTY
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    headers: Mapping[str, str] = _EMPTY
    tags: Mapping[str, str] = _EMPTY
    #: What ties SES's later events to the pipeline event (`handlers.shared.correlation`), as SES tags.
    correlation: Mapping[str, str] = _EMPTY
    #: The SES contact list and topic of subscribed mail: with both, SES adds its one-click
    #: unsubscribe headers and skips a contact who left the topic (`ListManagementOptions`).
    contact_list: str | None = None
    topic: str | None = None

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone who receives a copy."""
        return self.to + self.cc + self.bcc


class SesSender:
    """Sends through SES v2: builds the request, sorts failures, logs outcomes without personal data.

    Pacing is the lane's (`handlers.scheduling.pacing`): by the time `send` is called, the email's slot has come.

    Args:
        settings: sender, configuration set, stack, hash key and the configured send rate.
        client: an SES v2 client; inject a stubbed or emulated one in tests.
        clock: monotonic seconds, for the age of the account limits (injectable for tests).
        sleep: the wait before the one retry in a call (injectable for tests).
    """

    def __init__(self, settings: Settings, client: Any, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._settings = settings
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self._limits: AccountLimits | None = None
        self._rate_checked_at: float | None = None
        self._headers_supported: bool | None = None
        self._log = log.get_logger()
        events = getattr(getattr(client, "meta", None), "events", None)
        #: A botocore client: the departure and the gate are checked once the request is signed.
        self._hooked = events is not None
        if events is not None:
            events.register_first("before-send.sesv2.SendEmail", before_send, unique_id="email-pipeline-send-gate")

    def account_limits(self, *, refresh: bool = False) -> AccountLimits:
        """The account's limits, read once per container unless `refresh` is set.

        Raises:
            DependencyUnavailable: GetAccount failed.
        """
        if self._limits is None or refresh:
            try:
                account = self._client.get_account()
            except (ClientError, BotoCoreError) as exc:
                # A read: whatever went wrong, asking again later is safe.
                code = exc.response.get("Error", {}).get("Code", "Unknown") if isinstance(exc, ClientError) \
                    else type(exc).__name__
                raise DependencyUnavailable(f"GetAccount failed ({code})", code=code) from exc
            quota = account.get("SendQuota", {})
            self._limits = AccountLimits(
                max_send_rate=float(quota.get("MaxSendRate", self._settings.account_send_rate)),
                max_24_hour_send=float(quota.get("Max24HourSend", 0)),
                sent_last_24_hours=float(quota.get("SentLast24Hours", 0)),
                sending_enabled=bool(account.get("SendingEnabled", True)),
            )
        return self._limits

    def send_rate(self) -> float:
        """The account's MaxSendRate, re-read every `RATE_MAX_AGE_SECONDS`.

        If GetAccount cannot be read, the last rate read is kept, or else the rate configured
        for the stack: pacing must never block sending, and the configured rate is what the
        lanes' concurrency was derived from. GetAccount is tried again after the same interval.
        """
        now = self._clock()
        if self._rate_checked_at is None or now - self._rate_checked_at >= RATE_MAX_AGE_SECONDS:
            self._rate_checked_at = now
            try:
                self.account_limits(refresh=True)
            except DependencyUnavailable as exc:
                self._log.warning(log.ACCOUNT_LIMITS_UNAVAILABLE, error_code=exc.code)
        rate = self._limits.max_send_rate if self._limits is not None else self._settings.account_send_rate
        return rate if rate > 0 else self._settings.account_send_rate

    def send(self, email: OutgoingEmail, gate: SendGate | None = None, departure: Departure | None = None) -> str:
        """Send one email and log the outcome.

        Args:
            email: what to send.
            gate: the batch's gate (see `SendGate`), checked once the request is signed; the
                caller closes it when an answer stops the batch.
            departure: when the request may go out (its slot), decided once it is signed; None: now.

        Returns:
            The SES message id.

        Raises:
            RetryableSendError, PermanentSendError, DailyQuotaExhausted, SendingHalted, OutcomeUnknown;
            NotAttempted when the gate was closed before the send could start; whatever the
            departure raises to keep the request from going out.
        """
        fields = {
            "lane": email.lane,
            "template": email.template_label,
            **log.recipient_fields(email.recipients, self._settings.recipient_hash_key),
        }
        request = self.request_for(email)
        last_moment = LastMoment(gate, departure, self._clock)
        for attempt in range(1, timeouts.SES_SEND.attempts + 1):
            try:
                response = self._send_through(last_moment, request)
                break
            except (ClientError, BotoCoreError) as exc:
                if attempt < timeouts.SES_SEND.attempts and retry_in_call(exc):
                    # As botocore's standard mode would: a random part of 2^(attempt-1) seconds.
                    self._sleep(random.random() * 2 ** (attempt - 1))
                    continue
                error = classify(exc)
                self._log_failure(error, fields)
                raise error from exc
        message_id = str(response["MessageId"])
        # ses_ms: the call's latency from when the request went out, what `sesSendLatencyMs` should be
        # set from; slot_late_ms and rebookings (the departure's): how pacing holds.
        ses_ms = round(1000 * (self._clock() - (last_moment.left_at or self._clock())))
        self._log.info(log.EMAIL_SENT, ses_message_id=message_id, ses_ms=ses_ms,
                       **(departure.log_fields() if departure is not None else {}), **fields)
        return message_id

    def _send_through(self, last_moment: LastMoment, request: Mapping[str, Any]) -> Any:
        """SendEmail, its last moment run here for any client, or once signed for a botocore one."""
        if not self._hooked:
            last_moment()
            return self._client.send_email(**request)
        return last_moment.around(lambda: self._client.send_email(**request))

    def request_for(self, email: OutgoingEmail) -> dict[str, Any]:
        """The SendEmail parameters for an email; public so tests can pin the exact request."""
        headers = email.headers
        if headers and not self._client_knows_headers():
            headers = {}
        request: dict[str, Any] = {
            "FromEmailAddress": self._settings.sender,
            "Destination": _destination(email),
            "Content": _content(email, headers),
            "ConfigurationSetName": self._settings.configuration_set,
            "EmailTags": _tags(email, self._settings.stack),
        }
        reply_to = email.reply_to or self._settings.reply_to
        if reply_to:
            request["ReplyToAddresses"] = list(reply_to)
        if email.contact_list and email.topic:
            request["ListManagementOptions"] = {"ContactListName": email.contact_list, "TopicName": email.topic}
        return request

    def _client_knows_headers(self) -> bool:
        """Whether the runtime's botocore can send `Content.*.Headers` (added in botocore 1.34.56).

        The handlers use the botocore that Lambda's Python runtime bundles, whose version AWS no
        longer documents per runtime. An older one would fail every send with a parameter
        validation error; the headers (the priority lane's importance marks) are dropped instead,
        with a warning once per container.
        """
        if self._headers_supported is None:
            self._headers_supported = _model_has_headers(self._client)
            if not self._headers_supported:
                self._log.warning(log.SES_HEADERS_UNSUPPORTED, botocore_version=_botocore_version())
        return self._headers_supported

    def _log_failure(self, error: EmailError, fields: dict[str, Any]) -> None:
        """Log what SES answered, as the failure's kind says (an unknown outcome is the lane's to log)."""
        if error.send_log_event is not None:
            getattr(self._log, error.send_log_level)(error.send_log_event, error_code=error.code, **fields)


def classify(exc: ClientError | BotoCoreError) -> EmailError:
    """Sort an SES or botocore failure into the error kind that decides the message's fate.

    SES's own error messages can quote the offending address, so only the error code is kept.
    """
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        kind = ERROR_KINDS.get(code)
        if kind is None and status >= 500 and not _refused_before_acting(code, status):
            # SES failed while handling the request, possibly after accepting the message.
            return OutcomeUnknown(f"SES answered {code} (HTTP {status}) to a send it may have accepted",
                                  cause="ses_server_error")
        if kind is None:
            # Other codes (503, a 4xx nobody listed) keep the message: it is retried and, if the
            # problem persists, reaches the DLQ by the queue's redrive.
            kind = RetryableSendError
        return kind(f"SES {code} (HTTP {status})", code=code)
    if isinstance(exc, HTTPClientError):
        # The request went out (a read timeout, a connection closed mid-exchange): no answer.
        return OutcomeUnknown(f"{type(exc).__name__} after the request was sent to SES", cause="no_response")
    if isinstance(exc, ParamValidationError):
        return PermanentSendError("request failed botocore's parameter validation", code="ParamValidationError")
    return RetryableSendError(f"{type(exc).__name__} talking to SES", code=type(exc).__name__)


def _destination(email: OutgoingEmail) -> dict[str, list[str]]:
    destination = {"ToAddresses": list(email.to)}
    if email.cc:
        destination["CcAddresses"] = list(email.cc)
    if email.bcc:
        destination["BccAddresses"] = list(email.bcc)
    return destination


def _model_has_headers(client: Any) -> bool:
    meta = getattr(client, "meta", None)
    if meta is None:  # a stand-in without a service model (tests, the local emulator)
        return True
    content = meta.service_model.operation_model("SendEmail").input_shape.members["Content"]
    return "Headers" in content.members["Template"].members


def _botocore_version() -> str:
    import botocore

    return str(botocore.__version__)


def _content(email: OutgoingEmail, header_values: Mapping[str, str]) -> dict[str, Any]:
    headers = [{"Name": name, "Value": value} for name, value in header_values.items()]
    if email.template_name:
        template: dict[str, Any] = {
            "TemplateName": email.template_name,
            "TemplateData": json.dumps(email.template_data, separators=(",", ":"), default=str),
        }
        if headers:
            template["Headers"] = headers
        return {"Template": template}
    body: dict[str, Any] = {}
    if email.text is not None:
        body["Text"] = {"Data": email.text, "Charset": _CHARSET}
    if email.html is not None:
        body["Html"] = {"Data": email.html, "Charset": _CHARSET}
    simple: dict[str, Any] = {"Subject": {"Data": email.subject or "", "Charset": _CHARSET}, "Body": body}
    if headers:
        simple["Headers"] = headers
    return {"Simple": simple}


def _tags(email: OutgoingEmail, stack: str) -> list[dict[str, str]]:
    """The producer's tags, then the pipeline's own, which win (the contract refuses their names)."""
    tags = {**email.tags, correlation.LANE: email.lane, correlation.TEMPLATE: email.template_label,
            correlation.STACK: stack, **email.correlation}
    return [{"Name": name, "Value": _tag_safe(value)} for name, value in tags.items()]


def _tag_safe(value: str) -> str:
    """SES tag values allow only ASCII letters, digits, `_` and `-`."""
    return _NOT_TAG_SAFE.sub("-", value)[:256] or "none"
