"""`email-pipeline status`: is the pipeline healthy, and if not, where to look first.

Per lane: messages waiting, in flight, the age of the oldest (CloudWatch's
`ApproximateAgeOfOldestMessage`: SQS has no queue attribute for it), and the DLQ's depth by
failure code. Then the unrouted queue, the SES account, and the stack's alarms in ALARM.
SES and alarms are best effort: an endpoint without them (moto has no `GetAccount`) or a role
without the permission shows "unavailable" with the reason; the queues are the stack itself, and
an error reading them stops the command.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import dead_letters, render
from .session import Aws
from .problems import NOT_FOUND, describe_client_error
from .stack import Stack

_AGE_WINDOW = dt.timedelta(minutes=15)


def collect(stack: Stack, aws: Aws, *, max_receives: int,
            now: dt.datetime | None = None) -> dict[str, Any]:
    """The status document (`--json` prints it as is)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    sqs = aws.client("sqs")
    lanes = {lane: _lane(stack, aws, lane, max_receives, now) for lane in stack.lane_names()}
    unrouted = dead_letters.queue_depths(sqs, stack.unrouted_url)["visible"] if stack.unrouted_url else None
    document: dict[str, Any] = {
        "stack": stack.prefix,
        "lanes": lanes,
        "unrouted": unrouted,
        "ses": _ses_account(aws),
        "alarms": _alarms(aws, stack.prefix),
    }
    document["problems"] = _problems(document)
    document["healthy"] = not document["problems"]
    return document


def _lane(stack: Stack, aws: Aws, lane: str, max_receives: int, now: dt.datetime) -> dict[str, Any]:
    sqs = aws.client("sqs")
    depths = dead_letters.queue_depths(sqs, stack.queue_url(lane)) if stack.lanes[lane].queue_url else None
    sample = (dead_letters.peek(sqs, lane, stack.dead_letter_url(lane), max_receives=max_receives)
              if stack.lanes[lane].dead_letter_url else None)
    return {
        "queued": depths["visible"] if depths else None,
        "in_flight": depths["in_flight"] if depths else None,
        "delayed": depths["delayed"] if depths else None,
        "oldest_age_seconds": _oldest_age(aws, stack.lanes[lane].queue_url, now),
        "dead_letters": None if sample is None else {
            "depth": sample.depth, "in_flight": sample.in_flight, "by_code": sample.by_code(),
            "sampled": len(sample.letters), "complete": sample.complete,
        },
    }


def _oldest_age(aws: Aws, queue_url: str | None, now: dt.datetime) -> float | None:
    """The newest `ApproximateAgeOfOldestMessage` datapoint of the last 15 minutes, if any."""
    if not queue_url:
        return None
    queue_name = queue_url.rstrip("/").rpartition("/")[2]
    try:
        points = aws.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": queue_name}], StartTime=now - _AGE_WINDOW, EndTime=now,
            Period=60, Statistics=["Maximum"])["Datapoints"]
    except (ClientError, BotoCoreError):
        return None  # only a figure is lost; the depths say whether the lane moves
    if not points:
        return None
    return float(max(points, key=lambda point: point["Timestamp"])["Maximum"])


def _ses_account(aws: Aws) -> dict[str, Any]:
    try:
        account = aws.client("sesv2").get_account()
    except ClientError as exc:
        return {"available": False, "reason": f"GetAccount answered {describe_client_error(exc)}"}
    except BotoCoreError as exc:
        return {"available": False, "reason": f"GetAccount failed: {type(exc).__name__}"}
    quota = account.get("SendQuota", {})
    return {
        "available": True,
        "sending_enabled": bool(account.get("SendingEnabled", False)),
        "production_access": bool(account.get("ProductionAccessEnabled", False)),
        "enforcement_status": account.get("EnforcementStatus", ""),
        "sent_last_24_hours": quota.get("SentLast24Hours"),
        "max_24_hour_send": quota.get("Max24HourSend"),
        "max_send_rate": quota.get("MaxSendRate"),
    }


def _alarms(aws: Aws, prefix: str | None) -> dict[str, Any]:
    """Alarms in ALARM, the stack's own when its prefix is known (its alarm names start with it)."""
    request: dict[str, Any] = {"StateValue": "ALARM"}
    if prefix:
        request["AlarmNamePrefix"] = prefix
    try:
        pages = aws.client("cloudwatch").get_paginator("describe_alarms").paginate(**request)
        alarms = [alarm for page in pages for kind in ("MetricAlarms", "CompositeAlarms") for alarm in page.get(kind, [])]
    except ClientError as exc:
        return {"available": False, "reason": f"DescribeAlarms answered {describe_client_error(exc)}"}
    except BotoCoreError as exc:
        return {"available": False, "reason": f"DescribeAlarms failed: {type(exc).__name__}"}
    # Filtered here too: moto ignores StateValue when AlarmNamePrefix is given.
    firing = [alarm for alarm in alarms if alarm.get("StateValue") == "ALARM"
              and (not prefix or alarm["AlarmName"].startswith(prefix))]
    return {
        "available": True,
        "scope": "stack" if prefix else "account",
        "in_alarm": [{"name": alarm["AlarmName"], "reason": alarm.get("StateReason", ""),
                      "since": _iso(alarm.get("StateUpdatedTimestamp"))} for alarm in firing],
    }


def _problems(document: Mapping[str, Any]) -> list[str]:
    problems = []
    for lane, figures in document["lanes"].items():
        letters = figures["dead_letters"]
        if letters and letters["depth"]:
            problems.append(f"{lane} DLQ holds {letters['depth']}")
    if document["unrouted"]:
        problems.append(f"unrouted queue holds {document['unrouted']}")
    ses = document["ses"]
    if ses.get("available") and not ses["sending_enabled"]:
        problems.append("SES sending is disabled")
    alarms = document["alarms"]
    if alarms.get("available") and alarms["in_alarm"]:
        problems.append(f"{len(alarms['in_alarm'])} alarm(s) in ALARM")
    return problems


def _iso(value: Any) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, dt.datetime) else str(value or "")


def exit_status(document: Mapping[str, Any]) -> int:
    """0 when healthy, 1 when something needs an operator."""
    return 0 if document["healthy"] else NOT_FOUND


def text(document: Mapping[str, Any]) -> str:
    """The status for a terminal."""
    rows = []
    for lane, figures in document["lanes"].items():
        letters = figures["dead_letters"]
        rows.append([lane, render.number(figures["queued"]), render.number(figures["in_flight"]),
                     render.age(figures["oldest_age_seconds"]), _dead_letter_cell(letters)])
    lines = [f"stack {document['stack'] or '(unknown: pass --stack-name)'}", ""]
    lines += render.table(["lane", "queued", "in flight", "oldest", "dead letters (by failure code)"], rows)
    lines += ["", f"unrouted: {render.number(document['unrouted'])}", _ses_line(document["ses"]),
              *_alarm_lines(document["alarms"]), ""]
    problems = document["problems"]
    lines.append("verdict: healthy" if not problems else f"verdict: needs attention ({'; '.join(problems)})")
    return "\n".join(lines)


def _dead_letter_cell(letters: Mapping[str, Any] | None) -> str:
    if letters is None:
        return "-"
    cell = str(letters["depth"])
    if letters["by_code"]:
        cell += " (" + ", ".join(f"{code} {count}" for code, count in letters["by_code"].items()) + ")"
    if not letters["complete"]:
        cell += f" [codes of {letters['sampled']} read]"
    return cell


def _ses_line(ses: Mapping[str, Any]) -> str:
    if not ses.get("available"):
        return f"SES: unavailable ({ses['reason']})"
    sending = "enabled" if ses["sending_enabled"] else "DISABLED"
    access = "production" if ses["production_access"] else "sandbox"
    return (f"SES: sending {sending}, {render.number(ses['sent_last_24_hours'])} of "
            f"{render.number(ses['max_24_hour_send'])} sent in the last 24 h, max send rate "
            f"{render.number(ses['max_send_rate'])}/s, {access}")


def _alarm_lines(alarms: Mapping[str, Any]) -> list[str]:
    if not alarms.get("available"):
        return [f"alarms: unavailable ({alarms['reason']})"]
    scope = "" if alarms["scope"] == "stack" else " (whole account: the stack name is not known)"
    if not alarms["in_alarm"]:
        return [f"alarms in ALARM{scope}: none"]
    return [f"alarms in ALARM{scope}:"] + [f"  {alarm['name']} since {alarm['since']}: {alarm['reason']}"
                                          for alarm in alarms["in_alarm"]]
