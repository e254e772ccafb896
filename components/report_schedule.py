"""The daily report's trigger: an EventBridge Scheduler schedule, the role it acts as, and its dead-letter queue.

`EmailSender` owns the report function and declares its schedule with `report_schedule`. These
resources were first declared by an `EventRouter` of the same name; each carries an alias to its
URN under that router, so an update moves it to its new parent instead of replacing it (a
replaced queue would lose the dead letters it holds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import pulumi
import pulumi_aws as aws

from .name_limits import NameLimit
from .queues import failure_queue

#: The Scheduler context attribute the report handler derives its report day from, so a retried
#: trigger for the same day is recognised and the report is sent once.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
#: A daily report is worth a few quick retries; after an hour it is late enough to be a dead letter.
SCHEDULE_MAX_RETRY_ATTEMPTS = 3
SCHEDULE_MAX_EVENT_AGE_SECONDS = 3_600
#: What the schedule's resources are named after (`<name>-daily-report`, `-scheduler`, `-dlq`);
#: `EventRouter` refuses a route of this name, whose dead-letter queue would take the same name.
SCHEDULE_LABEL = "daily-report"


class ReportSchedule(NamedTuple):
    """The schedule, and the queue where its invocations that keep failing wait."""

    schedule: aws.scheduler.Schedule
    dead_letter_queue: aws.sqs.Queue


def name_limits(name: str) -> list[NameLimit]:
    """The physical names `report_schedule` derives from `name`, with AWS's limits."""
    prefix = f"{name}-{SCHEDULE_LABEL}"
    return [NameLimit(f"{prefix}-scheduler", 64, "IAM role"), NameLimit(f"{prefix}-dlq", 80, "SQS queue")]


def report_schedule(
    name: str, *, function_arn: pulumi.Input[str], expression: str, timezone: str, account_id: pulumi.Input[str],
    dead_letter_retention_seconds: int, tags: Mapping[str, str], parent: pulumi.Resource,
    previous_parent: pulumi.Input[str],
) -> ReportSchedule:
    """Invoke `function_arn` on `expression` with its scheduled time; dead-letter what keeps failing.

    Args:
        name: the owner's name, which every resource name starts with.
        function_arn: the report function.
        expression, timezone: when it runs (a Scheduler expression, an IANA time zone).
        account_id: the account whose schedules alone may assume the role.
        dead_letter_retention_seconds: how long a failed trigger waits for an operator.
        tags: applied to every taggable resource.
        parent: the component that owns the schedule.
        previous_parent: the URN of the component that declared these resources before.
    """
    prefix = f"{name}-{SCHEDULE_LABEL}"
    # A resource moved to another parent gets another URN, which Pulumi would delete and create
    # anew; an alias naming its previous parent lets Pulumi match the two and move it in place
    # (Pulumi docs, "Resource option: aliases", https://www.pulumi.com/docs/iac/concepts/options/aliases/).
    aliases = [pulumi.Alias(parent=previous_parent)]

    def child(depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, aliases=aliases, depends_on=list(depends_on) or None)

    dlq = failure_queue(f"{prefix}-dlq", retention_seconds=dead_letter_retention_seconds, tags=tags, parent=parent,
                        aliases=aliases).queue  # Scheduler sends to it with its role
    role = aws.iam.Role(
        f"{prefix}-scheduler",
        name=f"{prefix}-scheduler",
        description="Assumed by EventBridge Scheduler to trigger the daily report",
        assume_role_policy=pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "scheduler.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        # Only schedules of this account may use the role (confused deputy).
                        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                    }
                ],
            }
        ),
        tags=dict(tags),
        opts=child(),
    )
    role_policy = aws.iam.RolePolicy(
        f"{prefix}-scheduler-policy",
        role=role.name,
        policy=pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "InvokeReport",
                        "Effect": "Allow",
                        "Action": "lambda:InvokeFunction",
                        "Resource": function_arn,
                    },
                    {"Sid": "DeadLetter", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dlq.arn},
                ],
            }
        ),
        opts=child(),
    )
    schedule = aws.scheduler.Schedule(
        prefix,
        name=prefix,
        description="Triggers the daily email pipeline report",
        schedule_expression=expression,
        schedule_expression_timezone=timezone,
        flexible_time_window={"mode": "OFF"},
        state="ENABLED",
        target={
            "arn": function_arn,
            "role_arn": role.arn,
            "input": json.dumps({"scheduledTime": SCHEDULED_TIME}),
            "retry_policy": {
                "maximum_retry_attempts": SCHEDULE_MAX_RETRY_ATTEMPTS,
                "maximum_event_age_in_seconds": SCHEDULE_MAX_EVENT_AGE_SECONDS,
            },
            "dead_letter_config": {"arn": dlq.arn},
        },
        # Scheduler checks the role when the schedule is created and when it fires.
        opts=child(depends_on=[role_policy]),
    )
    return ReportSchedule(schedule, dlq)
