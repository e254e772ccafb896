"""Burst benchmark: how close the lanes drain to the account's send rate R, and whether alerts jump the queue.

For each R, the real lane functions drain a backlog of ordinary mail in real time, as Lambda would
run them: per lane, as many instances as its event source mapping allows (`lane_max_concurrency`),
each a process of its own (a container) that imports the function's entry module from its code
archive, with its real botocore clients (their HTTP layer answered by the emulated services), and
runs confined to the CPU share Lambda gives the function's memory (CFS bandwidth control, as
Lambda's limit works: bench/cpu_share.py). Each instance's event source mapping receives a batch,
invokes the instance with the function's deadline, and deletes what the handler did not report
as failed (DeleteMessageBatch). When 40% of the backlog is sent, a burst of priority alerts
arrives. SQS, DynamoDB and SES are emulated in this process (bench/burst_sqs.py,
bench/burst_dynamodb.py, bench/burst_ses.py), with realistic latencies and an SES that answers 429
above R recipients per sliding second.

Reported per R: how fully the account's rate was used while the backlog drained (every recipient
SES accepted between the backlog's 10% and 90% sends, alerts included, per second, over R), and
the ordinary mail's own share of that; the alerts' enqueue-to-send p50/p99 beside the ideal
(alerts sent back to back at R); 429s; dead letters, lost and duplicated mail; DynamoDB requests
per email sent (idempotency items, and any other: coordination for pacing); how pacing held on
the CPU share (lateness of sends against their slots, rebookings, throttles per 1,000 emails, the
instances' CPU per email, the periods their CPU quota ran out). Then what each email
took from every service that bills per use (Lambda GB-seconds and invocations, log bytes rendered
exactly as production renders them, SQS requests, DynamoDB request units, X-Ray traces) and what
that costs beside SES (bench/cost.py), and the budgets at R = 14, 50 and 200 (drain, throttles,
alerts' p99, lateness' p99). Exits 1 on lost or duplicated mail, or a budget missed.

This module is the command; the work is done by bench/burst_stack.py (the deployment),
bench/burst_lambda.py and bench/burst_instance.py (the instances), bench/burst_rpc.py (their AWS
endpoint), bench/cpu_share.py (the CPU share), bench/burst_scenario.py (one R), bench/burst_logs.py
(the log meter), bench/burst_tally.py (the figures) and bench/burst_report.py (the tables).

Run: `.venv/bin/python bench/burst.py [R ...] [--memory LANE=MB ...] [--code HANDLERS_DIR] [--no-cpu-share]`
(default R = 1 14 50 200, each lane at the memory the stack deploys; about 5 minutes on 2 cores;
one R alone, e.g. `bench/burst.py 14`, about a minute). `--code` runs another checkout's handler
package, to compare two versions side by side; `--no-cpu-share` runs the instances unconfined.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import burst_scenario  # noqa: E402
from bench.burst_report import print_budgets, print_table  # noqa: E402
from bench.burst_stack import STACK, Deployment  # noqa: E402
from bench.burst_tally import Result, measure  # noqa: E402
from bench.cpu_share import PERIOD_MS, CpuShares, calibrate, vcpu_share  # noqa: E402
from ses_email_pipeline.handlers.shared import catalog  # noqa: E402
from ses_email_pipeline.template_files import deployed_catalog, discover  # noqa: E402

RATES = (1, 14, 50, 200)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/burst.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("rates", nargs="*", type=int, default=list(RATES), help="account send rates R to run")
    parser.add_argument("--memory", action="append", default=[], metavar="LANE=MB",
                        help="a lane's memory (and so its CPU share), instead of what the stack deploys")
    parser.add_argument("--code", type=Path, default=ROOT / "handlers", help="the handler package to run")
    parser.add_argument("--no-cpu-share", action="store_true", help="run the instances unconfined")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run each R given, print the tables and budgets; 1 if any mail was lost or duplicated, or a budget missed."""
    args = arguments(argv)
    memory = {lane: int(mb) for lane, _, mb in (item.partition("=") for item in args.memory)}
    templates = catalog.to_json(deployed_catalog(discover(ROOT / "templates"), f"email-{STACK}"))
    shares = None if args.no_cpu_share else CpuShares("burst")
    if shares is not None:
        shares.enter()
        print(f"CPU share: CFS period {PERIOD_MS:.0f} ms; calibration at 256 MB: {calibrate(vcpu_share(256)):.2f} s "
              f"of wall time per CPU second (faithful: {1 / vcpu_share(256):.2f})", file=sys.stderr)
    started = time.monotonic()
    results: list[Result] = []
    try:
        for rate in args.rates:
            scenario, outcome = burst_scenario.run(rate, templates, Deployment(memory, args.code.resolve(), shares))
            results.append(measure(scenario, outcome))
            print(f"R={rate} done in {results[-1].seconds:.0f} s", file=sys.stderr)
    finally:
        if shares is not None:
            shares.close()
    print_table(results)
    within = print_budgets(results) if shares is not None else True
    print(f"total {time.monotonic() - started:.0f} s")
    return 1 if any(result.lost or result.duplicates for result in results) or not within else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
