"""What delivery status costs per million emails: the status handler run on the emulator, its bills counted.

    .venv/bin/python bench/status_cost.py [EMAILS]

Sends EMAILS emails (default 200, one recipient each) through the local system to SES's mailbox
simulator in a realistic mix (mostly delivered; some bounces, complaints, automatic replies), lets
the status handler drain SES's events, and counts what AWS would bill for that part alone:
SQS requests on the status queue (EventBridge's send, the poller's receives, the deletes), Lambda
invocations and GB-seconds (durations measured in-process, on this machine), status events put
on the bus, DynamoDB request units for the status records (from each record's size, as DynamoDB
bills: writes per 1 KB, strongly consistent reads per 4 KB), and log bytes. SES's events on the
default bus and the rule delivering them cost nothing (EventBridge pricing: events published by
AWS services are free). Prices are bench/cost.py's.

It prints each half (status events, status records) on its own, since a stack can turn either off
(`statusEvents`, `statusRecords`), writes the total to `build/status_cost.json` (which
bench/burst.py adds to its cost per million emails, for the all-in figure with status on), and
exits 1 only if an email's status is missing or wrong.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cost import PRICES, STATUS_COST_FILE  # noqa: E402

from local.system import LocalSystem  # noqa: E402

#: What the mix sends, per 100 emails: a healthy list (a 2% bounce rate is already near SES's
#: review rate of 5%; complaints are rarer still).
MIX = {"success": 93, "bounce": 2, "ooto": 3, "complaint": 1, "suppressionlist": 1}
EXPECTED = {"success": "delivered", "bounce": "bounced", "ooto": "delivered", "complaint": "complained",
            "suppressionlist": "bounced"}
#: The functions' memory (EmailSenderArgs.memory_mb's default).
MEMORY_MB = 256


def run(emails: int) -> dict[str, Any]:
    mailboxes = [box for box, share in MIX.items() for _ in range(share)]
    random.Random(13).shuffle(mailboxes)  # the mix spread over any run length, the same every run
    addresses = [f"{mailboxes[i % len(mailboxes)]}+{i}@simulator.amazonses.com" for i in range(emails)]
    with LocalSystem.start("dev") as system, contextlib.redirect_stdout(io.StringIO()):
        calls: Counter[str] = Counter()
        timings: list[float] = []
        status = system.status_function()
        assert status is not None, "the dev stack has delivery status on"

        def timing(handler: Any) -> Any:
            def timed(event: dict[str, Any], context: Any) -> Any:
                started = time.perf_counter()
                try:
                    return handler(event, context)
                finally:
                    timings.append(time.perf_counter() - started)
                    calls["invocations"] += 1
                    calls["ses_events"] += len(event["Records"])
            return timed

        system.lambda_service.wrap(status, timing)
        for start in range(0, emails, 10):
            system.publish([{"Source": "custom.application", "DetailType": "Email Notification Request",
                             "Detail": json.dumps({"emailConfig": {"recipient": a, "subject": "S"}, "title": "T",
                                                   "message": "M"})} for a in addresses[start:start + 10]])
        system.drain()
        summary = system.summary()
        wrong = [(a, e["delivery"].get(a)) for e in summary["sent"] for a in e["to"]
                 if e["delivery"].get(a) != EXPECTED[a.split("+")[0]]]
        published = len(system.status_events())
        record_bytes = [_item_bytes(system.status_record(e["ses_message_id"])) for e in summary["sent"]]
        log_bytes = sum(len(json.dumps(r, sort_keys=True)) + 1 for lane, r in system.log_records if lane == "status")
    per_event_writes = [math.ceil(size / 1024) for size in record_bytes]
    per_event_reads = [math.ceil(size / 4096) for size in record_bytes]
    events = calls["ses_events"]
    batches = calls["invocations"]
    return {
        "emails": emails, "ses_events": events, "invocations": batches, "status_events": published,
        "wrong": wrong, "log_bytes": log_bytes, "record_bytes_max": max(record_bytes),
        # one read and one write per SES event, sized by the record as it grows (bounded by its final size)
        "read_units": sum(per_event_reads) / emails * events, "write_units": sum(per_event_writes) / emails * events,
        "seconds": sum(timings),
        # EventBridge's SendMessage per SES event, one receive and one delete batch per invocation
        "sqs_requests": events + 2 * batches,
    }


def _item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, near enough: attribute names and values in UTF-8."""
    def size(value: Any) -> int:
        if isinstance(value, dict):
            return sum(len(k) + size(v) for k, v in value.items())
        if isinstance(value, list):
            return sum(size(v) for v in value) + 3
        return len(str(value))
    return size(item)


def main() -> int:
    emails = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    measured = run(emails)
    scale = 1_000_000 / emails
    lambda_usd = (PRICES["lambda_request"].of(measured["invocations"])
                  + PRICES["lambda_gb_second"].of(measured["seconds"] * MEMORY_MB / 1024)) * scale
    shared = lambda_usd + PRICES["sqs_request"].of(measured["sqs_requests"]) * scale \
        + PRICES["logs_ingested"].of(measured["log_bytes"]) * scale
    events_usd = PRICES["eventbridge_event"].of(measured["status_events"]) * scale
    records_usd = (PRICES["dynamodb_write"].of(measured["write_units"])
                   + PRICES["dynamodb_read"].of(measured["read_units"])) * scale
    ses_usd = PRICES["ses"].of(1_000_000)
    print(f"{emails} emails, mix {MIX}: {measured['ses_events']} SES events in {measured['invocations']} invocations, "
          f"{measured['status_events']} status events, largest record {measured['record_bytes_max']} bytes")
    print(f"per million emails: SES events {measured['ses_events'] * scale:,.0f}, "
          f"status events {measured['status_events'] * scale:,.0f}")
    print(f"  handler (Lambda ${lambda_usd:.3f}, SQS, logs): ${shared:.2f}")
    print(f"  status events (EventBridge custom events): ${events_usd:.2f}")
    print(f"  status records (DynamoDB {measured['write_units'] * scale:,.0f} WRU, "
          f"{measured['read_units'] * scale:,.0f} RRU): ${records_usd:.2f}")
    total = shared + events_usd + records_usd
    print(f"  total ${total:.2f} = {total / ses_usd:.2%} of SES's ${ses_usd:.2f}")
    STATUS_COST_FILE.parent.mkdir(exist_ok=True)
    STATUS_COST_FILE.write_text(json.dumps({"usd_per_million": total, "emails": emails,
                                            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
    if measured["wrong"]:
        print(f"WRONG final status for {len(measured['wrong'])} recipients: {measured['wrong'][:5]}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
