"""Failure types, each carrying its own treatment: what happens to the message, what is logged.

Every failure a handler meets is one of these. `handlers.sending.lane` reads a failure's `fate` and
`stops_batch` instead of testing its type, and `handlers.sending.ses` logs `send_log_event` when SES
answered with it, so adding a kind of failure is one class here:

| error                   | fate                | stops batch | logged by the send module     |
|-------------------------|---------------------|-------------|-------------------------------|
| `InvalidEvent`          | dead-letter now     | no          | (the lane: `email_rejected`)  |
| `PermanentSendError`    | dead-letter now     | no          | `email_rejected`              |
| `RetryableSendError`    | retry, growing delay| no          | `email_send_failed`           |
| `SendThrottled`         | retry, growing delay| yes         | `email_send_failed`           |
| `DependencyUnavailable` | retry, growing delay| no          | (the lane: `email_deferred`)  |
| `NearTimeout`           | retry at once       | yes         | (the lane: `email_deferred`)  |
| `DailyQuotaExhausted`   | hold (long delay)   | yes         | `ses_daily_quota_exhausted`   |
| `SendingHalted`         | hold (long delay)   | yes         | `ses_sending_paused`          |
| `SendingNotAuthorized`  | hold (long delay)   | yes         | `ses_sending_not_authorized`  |
| `OutcomeUnknown`        | the lane's delivery policy | no   | (the lane: `email_outcome_unknown`) |
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from .shared import log_events


class Fate(enum.Enum):
    """What happens to the message whose processing raised the failure."""

    DEAD_LETTER = "dead-letter"  # the lane's DLQ now, with the reason attached
    RETRY_LATER = "retry-later"  # back on the queue, visible again after a growing delay
    RETRY_NOW = "retry-now"  # back on the queue at once: nothing is wrong with it
    HOLD = "hold"  # back on the queue for the long halt delay: a person must act first
    BY_DELIVERY_POLICY = "by-delivery-policy"  # dead-letter (at most once) or retry (at least once)


class EmailError(Exception):
    """Base class: `code` is a stable machine-readable reason, `str(exc)` the human one.

    Messages never contain an email address or template data, because they are logged and
    attached to dead letters.
    """

    code: str = "EmailError"
    #: What happens to the message (an instance may carry another: `NotAttempted` takes its cause's).
    fate: Fate = Fate.RETRY_LATER
    stops_batch: ClassVar[bool] = False
    #: What the send module logs when SES answers with this failure (None: the caller logs it).
    send_log_event: ClassVar[str | None] = None
    send_log_level: ClassVar[str] = "warning"
    #: What the lane logs when it treats this failure (None: it was logged where it arose).
    lane_log_event: ClassVar[str | None] = None

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def log_fields(self) -> dict[str, Any]:
        """The fields a log line about this failure carries (never a value from the event)."""
        return {"error_code": self.code}

    @property
    def detail(self) -> str:
        """The dead letter's `FailureField`: where, or why, more precisely than the code."""
        return "-"


class InvalidEvent(EmailError):
    """The event can never be sent as it is: a field is missing, malformed or unsafe."""

    code = "InvalidEvent"
    fate = Fate.DEAD_LETTER
    lane_log_event = log_events.EMAIL_REJECTED

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def log_fields(self) -> dict[str, Any]:
        return {"error_code": self.code, "field": self.field, "reason": self.reason}

    @property
    def detail(self) -> str:
        return self.field


class PermanentSendError(EmailError):
    """SES refused the message for a reason that retrying will not change."""

    code = "PermanentSendError"
    fate = Fate.DEAD_LETTER
    send_log_event = log_events.EMAIL_REJECTED
    send_log_level = "error"


class RetryableSendError(EmailError):
    """SES or the network failed transiently, before SES could act on the request."""

    code = "RetryableSendError"
    send_log_event = log_events.EMAIL_SEND_FAILED


class SendThrottled(RetryableSendError):
    """SES is over its send rate: retry later, and send nothing more from this batch meanwhile."""

    code = "TooManyRequestsException"
    stops_batch = True


class DependencyUnavailable(EmailError):
    """A store the handler needs (the state table, CloudWatch) failed, or is busy; nothing sent."""

    code = "DependencyUnavailable"


class NearTimeout(EmailError):
    """The invocation is too close to its timeout to start a send; the next one takes the message."""

    code = "NearTimeout"
    fate = Fate.RETRY_NOW
    stops_batch = True


class DailyQuotaExhausted(EmailError):
    """The account's 24-hour sending quota is used up; sends resume when the window rolls."""

    code = "LimitExceededException"
    fate = Fate.HOLD
    stops_batch = True
    send_log_event = log_events.SES_DAILY_QUOTA_EXHAUSTED
    send_log_level = "error"


class SendingHalted(EmailError):
    """The account cannot send at all (paused or suspended) until a person acts."""

    code = "SendingPausedException"
    fate = Fate.HOLD
    stops_batch = True
    send_log_event = log_events.SES_SENDING_PAUSED
    send_log_level = "error"


class SendingNotAuthorized(SendingHalted):
    """SES refused the stack itself (IAM denied the send, the MAIL FROM domain is unverified).

    Retrying cannot fix a policy: like a paused account, the lane stops and keeps every message
    until a person fixes the stack, instead of burning each message's receives into the DLQ.
    """

    code = "AccessDeniedException"
    send_log_event = log_events.SES_SENDING_NOT_AUTHORIZED


class OutcomeUnknown(EmailError):
    """SES may or may not have sent the message, and nothing can tell us which.

    SES's SendEmail has no idempotency token, so this is raised instead of retrying when: the
    request went out and no answer came back (a read timeout, a closed connection, a 5xx other
    than 503); or an earlier delivery of the same event claimed it and never recorded an outcome
    (the function died, timed out, or could not write the record). The lane's delivery policy
    decides what happens next; retrying is never an accident.
    """

    code = "OutcomeUnknown"
    fate = Fate.BY_DELIVERY_POLICY

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        #: Why the outcome is unknown: `no_response`, `ses_server_error`, `claim_never_completed`,
        #: `earlier_attempt_unanswered` or `unexpected_error`; a log field and a dead-letter reason.
        self.cause = cause

    def log_fields(self) -> dict[str, Any]:
        return {"error_code": self.code, "cause": self.cause}

    @property
    def detail(self) -> str:
        return self.cause


class NotAttempted(EmailError):
    """A send not started because the batch had stopped (SES said stop, or time ran out) before it could.

    It takes the treatment of what stopped the batch (`cause`): a message held back by a paused
    account is held like the one that met the pause.
    """

    def __init__(self, cause: EmailError) -> None:
        super().__init__(f"not attempted: {cause.code} stopped the batch", code=cause.code)
        self.cause = cause
        self.fate = cause.fate


class ReceivesExhausted(EmailError):
    """A message kept on its queue through its last receive: the handler dead-letters it, with why it was kept.

    Kept once more, SQS's redrive would move it to the DLQ on the next receive with no reason at
    all (`maxReceiveCount`); dead-lettered by the handler it carries the code of what kept it (a
    paused account's `SendingPausedException`, a throttle's, a store that stayed down), so
    `email-pipeline dlq redrive --code` finds it once the cause is fixed.
    """

    code = "ReceivesExhausted"
    fate = Fate.DEAD_LETTER

    def __init__(self, cause: EmailError, receives: int) -> None:
        super().__init__(f"kept through its {receives} receives, the most its queue allows: {cause}", code=cause.code)
        self.cause = cause
        self.receives = receives

    def log_fields(self) -> dict[str, Any]:
        return {**self.cause.log_fields(), "receive_count": self.receives}

    @property
    def detail(self) -> str:
        return self.cause.detail
