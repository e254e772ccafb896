"""The last moment before a SendEmail request goes out: the email's departure, then the batch's gate.

Both are decided once botocore has built and signed the request and is about to put it on the
wire (its `before-send` event), because only then is nothing left between the decision and the
send: a departure waits for the email's slot there (`handlers.scheduling.pacing.Departure`), and
the gate refuses a send once another send of the batch was answered with a stop. `SesSender`
(`handlers.sending.ses`) registers `before_send` on its client and runs each send's `LastMoment`
through it; for a client that is not botocore's it runs it just before the call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..errors import EmailError, NotAttempted


class SendGate:
    """Whether sends of one batch may still start; closed, for good, by the first answer that stops the batch.

    Sends of a batch run in parallel. A thread that found the gate open, then spent its time
    building and signing its request, could still send after another thread's SendEmail was
    answered "sending paused" or "daily quota reached". So the gate is checked at the last moment,
    and the check and `close` take one lock: a send either starts before the stop was known, or
    not at all.
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


class Departure(Protocol):
    """When a send may go out, decided at the last moment: its request built and signed, about to go on the wire."""

    def leave(self) -> None:
        """Wait for the send's moment; raise to keep the request from going out."""

    def log_fields(self) -> Mapping[str, Any]:
        """What the `email_sent` line says about the departure (how late it left, ...)."""


class LastMoment:
    """What happens just before one send's request goes out: its departure (once), then the batch's gate.

    Args:
        gate: the batch's gate, or None.
        departure: when the request may leave, or None for now.
        clock: monotonic seconds; `left_at` is when the request first went out (where `ses_ms` starts).
    """

    def __init__(self, gate: SendGate | None, departure: Departure | None, clock: Callable[[], float]) -> None:
        self._gate, self._departure, self._clock = gate, departure, clock
        self.left_at: float | None = None

    def __call__(self) -> None:
        if self._departure is not None and self.left_at is None:
            self._departure.leave()  # once: a retry within the call goes as soon as it may
        if self._gate is not None:
            self._gate.admit()
        if self.left_at is None:
            self.left_at = self._clock()

    def around(self, call: Callable[[], Any]) -> Any:
        """Run `call` (a botocore SendEmail) with this as the thread's last moment, for `before_send`."""
        _SENDING.last_moment = self
        try:
            return call()
        finally:
            _SENDING.last_moment = None


#: The last moment of the send being made on this thread: the `before-send` hook has only the request.
_SENDING = threading.local()


def before_send(**_: Any) -> None:
    """botocore's `before-send` hook for SendEmail: the request is signed and about to go out."""
    last_moment = getattr(_SENDING, "last_moment", None)
    if last_moment is not None:
        last_moment()
