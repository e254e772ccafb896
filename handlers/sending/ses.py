"""The one module that talks to Amazon SES (v2): building sends, reading limits, sorting failures.

Every SES call in the project goes through `SesSender`, so the retry policy, the error taxonomy and
the privacy rules for logging are written once. When each send may go is `handlers.scheduling.pacing`'s.

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
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, ParamValidationError
from botocore.exceptions import ConnectionError as ConnectionNotEstablished

from .. import log
from ..shared import correlation, timeouts
from ..errors import (
    DailyQuotaExhausted,
    DependencyUnavailable,
    EmailError,
    NotAttempted,
    OutcomeUnknown,
    PermanentSendError,
    RetryableSendError,
    SendingHalted,
    SendingNotAuthorized,
    SendThrottled,
)
from ..shared.settings import Settings

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


class SendGate:
    """Whether sends of one batch may still start; closed, for good, by the first answer that stops the batch.

    Sends of a batch run in parallel. A thread that found the gate open, then spent its time
    building and signing its request, could still send after another thread's SendEmail was
    answered "sending paused" or "daily quota reached". So the gate is checked at the last moment,
    when botocore is about to put the signed request on the wire (its `before-send` event), and the
    check and `close` take one lock: a send either starts before the stop was known, or not at all.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: EmailError | None = None

    @property
    def stop(self) -> EmailError | None:
        """What closed the gate, or None while sends may start."""
        return self._stop

    def close(self, error: EmailError) -> EmailError:
        """Let no more sends start; return the reason kept (the first one given)."""
        with self._lock:
            if self._stop is None:
                self._stop = error
            return self._stop

    def admit(self) -> None:
        """Let a send start, unless the gate is closed.

        Raises:
            NotAttempted: carrying what closed it.
        """
        with self._lock:
            if self._stop is not None:
                raise NotAttempted(self._stop)


#: The gate of the send being made on this thread: the `before-send` hook has only the request.
_SENDING = threading.local()


def _admit_at_the_last_moment(**_: Any) -> None:
    """botocore's `before-send` hook for SendEmail: the request is signed and about to go out."""
    gate = getattr(_SENDING, "gate", None)
    if gate is not None:
        gate.admit()


@dataclass(frozen=True)
class AccountLimits:
    """The SES account's sending limits and state, as GetAccount reports them."""

    max_send_rate: float
    max_24_hour_send: float
    sent_last_24_hours: float
    sending_enabled: bool


@dataclass(frozen=True)
class OutgoingEmail:
    """One message ready for SES: either a template with data, or simple subject and bodies."""

    to: tuple[str, ...]
    lane: str
    template_label: str
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    template_name: str | None = None
    template_data: Mapping[str, Any] = field(default_factory=dict)
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    #: What ties SES's later events to the pipeline event (`handlers.shared.correlation`), as SES tags.
    correlation: Mapping[str, str] = field(default_factory=dict)

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
        if events is not None:  # a botocore client: check the gate once the request is signed
            events.register_first("before-send.sesv2.SendEmail", _admit_at_the_last_moment,
                                  unique_id="email-pipeline-send-gate")

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

    def send(self, email: OutgoingEmail, gate: SendGate | None = None) -> str:
        """Send one email now and log the outcome.

        Args:
            email: what to send.
            gate: the batch's gate (see `SendGate`), checked once the request is signed; the
                caller closes it when an answer stops the batch.

        Returns:
            The SES message id.

        Raises:
            RetryableSendError, PermanentSendError, DailyQuotaExhausted, SendingHalted, OutcomeUnknown;
            NotAttempted when the gate was closed before the send could start.
        """
        fields = {
            "lane": email.lane,
            "template": email.template_label,
            **log.recipient_fields(email.recipients, self._settings.recipient_hash_key),
        }
        request = self.request_for(email)
        started = self._clock()
        for attempt in range(1, timeouts.SES_SEND.attempts + 1):
            try:
                response = self._send_through(gate, request)
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
        # ses_ms: the call's latency, what the stack's `sesSendLatencyMs` should be set from.
        self._log.info(log.EMAIL_SENT, ses_message_id=message_id, ses_ms=round(1000 * (self._clock() - started)),
                       **fields)
        return message_id

    def _send_through(self, gate: SendGate | None, request: Mapping[str, Any]) -> Any:
        """SendEmail, admitted by the gate: here for any client, and again once signed for a botocore one."""
        if gate is None:
            return self._client.send_email(**request)
        gate.admit()
        _SENDING.gate = gate
        try:
            return self._client.send_email(**request)
        finally:
            _SENDING.gate = None

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
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_-") else "-" for ch in value)
    return cleaned[:256] or "none"
