"""The pipeline's own CloudWatch metrics, counted from the handlers' structured log lines.

The Monitoring component turns each log event below into a metric with a metric filter (with the
lane as a dimension), and the daily report reads the same metrics back. Both import this table,
so a log event, its metric and the report line about it can never drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import log_events

DEFAULT_NAMESPACE = "EmailPipeline"
LANE_DIMENSION = "Lane"

#: metric name -> the log event it counts
LANE_METRICS: Mapping[str, str] = {
    "EmailsSent": log_events.EMAIL_SENT,
    "EmailsRejected": log_events.EMAIL_REJECTED,
    "EmailsFailed": log_events.EMAIL_SEND_FAILED,
    "EmailsDeferred": log_events.EMAIL_DEFERRED,
    "DuplicatesSkipped": log_events.EMAIL_DUPLICATE_SKIPPED,
    "OutcomesUnknown": log_events.EMAIL_OUTCOME_UNKNOWN,
    "SendingPaused": log_events.SES_SENDING_PAUSED,
    "SendingNotAuthorized": log_events.SES_SENDING_NOT_AUTHORIZED,
    "DailyQuotaExhausted": log_events.SES_DAILY_QUOTA_EXHAUSTED,
}
