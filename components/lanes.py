"""What a lane is (`LaneConfig`) and how big it may be: the sizing rules derived from the send rate, and their checks.

Settings that depend on each other are derived here, next to their reason, never restated: a
lane's concurrency from the SES send rate, its queue's visibility timeout from the function
timeout, how long a sent event is remembered from both. `lane_problems` checks that a set of lanes
can work at all (shares, batch sizes, receives, whether a batch fits a call and the instances fit
the account); `EmailSenderArgs` runs it with its other checks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import Problem
from .handlers.shared.settings import DEFAULT_MAX_RECEIVE_COUNT, Delivery
from .handlers.shared.timeouts import SEND_RESERVE_SECONDS, ready_seconds

if TYPE_CHECKING:
    from .sender_args import EmailSenderArgs

#: The lane handler that adds the on-call list to every email (the batch check charges for it).
PRIORITY_HANDLER = "handlers.priority.handler"
_LANE_NAME = re.compile(r"^[a-z0-9-]{1,20}$")
#: Names a lane cannot take: the stack's other functions are named like lanes (`<stack>-<lane>`),
#: and the stack outputs list the status queue as lane `status`.
RESERVED_LANE_NAMES = {"report": "the daily report's function", "status": "the status handler (DeliveryStatus)"}
#: SQS allows batches of 1-10 messages for a standard queue's event source mapping.
BATCH_SIZES = range(1, 11)
#: Receives a message needs to ride out a 10-minute throttle (see `handlers.sqs_batch.retry_delay`).
MIN_MAX_RECEIVE_COUNT = 5
#: SES SendEmail's latency from a function in the same region, as `email_sent` lines report it
#: (`ses_ms`); the stack setting `sesSendLatencyMs` replaces it with a stack's measured p90.
DEFAULT_SEND_LATENCY_MS = 100
#: SendEmail's worst case: a latency outside 1..this is a mistake, not a measurement.
MAX_SEND_LATENCY_MS = 15_000
#: What a batch costs an instance besides its slots, the SES call and getting its sends ready: the
#: booking's lead, the batch record, Lambda's receive and delete. Measured with bench/burst.py
#: (bench/README.md).
BATCH_OVERHEAD_SECONDS = 0.15
#: The memory the lanes' concurrency is sized for when none is given (EmailSenderArgs' default).
DEFAULT_MEMORY_MB = 256
#: The smallest maximum concurrency an SQS event source mapping accepts.
MIN_EVENT_SOURCE_CONCURRENCY = 2
#: Visibility timeout = 6 x function timeout, AWS's guidance for SQS event sources: it covers the
#: invocation, Lambda's own retries of a throttled invocation, and the batching window.
VISIBILITY_TIMEOUT_FACTOR = 6
#: The handlers' longest deliberate delay before a retry (halt and quota), in seconds.
HANDLER_MAX_RETRY_DELAY_SECONDS = 900
#: Lambda keeps this much of an account's concurrency unreserved (PutFunctionConcurrency refuses more).
UNRESERVED_MINIMUM = 100


@dataclass(frozen=True)
class LaneConfig:
    """One SQS lane and the function that drains it.

    Args:
        name: the lane's name (`normal`, `priority`); routes target it by this name.
        handler: the Lambda handler, e.g. `handlers.templated.handler`.
        rate_share: the lane's share of the account's SES send rate when the stack's send schedule
            is out of reach (0-1; the lanes' shares sum to at most 1). With the schedule, any lane
            uses whatever rate the others leave idle (`handlers.scheduling.schedule`).
        urgent: the lane books send slots ahead of every lane that is not urgent (alerts).
        reserved: reserve the lane's concurrency, so other functions can never starve it.
        delivery: what the lane does with an email whose outcome is unknown (SES never answered,
            or a function died mid-send): dead-letter it (at most once) or send it again (at
            least once). See `handlers.shared.settings.Delivery`.
    """

    name: str
    handler: str
    rate_share: float
    batch_size: int = 10
    batching_window_seconds: int = 1
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    reserved: bool = False
    delivery: Delivery = Delivery.AT_MOST_ONCE
    urgent: bool = False


DEFAULT_LANES: tuple[LaneConfig, ...] = (
    LaneConfig("normal", "handlers.templated.handler", rate_share=0.7),
    # An on-call alert twice beats none; a receipt twice is a complaint.
    LaneConfig("priority", PRIORITY_HANDLER, rate_share=0.3, batch_size=5, batching_window_seconds=0,
               reserved=True, delivery=Delivery.AT_LEAST_ONCE, urgent=True),
)


def lane_max_concurrency(account_send_rate: float, lane: LaneConfig, send_latency_seconds: float,
                         memory_mb: int = DEFAULT_MEMORY_MB) -> int:
    """How many instances a lane may run: enough for it alone to use the whole send rate R.

    An instance gets its batch ready (claims, requests built and signed), books its slots and
    sends each email at its own, so it handles `batch_size` emails every ready + batch_size / R +
    latency + overhead seconds; n instances keep up with R when n >= 1 + R x (ready + latency +
    overhead) / batch_size. Getting ready takes CPU, and a function of `memory_mb` has
    `memory_mb / 1769` of a vCPU (`timeouts.ready_seconds`). Never below the SQS minimum of 2. More
    would only wait for slots, and Lambda bills the wait.
    """
    busy = send_latency_seconds + BATCH_OVERHEAD_SECONDS + ready_seconds(lane.batch_size, memory_mb)
    needed = 1 + math.ceil(account_send_rate * busy / lane.batch_size)
    return max(MIN_EVENT_SOURCE_CONCURRENCY, needed)


def visibility_timeout(function_timeout_seconds: int) -> int:
    """The lane queue's visibility timeout for a function timeout (see VISIBILITY_TIMEOUT_FACTOR)."""
    return VISIBILITY_TIMEOUT_FACTOR * function_timeout_seconds


def idempotency_ttl(function_timeout_seconds: int, max_receive_count: int, replay_window_days: int) -> int:
    """Seconds to remember a sent event: longer than any way it can come back.

    A message can return up to `max_receive_count` times, each after at most the longer of the
    visibility timeout and the handlers' own retry delay; an archive replay can bring back events
    from the whole retention window. One day of margin on top.
    """
    redelivery = max(visibility_timeout(function_timeout_seconds), HANDLER_MAX_RETRY_DELAY_SECONDS) * max_receive_count
    return max(redelivery, replay_window_days * 86_400) + 86_400


def lane_problems(args: EmailSenderArgs) -> list[Problem]:
    """Lanes share one send rate: names, shares, batches, receives, and whether a batch fits a call."""
    problems = []
    names = [lane.name for lane in args.lanes]
    if len(set(names)) != len(names):
        problems.append(Problem("lanes", "lane names repeat; each names a queue and a function"))
    total = sum(lane.rate_share for lane in args.lanes)
    if total > 1 + 1e-9:
        problems.append(Problem("lanes", f"shares sum to {total:g}; they split one send rate and must sum to at most 1"))
    for lane in args.lanes:
        where = f"lanes.{lane.name}"
        if not _LANE_NAME.match(lane.name):
            problems.append(Problem(f"{where}.name", "lane names use a-z, 0-9 and '-' (at most 20)"))
        if lane.name in RESERVED_LANE_NAMES:
            problems.append(Problem(f"{where}.name", f"{lane.name!r} is taken by {RESERVED_LANE_NAMES[lane.name]}, "
                                                     "whose function and queues share the lanes' names; name the lane "
                                                     "differently"))
        if lane.rate_share <= 0:
            problems.append(Problem(f"{where}.rate_share", "must be above 0, or the lane never sends"))
            continue
        if lane.batch_size not in BATCH_SIZES:
            problems.append(Problem(f"{where}.batch_size", f"{lane.batch_size} must be between 1 and 10"))
        if lane.max_receive_count < MIN_MAX_RECEIVE_COUNT:
            problems.append(Problem(f"{where}.max_receive_count", f"{lane.max_receive_count} is too low to ride out "
                                                                  f"a 10-minute throttle; use {MIN_MAX_RECEIVE_COUNT} or more"))
        if args.account_send_rate > 0:
            problems += _batch_time_problems(args, lane)
    return problems + _concurrency_problems(args)


def _concurrency_problems(args: EmailSenderArgs) -> list[Problem]:
    """The lanes' instances must fit the account's Lambda concurrency, and reservations must leave 100."""
    if args.account_send_rate <= 0 or not 1 <= args.send_latency_ms <= MAX_SEND_LATENCY_MS or \
            any(lane.batch_size not in BATCH_SIZES for lane in args.lanes):
        return []  # reported on their own
    problems = []
    total = sum(args.lane_concurrency(lane) for lane in args.lanes)
    if total > args.account_concurrency:
        problems.append(Problem("account_concurrency", (
            f"at {args.account_send_rate:g} emails/s the lanes run up to {total} instances, more than the account's "
            f"{args.account_concurrency}; request a higher Lambda concurrency quota and set it here")))
    reserved = sum(args.lane_concurrency(lane) for lane in args.lanes if lane.reserved) if args.reserve_concurrency \
        else 0
    if reserved and reserved > args.account_concurrency - UNRESERVED_MINIMUM:
        problems.append(Problem("reserve_concurrency", (
            f"reserving {reserved} executions leaves fewer than the {UNRESERVED_MINIMUM} Lambda keeps unreserved of "
            f"{args.account_concurrency}; turn reservation off or raise the account's concurrency")))
    return problems


def _batch_time_problems(args: EmailSenderArgs, lane: LaneConfig) -> list[Problem]:
    """A batch must be paced out within the time a call keeps for sending (its timeout less one send's worst case).

    The slowest pacing is the fallback without the send schedule: the lane's share of the rate,
    split across its instances (`handlers.scheduling.pacing`).
    """
    per_instance = args.account_send_rate * lane.rate_share / args.lane_concurrency(lane)
    # Pacing charges per recipient: at least one per event, plus the on-call list the priority lane adds.
    recipients = 1 + (len(args.oncall_recipients) if lane.handler == PRIORITY_HANDLER else 0)
    seconds = lane.batch_size * recipients / per_instance
    available = args.function_timeout_seconds - SEND_RESERVE_SECONDS
    if seconds <= available:
        return []
    return [Problem(f"lanes.{lane.name}", (
        f"at {per_instance:g} recipients/s per instance a batch of {lane.batch_size} (at least {recipients} "
        f"recipient(s) each) takes {seconds:g} s, more than the {available:g} s a {args.function_timeout_seconds} s "
        "function has for sending; raise the account send rate or the lane's share, lower its batch size, or raise "
        "the function timeout"))]
