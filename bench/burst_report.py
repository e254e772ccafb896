"""The burst benchmark's report: its three tables (drain and alerts, use per email, cost per million emails).

bench/README.md ("Results") shows them and says what each column means.
"""

from __future__ import annotations

from bench import cost
from bench.burst_stack import MEMORY_MB, TRACING
from bench.burst_tally import Result

COLUMNS = ("R", "backlog", "inst n/p", "drain/R", "normal/R", "alert p50", "alert p99", "ideal p50/p99", "429s", "dead",
           "lost", "dup", "queued", "idem req/email", "coord req/email", "time")


def row(result: Result) -> tuple[str, ...]:
    """The first table's row: drain, alerts, throttles, what became of the mail, DynamoDB requests, time."""
    return (str(result.rate), str(result.backlog), result.concurrency,
            "-" if result.drain is None else f"{result.drain:.2f}",
            "-" if result.normal_drain is None else f"{result.normal_drain:.2f}", str(result.alert_p50 or "-"),
            str(result.alert_p99 or "-"), f"{result.ideal_p50:.1f}/{result.ideal_p99:.1f} s", str(result.throttles),
            str(result.dead_letters), str(result.lost), str(result.duplicates), str(result.still_queued),
            f"{result.idempotency_per_email:.2f}", f"{result.coordination_per_email:.2f}", f"{result.seconds:.0f} s")


USAGE_COLUMNS = ("R", "emails", "inv/email", "GB-s/email", "log B/email", "SQS req/email", "idem WRU/RRU",
                 "coord WRU/RRU", "traces/email")
COST_COLUMNS = ("R", *(f"{part} $/M" for part in ("Lambda", "SQS", "DynamoDB", "Logs", "EventBridge", "X-Ray")),
                "total $/M", "SES $/M", "% of SES")


def usage_row(result: Result) -> tuple[str, ...]:
    """What each email sent took from every service that bills per use."""
    used = result.per_email
    return (str(result.rate), str(result.emails), f"{used.invocations:.3f}", f"{used.gb_seconds:.4f}",
            f"{used.log_bytes:.0f}", f"{used.sqs_requests:.2f}",
            f"{used.idempotency_writes:.2f}/{used.idempotency_reads:.2f}",
            f"{used.coordination_writes:.2f}/{used.coordination_reads:.2f}", f"{used.traces:.3f}")


def cost_row(result: Result) -> tuple[str, ...]:
    """Dollars per million emails by service, their total, SES's own for the same mail, and the share."""
    used = result.per_email
    costs = [1e6 * dollars for dollars in used.costs().values()]
    ses = 1e6 * cost.PRICES["ses"].of(used.recipients)
    return (str(result.rate), *(f"{dollars:.2f}" for dollars in costs), f"{sum(costs):.2f}", f"{ses:.2f}",
            f"{100 * used.share_of_ses():.2f}%")


def print_rows(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A table, each column right-aligned to its widest cell."""
    table = [columns, *rows]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(columns))]
    for cells in table:
        print("  ".join(cell.rjust(width) for cell, width in zip(cells, widths)))


def print_table(results: list[Result]) -> None:
    """Every table, each followed by its notes (warnings logged, what is left out and why)."""
    print_rows(COLUMNS, [row(result) for result in results])
    for result in results:
        print(f"R={result.rate} warnings and errors logged: {result.problems}")
    print(f"\nPer email sent (Lambda at {MEMORY_MB} MB, billed per 1 ms; DynamoDB items: idempotency vs coordination):")
    print_rows(USAGE_COLUMNS, [usage_row(result) for result in results])
    print("\nCost per million emails, eu-west-1 list prices (bench/cost.py PRICES), beside SES's for the same mail:")
    print_rows(COST_COLUMNS, [cost_row(result) for result in results])
    for result in results:
        print(f"R={result.rate}: Lambda's START/END/REPORT lines are not sent at system log level "
              f"{cost.SYSTEM_LOG_LEVEL} (in text format at INFO: +{result.platform_text_per_email:.0f} B/email); "
              f"{result.empty_receives} empty receives left out (idle polling costs per hour, not per email); "
              f"tracing {TRACING}" + ("" if TRACING == "Active" else (
                  f" (Active would record {result.active_traces_per_email:.3f} traces/email, "
                  f"${1e6 * cost.PRICES['xray_trace'].of(result.active_traces_per_email):.2f}/M)")))
