"""Burst benchmark: how close the lanes drain to the account's send rate R, and whether alerts jump the queue.

For each R, the real lane handlers (`lane.entry_point(templated.compose / priority.compose, ...)`)
drain a backlog of ordinary mail in real time, as Lambda would run them: per lane, as many
concurrent instances as its event source mapping allows (`lane_max_concurrency`), each a thread
that receives a batch, invokes its own handler (one container: its own clients and state; the
handler may send the batch from threads of its own) with the function's deadline, and deletes
what the handler did not report as failed (DeleteMessageBatch). When 40% of the backlog is sent,
a burst of priority alerts arrives. SQS, DynamoDB and SES are emulated in-process
(bench/burst_sqs.py, bench/burst_dynamodb.py, bench/burst_ses.py), with realistic latencies and
an SES that answers 429 above R recipients per sliding second.

Reported per R: how fully the account's rate was used while the backlog drained (every recipient
SES accepted between the backlog's 10% and 90% sends, alerts included, per second, over R), and
the ordinary mail's own share of that; the alerts' enqueue-to-send p50/p99 beside the ideal
(alerts sent back to back at R); 429s; dead letters, lost and duplicated mail; DynamoDB requests
per email sent (idempotency items, and any other: coordination for pacing). Then what each email
took from every service that bills per use (Lambda GB-seconds and invocations, log bytes rendered
exactly as production renders them, SQS requests, DynamoDB request units, X-Ray traces) and what
that costs beside SES (bench/cost.py). Exits 1 only on lost or duplicated mail, never on timing or
cost.

This module is the command; the work is done by bench/burst_stack.py (the deployment),
bench/burst_lambda.py (the instances), bench/burst_scenario.py (one R), bench/burst_logs.py (the
log meter), bench/burst_tally.py (the figures) and bench/burst_report.py (the tables).

Run: `.venv/bin/python bench/burst.py [R ...]` (default 1 14 50 200; about 4 minutes on 2 cores;
one R alone, e.g. `bench/burst.py 14`, about a minute).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Importing a handler module creates its (unused) real clients, which need a region.
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_REGION", "eu-west-1")

from bench import burst_scenario  # noqa: E402
from bench.burst_logs import LogMeter  # noqa: E402
from bench.burst_report import print_table  # noqa: E402
from bench.burst_stack import STACK  # noqa: E402
from bench.burst_tally import Result, measure  # noqa: E402
from ses_email_pipeline.handlers.shared import catalog  # noqa: E402
from ses_email_pipeline.template_files import deployed_catalog, discover  # noqa: E402

RATES = (1, 14, 50, 200)


def run_scenario(rate: int, templates: str, meter: LogMeter) -> Result:
    """Drain one backlog at account rate `rate`, injecting the alerts at 40%, and measure it."""
    scenario, outcome = burst_scenario.run(rate, templates, meter)
    return measure(scenario, outcome, meter)


def main(argv: list[str]) -> int:
    """Run each R given (all of `RATES` if none), print the tables; 1 if any mail was lost or duplicated."""
    rates = tuple(int(arg) for arg in argv) or RATES
    meter = LogMeter()
    meter.configure()
    templates = catalog.to_json(deployed_catalog(discover(ROOT / "templates"), f"email-{STACK}"))
    started = time.monotonic()
    results = []
    for rate in rates:
        results.append(run_scenario(rate, templates, meter))
        print(f"R={rate} done in {results[-1].seconds:.0f} s", file=sys.stderr)
    print_table(results)
    print(f"total {time.monotonic() - started:.0f} s")
    return 1 if any(result.lost or result.duplicates for result in results) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
