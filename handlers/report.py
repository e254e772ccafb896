"""Lambda handler for the daily report: the last 24 hours of the pipeline, mailed once a day.

EventBridge Scheduler invokes it with `{"scheduledTime": "<aws.scheduler.scheduled-time>"}`; a
classic EventBridge scheduled event (`{"time": ...}`) works too. The report day comes from the
scheduled time, not the clock, so a retried or replayed trigger for the same day finds the day's
idempotency record and sends nothing. Any failure is raised: the asynchronous invocation retries
and then lands in the function's failure destination, where it can be replayed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .idempotency import once_only
from . import log
from .sending import ses
from . import entry
from .clients import Clients
from .entry import Handler, end_of_init
from .shared.catalog import REPORT_TEMPLATE, newest_version
from .errors import DependencyUnavailable, InvalidEvent, OutcomeUnknown
from .shared.metrics import LANE_DIMENSION
from .shared import table_keys
from .shared.settings import ConfigurationError, ReportLane, Settings

_DAY = dt.timedelta(days=1)
_DLQ_DEPTH = "ApproximateNumberOfMessagesVisible"
_DEPTH_PERIOD_SECONDS = 300
#: metric name in LANE_METRICS -> the report's column for it
_COLUMNS: Mapping[str, str] = {
    "EmailsSent": "sent",
    "EmailsRejected": "rejected",
    "EmailsFailed": "failed",
    "EmailsDeferred": "deferred",
}


@dataclass(frozen=True)
class ReportWindow:
    """The 24 hours a report covers, ending at the scheduled time."""

    end: dt.datetime

    @property
    def start(self) -> dt.datetime:
        return self.end - _DAY

    @property
    def day(self) -> str:
        return self.end.date().isoformat()


def report_window(event: Mapping[str, Any]) -> ReportWindow:
    """The window named by the trigger.

    Raises:
        InvalidEvent: the trigger carries no parseable scheduled time.
    """
    raw = event.get("scheduledTime") or event.get("time")
    if not isinstance(raw, str):
        raise InvalidEvent("scheduledTime", "missing: the schedule must pass <aws.scheduler.scheduled-time>")
    try:
        end = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidEvent("scheduledTime", "not an ISO 8601 timestamp") from exc
    return ReportWindow(end if end.tzinfo else end.replace(tzinfo=dt.timezone.utc))


class DailyReport:
    """Gathers the day's figures and sends them through the shared send module once per day.

    Args:
        settings: report recipients, lanes, metrics namespace, templates, state table.
        sender: the shared SES send module (also the source of the account's quota).
        once: idempotency guard keyed by report day.
        cloudwatch_client: source of the figures, including the dead-letter queues' depth
            (AWS/SQS metrics, at most five minutes old).
    """

    def __init__(
        self, settings: Settings, sender: ses.SesSender, once: once_only.OnceOnly,
        cloudwatch_client: Any,
    ) -> None:
        self._settings = settings.require("report_recipients", "metrics_namespace", "state_table")
        self._sender = sender
        self._once = once
        self._cloudwatch = cloudwatch_client
        self._log = log.get_logger()

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, str]:
        """Send the report for the trigger's day, unless it was already sent."""
        self._once.register_lambda_context(context)
        window = report_window(event)
        # A report twice beats none: an unknown outcome (SES never answered) is sent again by the
        # asynchronous invocation's retry.
        try:
            message_id = self._once.run(f"report-{window.day}", lambda: self._send(window), resend_unknown=True)
        except OutcomeUnknown as exc:
            self._log.warning(log.EMAIL_OUTCOME_UNKNOWN, cause=exc.cause, decision="retry")
            raise
        return {"day": window.day, "sesMessageId": message_id}

    def _send(self, window: ReportWindow) -> str:
        data = self.figures(window)
        versions = self._settings.templates.get(REPORT_TEMPLATE, {})
        if not versions:
            # A deployment problem, not a bad event: EmailSender ships this template with the package.
            raise ConfigurationError(f"the {REPORT_TEMPLATE!r} template is not deployed with this function")
        deployed = versions[newest_version(versions)]
        email = ses.OutgoingEmail(
            to=self._settings.report_recipients,
            lane="report",
            template_label=REPORT_TEMPLATE,
            template_name=deployed.deployed_name,
            template_data=data,
        )
        message_id = self._sender.send(email)
        self._log.info(log.REPORT_SENT, day=window.day, ses_message_id=message_id)
        return message_id

    def figures(self, window: ReportWindow) -> dict[str, Any]:
        """The template data: per-lane counts, DLQ depths, reputation and quota."""
        lanes = self._settings.report_lanes
        values = self._metric_sums(window, lanes)
        limits = self._sender.account_limits(refresh=True)
        return {
            "stack": self._settings.stack,
            "date": window.day,
            "window_end": window.end.isoformat(timespec="minutes"),
            "lanes": [
                {
                    "name": report_lane.name,
                    **{column: int(values.get((report_lane.name, metric), 0)) for metric, column in _COLUMNS.items()},
                    "dead_letters": int(values.get((report_lane.name, _DLQ_DEPTH), 0)),
                }
                for report_lane in lanes
            ],
            "bounce_rate": _percent(values.get(("", "Reputation.BounceRate"))),
            "complaint_rate": _percent(values.get(("", "Reputation.ComplaintRate")), digits=3),
            "quota_used": int(limits.sent_last_24_hours),
            "quota_max": "unlimited" if limits.max_24_hour_send < 0 else int(limits.max_24_hour_send),
            "quota_percent": _percent(
                limits.sent_last_24_hours / limits.max_24_hour_send if limits.max_24_hour_send > 0 else None
            ),
        }

    def _metric_sums(
        self, window: ReportWindow, lanes: Sequence[ReportLane]
    ) -> dict[tuple[str, str], float]:
        queries: dict[str, tuple[tuple[str, str], dict[str, Any]]] = {}
        for lane_index, report_lane in enumerate(lanes):
            for metric_index, metric in enumerate(_COLUMNS):
                queries[f"l{lane_index}m{metric_index}"] = (
                    (report_lane.name, metric),
                    _stat(self._settings.metrics_namespace, metric, "Sum",
                          [{"Name": LANE_DIMENSION, "Value": report_lane.name}]),
                )
            queries[f"l{lane_index}dlq"] = (
                (report_lane.name, _DLQ_DEPTH),
                _stat("AWS/SQS", _DLQ_DEPTH, "Maximum",
                      [{"Name": "QueueName", "Value": report_lane.dead_letter_queue_url.rsplit("/", 1)[-1]}],
                      period=_DEPTH_PERIOD_SECONDS),
            )
        for index, metric in enumerate(("Reputation.BounceRate", "Reputation.ComplaintRate")):
            queries[f"ses{index}"] = (("", metric), _stat("AWS/SES", metric, "Maximum", []))
        try:
            response = self._cloudwatch.get_metric_data(
                MetricDataQueries=[{"Id": query_id, "MetricStat": stat, "ReturnData": True}
                                   for query_id, (_key, stat) in queries.items()],
                StartTime=window.start,
                EndTime=window.end,
            )
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable("cannot read CloudWatch metrics", code=type(exc).__name__) from exc
        results = {result["Id"]: result.get("Values", []) for result in response.get("MetricDataResults", [])}
        return {key: _combine(key[1], results.get(query_id, [])) for query_id, (key, _stat_) in queries.items()}

def _stat(
    namespace: str, metric: str, stat: str, dimensions: list[dict[str, str]], period: int = 86_400
) -> dict[str, Any]:
    return {
        "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
        "Period": period,
        "Stat": stat,
    }


def _combine(metric: str, values: Sequence[float]) -> float:
    """Counts add up over the day; rates take the day's worst; a depth is its latest value."""
    if not values:
        return 0.0
    if metric == _DLQ_DEPTH:
        return float(values[0])  # GetMetricData returns the newest datapoint first
    return max(values) if metric.startswith("Reputation.") else float(sum(values))


def _percent(ratio: float | None, digits: int = 2) -> str:
    return "n/a" if ratio is None else f"{ratio * 100:.{digits}f}%"


def build(clients: Clients) -> Handler:
    """The report's handler, with `clients` (the emulator and tests bring their own)."""

    def report() -> Handler:
        settings = Settings.from_environ()
        once = once_only.OnceOnly(settings.state_table, settings.record_ttl_seconds, table_keys.claim_prefix(settings.stack, "report"),
                                  clients.dynamodb)
        return DailyReport(settings, ses.SesSender(settings, clients.ses), once, clients.cloudwatch).handle

    return entry.lambda_handler(report)


#: Entry point: `handlers.report.handler`.
handler = end_of_init(build(Clients.create()))
