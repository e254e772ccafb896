"""What the stack's infrastructure costs per email beside SES, from what the burst benchmark measured.

bench/burst.py counts what each service would bill while the real handlers drain a burst
(invocations and their durations, log bytes, SQS requests, DynamoDB request units); this module
holds the prices and the billing rules that turn those counts into dollars, so the rules are
written once and can be checked on their own. Only costs that grow with the mail are here: idle
SQS polls, alarms, dashboards and log storage are a fixed cost per hour or month (README.md,
"Cost per million emails").
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Lambda bills duration in 1 ms steps (https://aws.amazon.com/lambda/pricing/).
_BILLING_STEP_MS = 1
#: Lambda's active tracing samples with X-Ray's default rule, which cannot be changed for a
#: function: the first request each second, then 5% of the rest (AWS X-Ray Developer Guide,
#: "Configuring sampling rules": https://docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html;
#: AWS Lambda Developer Guide, "Visualize Lambda function invocations using AWS X-Ray":
#: https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html).
XRAY_RESERVOIR_PER_SECOND = 1
XRAY_FIXED_RATE = 0.05
#: The functions' system log level (components/functions.py, `logging_config`). At WARN,
#: Lambda sends none of its own per-invocation lines: it sends `platform.start` and
#: `platform.report` only at INFO ("By default, Lambda sets the system log level to INFO. With this
#: setting, Lambda automatically sends "start" and "report" log messages to CloudWatch":
#: https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
SYSTEM_LOG_LEVEL = "WARN"
#: CloudWatch Logs prices ingestion per GB of 2^30 bytes, as AWS bills data.
_GB = 2**30
#: Delivery status's cost per million emails, as bench/status_cost.py last measured it.
STATUS_COST_FILE = Path(__file__).resolve().parent.parent / "build" / "status_cost.json"


@dataclass(frozen=True)
class Price:
    """A list price: `usd` for every `per` units."""

    usd: float
    per: float
    unit: str

    def of(self, quantity: float) -> float:
        """What `quantity` units cost, in dollars."""
        return self.usd * quantity / self.per


#: eu-west-1 list prices in USD. Check each against its pricing page before quoting a figure:
#: https://aws.amazon.com/{ses,lambda,sqs,cloudwatch,eventbridge,xray}/pricing/ and
#: https://aws.amazon.com/dynamodb/pricing/on-demand/. Free tiers are left out.
PRICES: Mapping[str, Price] = {
    "ses": Price(0.10, 1_000, "emails (each recipient counts)"),
    "lambda_gb_second": Price(0.0000133334, 1, "GB-second, arm64"),
    "lambda_request": Price(0.20, 1_000_000, "invocations"),
    "sqs_request": Price(0.40, 1_000_000, "standard-queue requests (per 64 KB chunk)"),
    "dynamodb_write": Price(0.625, 1_000_000, "on-demand write request units"),
    "dynamodb_read": Price(0.125, 1_000_000, "on-demand read request units"),
    "logs_ingested": Price(0.50, _GB, "bytes ingested into CloudWatch Logs (standard class)"),
    "eventbridge_event": Price(1.00, 1_000_000, "custom events published (per 64 KB chunk)"),
    "xray_trace": Price(5.00, 1_000_000, "traces recorded"),
}


def billed_milliseconds(seconds: float) -> int:
    """One invocation's billed duration: its duration rounded up to Lambda's 1 ms step."""
    return max(_BILLING_STEP_MS, _BILLING_STEP_MS * math.ceil(seconds * 1000 / _BILLING_STEP_MS))


def gb_seconds(billed_ms: int, memory_mb: int) -> float:
    """GB-seconds of one invocation: billed time times the configured memory (not the memory used)."""
    return billed_ms / 1000 * memory_mb / 1024


def sampled_traces(invocation_starts: Iterable[float]) -> float:
    """Traces X-Ray is expected to record for one function's invocations (start times in seconds).

    Each second, the first invocation is traced and 5% of the others (see XRAY_FIXED_RATE).
    """
    per_second = Counter(math.floor(start) for start in invocation_starts)
    return sum(min(count, XRAY_RESERVOIR_PER_SECOND) + XRAY_FIXED_RATE * max(0, count - XRAY_RESERVOIR_PER_SECOND)
               for count in per_second.values())


def platform_text_lines(request_id: str, duration_ms: float, memory_mb: int) -> list[str]:
    """Lambda's START, END and REPORT lines for one invocation, in the text log format.

    The shape is AWS's documented example (AWS Lambda Developer Guide, "Log and monitor Python
    Lambda functions": https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html), e.g.
    `REPORT RequestId: <uuid>\\tDuration: 102.52 ms\\tBilled Duration: 103 ms\\tMemory Size: 256 MB\\t
    Max Memory Used: 78 MB`. A traced invocation's REPORT also carries an `XRAY TraceId` line, and
    a cold start's an `Init Duration`; both are left out, so this is a lower bound.
    """
    billed = billed_milliseconds(duration_ms / 1000)
    return [
        f"START RequestId: {request_id} Version: $LATEST",
        f"END RequestId: {request_id}",
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: 78 MB",
    ]


def platform_bytes(request_id: str, duration_ms: float, memory_mb: int,
                   system_log_level: str = SYSTEM_LOG_LEVEL) -> int:
    """Bytes of Lambda's own lines one invocation adds to the log group, at the given system log level."""
    if system_log_level == "WARN":
        return 0
    return sum(len(line.encode()) + 1 for line in platform_text_lines(request_id, duration_ms, memory_mb))


@dataclass(frozen=True)
class PerEmail:
    """What one email sent takes from each service, averaged over a run.

    Attributes:
        invocations: Lambda invocations.
        gb_seconds: billed Lambda GB-seconds.
        log_bytes: bytes ingested into CloudWatch Logs (the handlers' lines and Lambda's own).
        sqs_requests: SQS requests (EventBridge's delivery, the poller's non-empty receives and
            batch deletes, the handlers' dead-letter sends and visibility changes).
        idempotency_writes, idempotency_reads: DynamoDB request units on the idempotency items.
        coordination_writes, coordination_reads: DynamoDB request units on anything else (the
            send schedule): what pacing coordination costs.
        events: EventBridge custom events published.
        traces: X-Ray traces recorded.
        recipients: SES recipients (what SES bills per email).
    """

    invocations: float
    gb_seconds: float
    log_bytes: float
    sqs_requests: float
    idempotency_writes: float
    idempotency_reads: float
    coordination_writes: float
    coordination_reads: float
    events: float
    traces: float
    recipients: float

    def costs(self) -> dict[str, float]:
        """Dollars per email, by service, at `PRICES`."""
        return {
            "Lambda": PRICES["lambda_gb_second"].of(self.gb_seconds) + PRICES["lambda_request"].of(self.invocations),
            "SQS": PRICES["sqs_request"].of(self.sqs_requests),
            "DynamoDB": PRICES["dynamodb_write"].of(self.idempotency_writes + self.coordination_writes)
            + PRICES["dynamodb_read"].of(self.idempotency_reads + self.coordination_reads),
            "Logs": PRICES["logs_ingested"].of(self.log_bytes),
            "EventBridge": PRICES["eventbridge_event"].of(self.events),
            "X-Ray": PRICES["xray_trace"].of(self.traces),
        }

    def share_of_ses(self) -> float:
        """The infrastructure's cost as a fraction of what SES charges for the same email."""
        return sum(self.costs().values()) / PRICES["ses"].of(self.recipients)


def status_cost_per_million() -> tuple[float, str] | None:
    """Delivery status's dollars per million emails and when bench/status_cost.py measured them; None if it has not."""
    try:
        measured = json.loads(STATUS_COST_FILE.read_text())
    except (OSError, ValueError):
        return None
    return float(measured["usd_per_million"]), str(measured.get("measured_at", "?"))
