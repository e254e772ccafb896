"""The burst benchmark's log meter: every line a lane instance logs, rendered as production renders it, counted, dropped.

It runs inside each instance's process (bench/burst_instance.py) as the function's own log handler
(`handlers.log.configure(handler=...)`, with the function's own JSON formatter), and imports
nothing but the standard library, so the process holds only what the function holds. The bytes are those Lambda would ship to CloudWatch Logs; the warnings and errors
say why mail was deferred or dead-lettered; and the fields an operator reads to see how pacing
holds (`SAMPLED`: how late each send left against its slot, how many new slots it needed, SES's
latency) are kept as samples, so the bench reports them from the same lines production writes.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from types import ModuleType
from typing import Any

#: Numeric fields kept from each line of an event, for the report's percentiles.
SAMPLED: Mapping[str, tuple[str, ...]] = {"email_sent": ("slot_late_ms", "rebookings", "ses_ms")}


class LogMeter(logging.Handler):
    """Renders every line exactly as production does, counts its bytes, keeps the sampled fields, drops it.

    The formatter is production's own (`handlers.log.JsonLines`) at production's level (INFO), so
    the bytes are those Lambda ships to CloudWatch Logs: one line and its newline per event.
    Warnings and errors are counted by name: an `EmulatorGap` shows up as `record_failed`, since
    the lane turns it into a dead letter.
    """

    def __init__(self) -> None:
        super().__init__()
        self._counts_lock = threading.Lock()
        self._fields: Any = None
        self.reset()

    def configure(self, log: ModuleType) -> None:
        """Log as the function's `log` module does, through this meter instead of stdout."""
        self.setFormatter(log.JsonLines())
        self._fields = log.line_fields
        log.configure(handler=self)

    def emit(self, record: logging.LogRecord) -> None:
        self._observe(record.levelname.lower(), self._fields(record))
        self._count_bytes(self.format(record))

    def reset(self) -> None:
        """Forget what was counted (the instance is warmed up; the scenario starts now)."""
        with self._counts_lock:
            self._bytes = 0
            self._problems: Counter[str] = Counter()
            self._samples: dict[str, list[float]] = {name: [] for fields in SAMPLED.values() for name in fields}

    def _observe(self, method: str, event: dict[str, Any]) -> None:
        with self._counts_lock:
            if method in ("warning", "error"):
                self._problems[" ".join(str(event[key]) for key in ("event", "error_code", "error_type")
                                        if event.get(key))] += 1
            for name in SAMPLED.get(str(event.get("event")), ()):
                if isinstance(event.get(name), (int, float)):
                    self._samples[name].append(float(event[name]))

    def _count_bytes(self, line: str) -> None:
        with self._counts_lock:
            self._bytes += len(line.encode()) + 1

    def snapshot(self) -> dict[str, Any]:
        """What was logged since the last reset: bytes, problems by name, the sampled fields' values."""
        with self._counts_lock:
            return {"log_bytes": self._bytes, "problems": dict(self._problems),
                    "samples": {name: list(values) for name, values in self._samples.items()}}


class LogTally:
    """The instances' snapshots of one scenario, added up (in the bench's own process)."""

    def __init__(self) -> None:
        self.log_bytes = 0
        self.problems: Counter[str] = Counter()
        self.samples: dict[str, list[float]] = {}
        self.cpu_seconds = 0.0

    def add(self, snapshot: Mapping[str, Any]) -> None:
        self.log_bytes += int(snapshot["log_bytes"])
        self.problems.update(snapshot["problems"])
        for name, values in snapshot["samples"].items():
            self.samples.setdefault(name, []).extend(values)
        self.cpu_seconds += float(snapshot.get("cpu_seconds", 0.0))

    def summary(self) -> str:
        """The warnings and errors, most frequent first."""
        return ", ".join(f"{name} x{count}" for name, count in self.problems.most_common()) or "none"
