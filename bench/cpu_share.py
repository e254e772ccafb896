"""A Lambda function's CPU share for a process: Linux CFS bandwidth control, as Lambda's own limit works.

Lambda gives a function CPU in proportion to its memory: 1,769 MB is one vCPU, so a 256 MB function
gets about 0.145 of one (AWS Lambda Developer Guide, "Configuring Lambda function memory"). The
limit is a quota of CPU time per scheduling period shared by all of the function's threads: once a
period's quota is spent, every thread waits for the next period, however little each one needs.
That is what makes a send thread wake late, so the bench reproduces it the way Linux does: each
lane instance is a process in a cgroup of its own whose `cpu.cfs_quota_us` is `share x
cpu.cfs_period_us` (cgroup v1) or whose `cpu.max` is `"quota period"` (cgroup v2).

The period Lambda uses is not documented. The default is Linux's, 100 ms, the longer (harsher) of
the periods in use: a process that spends its quota early waits up to `period x (1 - share)`, 85 ms
at 256 MB. `BENCH_CPU_PERIOD_MS` sets another.

A function's share is also guaranteed: Lambda runs it on capacity of its own. A shared machine
gives no such guarantee, so the bench's cgroups weigh more than the machine's other work
(`WEIGHT`: CFS shares, or cgroup v2's weight): when the machine is busy, the bench's processes (the
instances and the emulated AWS, which `CpuShares.enter` moves into a group of its own without a
quota) are scheduled first, and each instance still gets no more than its quota. How busy the
machine was is reported beside the figures (`MachineLoad`).

`calibrate` shows the confinement is faithful on the machine at hand: a process that spins for a
fixed amount of CPU takes `1 / share` times as long in wall time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: AWS Lambda Developer Guide, "Configuring Lambda function memory": at 1,769 MB a function has the
#: equivalent of one vCPU (one vCPU-second of credits per second).
MB_PER_VCPU = 1769
PERIOD_MS = float(os.environ.get("BENCH_CPU_PERIOD_MS", "100"))
#: The bench's cgroups against the rest of the machine: 16 times the default weight (v1 shares 1024, v2 100).
WEIGHT = 16
_V1 = Path("/sys/fs/cgroup/cpu")
_V2 = Path("/sys/fs/cgroup/unified")
_V2_ROOT = Path("/sys/fs/cgroup")


class ConfinementUnavailable(RuntimeError):
    """This machine cannot confine a process to a CPU share (no writable cgroup with the cpu controller)."""


def vcpu_share(memory_mb: int) -> float:
    """The vCPUs Lambda gives a function of this memory."""
    return memory_mb / MB_PER_VCPU


@dataclass(frozen=True)
class Group:
    """One cgroup holding one instance's process, with its CPU quota."""

    path: Path
    version: int

    def throttled_periods(self) -> int:
        """Periods in which the quota ran out and every thread waited for the next."""
        return _stat(self.path).get("nr_throttled", 0)

    def remove(self) -> None:
        """Delete the cgroup (its processes must have exited)."""
        for attempt in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02 * (attempt + 1))  # the last process is still being reaped


class CpuShares:
    """Creates one cgroup per confined process under a parent named for this run.

    Args:
        label: part of the cgroups' names (the bench's pid keeps runs apart).
        period_ms: the CFS period.

    Raises:
        ConfinementUnavailable: no writable cgroup hierarchy with the cpu controller.
    """

    def __init__(self, label: str, period_ms: float = PERIOD_MS) -> None:
        self.period_us = int(period_ms * 1000)
        self.version, root = _hierarchy()
        self._hierarchy_root = root
        self._root = root / f"email-bench-{label}-{os.getpid()}"
        self._root.mkdir(exist_ok=True)
        if self.version == 2:
            (self._root / "cgroup.subtree_control").write_text("+cpu")
            (self._root / "cpu.weight").write_text(str(100 * WEIGHT))
        else:
            (self._root / "cpu.shares").write_text(str(1024 * WEIGHT))
        self._groups: list[Group] = []
        self._entered = False

    def enter(self) -> None:
        """Move this process (the emulated AWS) into a group of the bench's own, without a quota."""
        path = self._root / "aws"
        path.mkdir(exist_ok=True)
        (path / "cgroup.procs").write_text(str(os.getpid()))
        self._entered = True

    def confine(self, pid: int, vcpus: float, name: str) -> Group:
        """Put process `pid` (and the threads it starts) in a new cgroup of `vcpus` CPUs' worth of time."""
        path = self._root / name
        path.mkdir()
        quota = max(1000, int(vcpus * self.period_us))
        if self.version == 1:
            (path / "cpu.cfs_period_us").write_text(str(self.period_us))
            (path / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (path / "cpu.max").write_text(f"{quota} {self.period_us}")
        (path / "cgroup.procs").write_text(str(pid))
        group = Group(path, self.version)
        self._groups.append(group)
        return group

    def close(self) -> None:
        """Leave the bench's group and remove every cgroup made (their processes must have exited)."""
        if self._entered:
            (self._hierarchy_root / "cgroup.procs").write_text(str(os.getpid()))
            Group(self._root / "aws", self.version).remove()
        for group in self._groups:
            group.remove()
        Group(self._root, self.version).remove()


def _hierarchy() -> tuple[int, Path]:
    """The writable cgroup hierarchy with the cpu controller: v1's `cpu`, or v2's."""
    if (_V1 / "cpu.cfs_quota_us").exists() and os.access(_V1, os.W_OK):
        return 1, _V1
    for root in (_V2_ROOT, _V2):
        controllers = root / "cgroup.controllers"
        if controllers.exists() and "cpu" in controllers.read_text().split() and os.access(root, os.W_OK):
            return 2, root
    raise ConfinementUnavailable(
        "no writable cgroup with the cpu controller: run the bench as root on Linux (cgroup v1 `cpu` or v2 "
        "with `cpu` enabled), or pass --no-cpu-share to run the instances unconfined (not Lambda's CPU)")


def _stat(path: Path) -> dict[str, int]:
    stat = path / "cpu.stat"
    if not stat.exists():
        return {}
    return {key: int(value) for key, value in (line.split() for line in stat.read_text().splitlines())}


_SPIN = "import time\nend = time.process_time() + {cpu}\nwhile time.process_time() < end: pass\n"


def calibrate(vcpus: float, cpu_seconds: float = 0.3) -> float:
    """Wall seconds per CPU second of a process confined to `vcpus`: `1 / vcpus` if the confinement is faithful.

    The spinning process starts stopped-by-import (it waits on stdin) so it is confined before it spins.
    """
    shares = CpuShares("calibration")
    try:
        spinner = subprocess.Popen([sys.executable, "-c", f"import sys; sys.stdin.readline()\n{_SPIN.format(cpu=cpu_seconds)}"],
                                   stdin=subprocess.PIPE, text=True)
        shares.confine(spinner.pid, vcpus, "spinner")
        started = time.perf_counter()
        assert spinner.stdin is not None
        spinner.stdin.write("\n")
        spinner.stdin.flush()
        spinner.wait()
        return (time.perf_counter() - started) / cpu_seconds
    finally:
        shares.close()


class MachineLoad:
    """How busy the whole machine's CPUs were between `start` and `stop` (from /proc/stat), and its CPU count."""

    def __init__(self) -> None:
        self._start, self._own, self._wall = _cpu_times(), time.process_time(), time.monotonic()
        self.busy = self.own = 0.0

    def stop(self) -> float:
        """The share of every CPU's time spent busy (steal included) since this was made; `own`: this
        process's CPU (the emulated AWS) per second meanwhile."""
        end = _cpu_times()
        total = end[0] - self._start[0]
        self.busy = 1 - (end[1] - self._start[1]) / total if total else 0.0
        self.own = (time.process_time() - self._own) / max(1e-9, time.monotonic() - self._wall)
        return self.busy


def _cpu_times() -> tuple[int, int]:
    """(all jiffies, idle and iowait jiffies) of the machine's CPUs."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]
