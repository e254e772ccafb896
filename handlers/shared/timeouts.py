"""How long the handlers' AWS calls may take, and the CPU a lane's send needs, as plain numbers.

The handlers build their botocore configs from these (`aws.config_for`), and the Pulumi program
checks a lane's batch against the same numbers without importing botocore, so the time a handler
keeps in hand and the time the stack config budgets for can never drift apart. The CPU a send
needs, at the share of a vCPU a function's memory buys, is how long a lane's batch takes to get
ready, which sizes how many instances a lane runs (`components/lanes.py`).
"""

from __future__ import annotations

from typing import NamedTuple

#: botocore's standard mode waits at most `random() * 2 ** (attempt - 1)` seconds, capped at 20,
#: before each retry (botocore/retries/standard.py: ExponentialBackoff, _MAX_BACKOFF).
_STANDARD_MAX_BACKOFF_SECONDS = 20.0


class CallLimits(NamedTuple):
    """Timeouts and attempts of one kind of call, in botocore's `standard` retry mode."""

    connect_timeout: float
    read_timeout: float
    attempts: int

    def worst_case_seconds(self) -> float:
        """The longest one call can take: every attempt at its timeouts, plus the backoff between.

        A handler that starts a call with less time than this left can be killed by Lambda in
        the middle of it.
        """
        backoff = sum(min(2.0**retry, _STANDARD_MAX_BACKOFF_SECONDS) for retry in range(self.attempts - 1))
        return self.attempts * (self.connect_timeout + self.read_timeout) + backoff


#: Tight timeouts and three attempts: a slow call fails fast and the queue's redelivery takes over.
STANDARD = CallLimits(connect_timeout=2, read_timeout=5, attempts=3)
#: SendEmail: one retry inside the call, and only of a request SES cannot have acted on (see
#: `handlers.sending.ses`); the queue's redelivery is the real retry. Worst case 2 x 7 s + 1 s = 15 s.
SES_SEND = CallLimits(connect_timeout=2, read_timeout=5, attempts=2)
#: DynamoDB answers in milliseconds: a second to connect and one to answer are generous, and keep
#: the worst case of one state-table write (a claim, a batch record) at 3 x 2 s + 3 s = 9 s.
STATE_TABLE = CallLimits(connect_timeout=1, read_timeout=1, attempts=3)

#: Time a lane keeps in hand before it starts a send: the send's worst case, then the write that
#: records it. A send Lambda cut off in between would leave its outcome unknown.
SEND_RESERVE_SECONDS = SES_SEND.worst_case_seconds() + STATE_TABLE.worst_case_seconds()

#: Lambda gives a function CPU in proportion to its memory: this much is one vCPU (AWS Lambda
#: Developer Guide, "Configuring Lambda function memory").
MB_PER_VCPU = 1769
#: CPU one email of a lane takes before its slot, at one vCPU: composing it, its idempotency claim
#: and its SES request, built and signed by botocore, with the threads' own overhead (bench/README.md:
#: about 2 of the 3 ms an email takes in all, measured by bench/burst.py on a shared x86 machine).
SEND_CPU_SECONDS = 0.0025


def vcpus(memory_mb: int) -> float:
    """The vCPUs Lambda gives a function of `memory_mb`."""
    return memory_mb / MB_PER_VCPU


def ready_seconds(emails: int, memory_mb: int, cpu_seconds: float = SEND_CPU_SECONDS) -> float:
    """How long a function of `memory_mb` takes to get `emails` sends ready (claimed, built, signed) at once."""
    return emails * cpu_seconds / vcpus(memory_mb)
