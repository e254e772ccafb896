"""The burst benchmark's log meter: every line the handlers log, rendered as production renders it, counted and dropped.

The bytes are those Lambda would ship to CloudWatch Logs; the warnings and errors say why mail was
deferred or dead-lettered.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import structlog

from ses_email_pipeline.handlers import log


class LogMeter:
    """Renders every line the handlers log exactly as production does, counts its bytes, and drops it.

    The processors are production's own (`handlers.log.configure`: contextvars, level, ISO UTC
    timestamp, sorted JSON) at production's level (INFO), so the bytes are those Lambda ships to
    CloudWatch Logs: one line and its newline per event. Warnings and errors are also counted by
    name: they say why mail was deferred or dead-lettered; an `EmulatorGap` or a client method the
    emulator lacks shows up as `record_failed`, since the lane turns it into a dead letter.

    Lines are attributed to a scenario by thread name (`R<rate>:...`), so an instance still
    finishing its invocation after its scenario ended does not count in the next one. A line from
    any other thread (a pool the handler runs its sends on) counts in `current`, the scenario
    running now.
    """

    def __init__(self) -> None:
        self.current = ""
        self._problems: dict[str, Counter[str]] = {}
        self._bytes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def configure(self) -> None:
        """Configure structlog as production does, with this meter around its renderer."""
        log.configure()
        *prepare, render = structlog.get_config()["processors"]
        structlog.configure(processors=[*prepare, self._count_problem, render, self._count_bytes])

    def _scenario(self) -> str:
        prefix, colon, _ = threading.current_thread().name.partition(":")
        return prefix if colon and prefix.startswith("R") else self.current

    def _count_problem(self, _logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if method in ("warning", "error"):
            name = " ".join(str(event[key]) for key in ("event", "error_code", "error_type") if event.get(key))
            with self._lock:
                self._problems.setdefault(self._scenario(), Counter())[name] += 1
        return event

    def _count_bytes(self, _logger: Any, _method: str, line: str) -> Any:
        with self._lock:
            self._bytes[self._scenario()] += len(line.encode()) + 1
        raise structlog.DropEvent

    def installed(self) -> bool:
        """Whether structlog still renders through this meter (a handler that reconfigures it would bypass it)."""
        return self._count_bytes in structlog.get_config()["processors"]

    def log_bytes(self, scenario: str) -> int:
        """Bytes the scenario's handlers logged so far."""
        with self._lock:
            return self._bytes[scenario]

    def summary(self, scenario: str) -> str:
        """The scenario's warnings and errors so far, most frequent first."""
        with self._lock:
            counts = self._problems.get(scenario, Counter())
            return ", ".join(f"{name} x{count}" for name, count in counts.most_common()) or "none"
