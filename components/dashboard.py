"""The pipeline's CloudWatch dashboard, as pure data: one page from event in to email out.

`DashboardBody(name, region, args).as_dict()` builds the dashboard body from the same arguments
the `Monitoring` component takes; values may be Pulumi outputs (the component serializes them
with `pulumi.Output.json_dumps`) or plain strings (tests read the body directly, no mocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from .handlers.shared.metrics import LANE_DIMENSION, LANE_METRICS
from .signals import (
    FIVE_MINUTES as _FIVE_MINUTES,
    MINUTE as _MINUTE,
    SEND_FAILED_METRIC,
    SES_REPUTATION_PERIOD as _SES_REPUTATION_PERIOD,
    SES_REVIEW_BOUNCE_RATE,
    SES_REVIEW_COMPLAINT_RATE,
    rule_dimensions,
)

if TYPE_CHECKING:
    from .monitoring import MonitoringArgs

_DASHBOARD_COLUMNS = 24


@dataclass(frozen=True)
class DashboardBody:
    """The dashboard of one pipeline: `name` heads it, `region` places its graphs."""

    name: str
    region: pulumi.Input[str]
    args: MonitoringArgs

    def as_dict(self) -> dict[str, Any]:
        """`{"widgets": [...]}`, laid out left to right in CloudWatch's 24 columns."""
        widgets = [
            self._header_widget(),
            *self._events_widgets(),
            *self._lane_outcome_widgets(),
            *self._queue_widgets(),
            *self._function_widgets(),
            *self._ses_widgets(),
        ]
        return {"widgets": _layout(widgets)}

    def _graph(self, title: str, metrics: list[list[Any]], *, stat: str = "Sum", period: int = _FIVE_MINUTES,
               thresholds: Sequence[tuple[str, float]] = ()) -> dict[str, Any]:
        """A time-series widget; `thresholds` become horizontal annotations."""
        properties: dict[str, Any] = {
            "title": title,
            "view": "timeSeries",
            "stacked": False,
            "region": self.region,
            "stat": stat,
            "period": period,
            "metrics": metrics,
            "yAxis": {"left": {"min": 0}},
        }
        if thresholds:
            properties["annotations"] = {
                "horizontal": [{"label": label, "value": value} for label, value in thresholds]}
        return {"type": "metric", "width": 12, "height": 6, "properties": properties}

    def _header_widget(self) -> dict[str, Any]:
        markdown = (
            f"## {self.name}\n"
            "Find every send to one address: `python -m handlers.log ADDRESS` (with the stack's "
            "recipient hash key) gives its hash; run the saved query "
            f"`{self.name}/find-send-by-recipient-hash` with it. Failures by cause: "
            f"`{self.name}/failures-by-error-code`."
        )
        return {"type": "text", "width": _DASHBOARD_COLUMNS, "height": 2, "properties": {"markdown": markdown}}

    def _events_widgets(self) -> list[dict[str, Any]]:
        if not self.args.rule_names:
            return []
        metrics: list[list[Any]] = []
        for rule_name in self.args.rule_names.values():
            dims = [part for key, value in rule_dimensions(rule_name, self.args.event_bus_name).items() for part in (key, value)]
            for metric in ("MatchedEvents", "Invocations", "DeadLetterInvocations", "InvocationsFailedToBeSentToDlq"):
                metrics.append(["AWS/Events", metric, *dims,
                                {"label": "${PROP('Dim.RuleName')} " + metric}])
        return [self._graph("Events in (EventBridge rules)", metrics)]

    def _lane_outcome_widgets(self) -> list[dict[str, Any]]:
        namespace = self.args.metrics_namespace
        return [
            self._graph(
                f"Lane {lane.name}: outcomes (from handler logs)",
                [[namespace, metric, LANE_DIMENSION, lane.name, {"label": metric}] for metric in LANE_METRICS],
                thresholds=[(f"{SEND_FAILED_METRIC} alarm", self.args.send_failure_threshold)],
            )
            for lane in self.args.lanes
        ]

    def _queue_widgets(self) -> list[dict[str, Any]]:
        lanes = self.args.lanes
        depth = [
            ["AWS/SQS", metric, "QueueName", lane.queue_name, {"label": f"{lane.name} {label}"}]
            for lane in lanes
            for metric, label in (("ApproximateNumberOfMessagesVisible", "waiting"),
                                  ("ApproximateNumberOfMessagesNotVisible", "in flight"))
        ]
        age = [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", lane.queue_name, {"label": lane.name}]
               for lane in lanes]
        age_limits = sorted({lane.max_message_age_seconds for lane in lanes})
        dead = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", lane.dead_letter_queue_name,
                 {"label": f"{lane.name} DLQ"}] for lane in lanes]
        dead += [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue_name,
                  {"label": label}] for label, queue_name in self.args.extra_dead_letter_queue_names.items()]
        widgets = []
        if lanes:
            widgets.append(self._graph("Lane queue depth", depth, stat="Maximum", period=_MINUTE))
            widgets.append(self._graph("Oldest message age (s)", age, stat="Maximum", period=_MINUTE,
                                       thresholds=[(f"age alarm {limit} s", limit) for limit in age_limits]))
        if dead:
            widgets.append(self._graph("Dead-letter queues (any message alarms)", dead, stat="Maximum",
                                       period=_MINUTE, thresholds=[("alarm", 0)]))
        return widgets

    def _function_widgets(self) -> list[dict[str, Any]]:
        functions = self.args.functions
        failures = [
            ["AWS/Lambda", metric, "FunctionName", function.name, {"label": f"{function.label} {metric.lower()}"}]
            for function in functions for metric in ("Errors", "Throttles")
        ]
        duration = [
            ["AWS/Lambda", "Duration", "FunctionName", function.name,
             {"stat": stat, "label": f"{function.label} {stat}"}]
            for function in functions for stat in ("Average", "p99", "Maximum")
        ]
        return [
            self._graph("Lambda errors and throttles", failures, thresholds=[("alarm", 1)]),
            self._graph("Lambda duration (ms)", duration, stat="Average"),
        ]

    def _ses_widgets(self) -> list[dict[str, Any]]:
        args = self.args
        widgets = []
        for title, metric, alarm_at, review_at in (
            ("SES bounce rate", "Reputation.BounceRate", args.bounce_rate_threshold, SES_REVIEW_BOUNCE_RATE),
            ("SES complaint rate", "Reputation.ComplaintRate", args.complaint_rate_threshold,
             SES_REVIEW_COMPLAINT_RATE),
        ):
            metrics: list[list[Any]] = [["AWS/SES", metric, {"label": "account"}]]
            if args.configuration_set_name is not None:
                metrics.append(["AWS/SES", metric, "ses:configuration-set", args.configuration_set_name,
                                {"label": "configuration set"}])
            widgets.append(self._graph(title, metrics, stat="Maximum", period=_SES_REPUTATION_PERIOD,
                                       thresholds=[("alarm", alarm_at), ("SES review", review_at)]))
        return widgets


def _layout(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Place widgets left to right, wrapping at the dashboard's 24 columns."""
    placed, x, y, row_height = [], 0, 0, 0
    for widget in widgets:
        if x + widget["width"] > _DASHBOARD_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        placed.append({**widget, "x": x, "y": y})
        x += widget["width"]
        row_height = max(row_height, widget["height"])
    return placed
