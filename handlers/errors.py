"""Failure types, sorted by what must happen to the message next.

Every failure a handler meets is one of these, and each kind has exactly one treatment in
`handlers.lane`:

| error                  | next step for the message                                          |
|------------------------|--------------------------------------------------------------------|
| `InvalidEvent`         | dead-letter queue now, with the field and reason                   |
| `PermanentSendError`   | dead-letter queue now, with SES's error code                       |
| `RetryableSendError`   | back on the queue, visible again after a growing delay             |
| `SendThrottled`        | the same, and the rest of the batch waits too                      |
| `NearTimeout`          | back on the queue at once, for the next invocation; nothing sent   |
| `DailyQuotaExhausted`  | back on the queue after a long delay; never retried in the call    |
| `SendingHalted`        | every unsent message stays queued; nothing more is attempted       |
| `SendingNotAuthorized` | the same: an IAM or SES configuration problem no retry can fix     |
| `OutcomeUnknown`       | the lane's delivery policy: dead-letter queue now (at most once),  |
|                        | or back on the queue to be sent again (at least once)              |
"""

from __future__ import annotations


class EmailError(Exception):
    """Base class: `code` is a stable machine-readable reason, `str(exc)` the human one.

    Messages never contain an email address or template data, because they are logged and
    attached to dead letters.
    """

    code: str = "EmailError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidEvent(EmailError):
    """The event can never be sent as it is: a field is missing, malformed or unsafe."""

    code = "InvalidEvent"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class PermanentSendError(EmailError):
    """SES refused the message for a reason that retrying will not change."""

    code = "PermanentSendError"


class RetryableSendError(EmailError):
    """SES or the network failed transiently (throttling, 5xx, timeout)."""

    code = "RetryableSendError"


class SendThrottled(RetryableSendError):
    """SES is over its send rate: retry later, and send nothing more from this batch meanwhile."""

    code = "TooManyRequestsException"


class NearTimeout(RetryableSendError):
    """The invocation is too close to its timeout to start a send; the next one takes the message."""

    code = "NearTimeout"


class DailyQuotaExhausted(EmailError):
    """The account's 24-hour sending quota is used up; sends resume when the window rolls."""

    code = "LimitExceededException"


class SendingHalted(EmailError):
    """The account cannot send at all (paused or suspended) until a person acts."""

    code = "SendingPausedException"


class SendingNotAuthorized(SendingHalted):
    """SES refused the stack itself (IAM denied the send, the MAIL FROM domain is unverified).

    Retrying cannot fix a policy: like a paused account, the lane stops and keeps every message
    until a person fixes the stack, instead of burning each message's receives into the DLQ.
    """

    code = "AccessDeniedException"


class OutcomeUnknown(EmailError):
    """SES may or may not have sent the message, and nothing can tell us which.

    SES's SendEmail has no idempotency token, so this is raised instead of retrying when: the
    request went out and no answer came back (a read timeout, a closed connection, a 5xx other
    than 503); or an earlier delivery of the same event claimed it and never recorded an outcome
    (the function died, timed out, or could not write the record). The lane's delivery policy
    decides what happens next; retrying is never an accident.
    """

    code = "OutcomeUnknown"

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        #: Why the outcome is unknown: `no_response`, `ses_server_error`, `claim_never_completed`,
        #: `earlier_attempt_unanswered` or `unexpected_error`; a log field and a dead-letter reason.
        self.cause = cause
