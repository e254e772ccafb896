"""The pipeline's own CloudWatch metrics, counted from the handlers' structured log lines.

The Monitoring component turns each log event below into a metric with a metric filter (with the
lane as a dimension), and the daily report reads the same metrics back. Both import this table,
so a log event, its metric and the report line about it can never drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping

from handlers import log

DEFAULT_NAMESPACE = "EmailPipeline"
LANE_DIMENSION = "Lane"

#: metric name -> the log event it counts
LANE_METRICS: Mapping[str, str] = {
    "EmailsSent": log.EMAIL_SENT,
    "EmailsRejected": log.EMAIL_REJECTED,
    "EmailsFailed": log.EMAIL_SEND_FAILED,
    "EmailsDeferred": log.EMAIL_DEFERRED,
    "DuplicatesSkipped": log.EMAIL_DUPLICATE_SKIPPED,
    "SendingPaused": log.SES_SENDING_PAUSED,
    "DailyQuotaExhausted": log.SES_DAILY_QUOTA_EXHAUSTED,
}
