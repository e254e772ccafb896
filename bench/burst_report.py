"""The burst benchmark's report: its tables (drain and alerts, pacing on the CPU share, use per email, cost per
million emails) and the budgets the run is held to.

bench/README.md ("Results") shows them and says what each column means.
"""

from __future__ import annotations

from bench import cost
from bench.burst_stack import TRACING
from bench.burst_tally import Result

#: The rates the budgets bind (issue 23); R=1, a sandbox, is reported only.
BUDGETED_RATES = (14, 50, 200)
#: The account's rate used while the backlog drains, at least.
DRAIN_BUDGET = 0.95
#: Alerts' p99 wait, at most this much over the ideal (alerts back to back at R).
ALERT_P99_SLACK_SECONDS = 2.0
#: A send may leave this late against its slot and still never make a second hold more than R
#: (`handlers.scheduling.schedule.MAX_LATENESS_SECONDS`); the p99 is held to it.
LATENESS_P99_BUDGET_MS = 20.0
#: What the infrastructure may cost beside SES's own price for the same mail, in percent: without
#: delivery status, and with it (bench/status_cost.py adds its total). The measured 2.7-3.1% and
#: 5.4-5.8% (2026-12-04) with half a point to spare.
COST_BUDGET_PERCENT = 3.5
COST_WITH_STATUS_BUDGET_PERCENT = 6.5

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


PACING_COLUMNS = ("R", "memory n/p", "vCPU n/p", "late p50/p99/max", "rebooked/1k", "429s/1k", "CPU/email",
                  "quota out/1k", "machine busy", "AWS CPU")


def pacing_row(result: Result) -> tuple[str, ...]:
    """How pacing held on the functions' CPU share: lateness against slots, rebookings, throttles, CPU."""
    late = "-" if result.lateness_ms is None else "/".join(f"{value:.0f}" for value in result.lateness_ms) + " ms"
    rebooked = "-" if result.rebookings_per_1000 is None else f"{result.rebookings_per_1000:.1f}"
    return (str(result.rate), result.memory, result.vcpus, late, rebooked, f"{result.throttles_per_1000:.1f}",
            f"{result.cpu_ms_per_email:.2f} ms", f"{result.throttled_periods_per_1000:.1f}",
            f"{100 * result.machine_busy:.0f}%", f"{result.aws_cpu:.2f}")


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
    print("\nPacing on the functions' CPU share (each instance a process with its memory's share; lateness from the "
          "email_sent lines' slot_late_ms, rebookings from their rebookings; CPU: the instances' processes):")
    print_rows(PACING_COLUMNS, [pacing_row(result) for result in results])
    print("\nPer email sent (Lambda billed per 1 ms at each lane's memory; DynamoDB items: idempotency vs coordination):")
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


def budget_lines(results: list[Result]) -> list[tuple[str, bool]]:
    """Each budget at each budgeted R: its line, and whether it holds."""
    lines = []
    for result in results:
        if result.rate not in BUDGETED_RATES:
            continue
        ideal = result.ideal_p99 + ALERT_P99_SLACK_SECONDS
        p99 = result.alert_p99
        late = None if result.lateness_ms is None else result.lateness_ms[1]
        checks = [
            (f"drain {result.drain or 0:.2f} R (budget >= {DRAIN_BUDGET:.2f} R)",
             result.drain is not None and result.drain >= DRAIN_BUDGET),
            (f"429s {result.throttles} (budget 0)", result.throttles == 0),
            (f"alert p99 {p99 or '-'} (budget <= ideal {result.ideal_p99:.1f} s + {ALERT_P99_SLACK_SECONDS:.0f} s)",
             p99 is not None and not p99.at_least and p99.seconds <= ideal),
            (f"lateness p99 {'-' if late is None else f'{late:.0f} ms'} (budget <= {LATENESS_P99_BUDGET_MS:.0f} ms)",
             late is not None and late <= LATENESS_P99_BUDGET_MS),
        ]
        checks += cost_checks(result)
        lines += [(f"R={result.rate}: {text}", ok) for text, ok in checks]
    return lines


def cost_checks(result: Result) -> list[tuple[str, bool]]:
    """The infrastructure's cost beside SES's, without and with delivery status (if bench/status_cost.py ran)."""
    used = result.per_email
    ses = 1e6 * cost.PRICES["ses"].of(used.recipients)
    infrastructure = 1e6 * sum(used.costs().values())
    checks = [(f"cost ${infrastructure:.2f}/M = {100 * infrastructure / ses:.2f}% of SES's price without delivery "
               f"status (budget <= {COST_BUDGET_PERCENT:.1f}%)", 100 * infrastructure / ses <= COST_BUDGET_PERCENT)]
    status = cost.status_cost_per_million()
    if status is not None:
        with_status = infrastructure + status[0]
        checks.append((f"cost ${with_status:.2f}/M = {100 * with_status / ses:.2f}% with delivery status (its "
                       f"${status[0]:.2f}/M measured by bench/status_cost.py at {status[1]}; budget <= "
                       f"{COST_WITH_STATUS_BUDGET_PERCENT:.1f}%)", 100 * with_status / ses <= COST_WITH_STATUS_BUDGET_PERCENT))
    return checks


def print_budgets(results: list[Result]) -> bool:
    """The budgets' verdicts, one line each; True if all hold."""
    lines = budget_lines(results)
    if lines:
        print("\nBudgets (issue 23):")
    for text, ok in lines:
        print(f"  {text}: {'ok' if ok else 'OVER'}")
    return all(ok for _text, ok in lines)
