"""The signals the pipeline is watched by: metric periods, SES's review rates, the pipeline's metrics.

Shared by the alarms (`monitoring`) and the dashboard (`dashboard`), so a threshold line on the
dashboard and the alarm it draws can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from .handlers.shared import log_events
from .handlers.shared.metrics import LANE_METRICS

#: SES puts an account under review at a 5% bounce rate and a 0.1% complaint rate (and may pause
#: sending at 10% / 0.5%). Alarm thresholds must sit below these, or they fire too late to act.
SES_REVIEW_BOUNCE_RATE = 0.05
SES_REVIEW_COMPLAINT_RATE = 0.001

#: The log event each alarm watches; the metric name comes from the shared table, so an alarm can
#: never watch a metric that no filter produces.
_METRIC_OF_EVENT: Mapping[str, str] = {event: metric for metric, event in LANE_METRICS.items()}
SENDING_PAUSED_METRIC = _METRIC_OF_EVENT[log_events.SES_SENDING_PAUSED]
SEND_FAILED_METRIC = _METRIC_OF_EVENT[log_events.EMAIL_SEND_FAILED]
DAILY_QUOTA_METRIC = _METRIC_OF_EVENT[log_events.SES_DAILY_QUOTA_EXHAUSTED]
OUTCOME_UNKNOWN_METRIC = _METRIC_OF_EVENT[log_events.EMAIL_OUTCOME_UNKNOWN]
NOT_AUTHORIZED_METRIC = _METRIC_OF_EVENT[log_events.SES_SENDING_NOT_AUTHORIZED]

MINUTE = 60
FIVE_MINUTES = 300
#: SES recomputes reputation rates over a long window and publishes them sparsely; a finer period
#: would only add empty datapoints.
SES_REPUTATION_PERIOD = 900


def rule_dimensions(rule_name: pulumi.Input[str], bus_name: pulumi.Input[str] | None) -> dict[str, pulumi.Input[str]]:
    """An EventBridge rule's metric dimensions: rules on a custom bus publish per bus as well as per rule.

    EventBridge User Guide, "Monitoring": RuleName alone is the default bus.
    """
    dimensions: dict[str, pulumi.Input[str]] = {"RuleName": rule_name}
    if bus_name is not None:
        dimensions["EventBusName"] = bus_name
    return dimensions
