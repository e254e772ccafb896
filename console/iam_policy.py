"""The least IAM an operator needs for the console on a deployed stack: exact actions on the stack's own ARNs.

`email-pipeline console --print-policy` prints it for a stack, from its outputs. Each statement is
one of the console's jobs; no action is a wildcard, and every resource is the stack's (the
exceptions are forced by AWS: `logs:GetQueryResults` has no resource-level permissions, so it
names "*", and reads only the results of a query the same principal started; the suppression
list's actions have no resource types either, since the list is the account's in the region). A test runs every console
call against this policy with the local system's IAM evaluation (`local.iam`), so it is exactly
what the console calls.

| statement | actions | resources |
|---|---|---|
| `ReadDeadLetters` | `sqs:GetQueueAttributes`, `sqs:ReceiveMessage` | each lane's DLQ, the unrouted queue |
| `RedriveDeadLetters` | `sqs:ChangeMessageVisibility`, `sqs:DeleteMessage` | each lane's DLQ |
| `RedriveToLanes` | `sqs:SendMessage` | each lane's queue |
| `ReadRecords` | `dynamodb:GetItem` | the state table: the send claims and status records only (`dynamodb:LeadingKeys`) |
| `SearchByAddress` | `logs:StartQuery` | the sending functions' log groups |
| `ReadQueryResults` | `logs:GetQueryResults` | "*" (no resource-level permissions) |
| `SendTests` | `events:PutEvents` | the stack's bus, for the test event's source and detail-type only |
| `RenderWithSes` | `ses:TestRenderEmailTemplate` | the stack's templates (`<project>-<stack>-*`) |
| `ReadLaneSettings` | `lambda:GetFunctionConfiguration` | each lane's function |
| `ReadSuppressions` | `ses:ListSuppressedDestinations`, `ses:GetSuppressedDestination` | "*" (no resource types) |
| `LiftSuppressions` | `ses:DeleteSuppressedDestination` | "*" (no resource types) |

The audit line of a lift names the caller through `sts:GetCallerIdentity`, which needs no
permission (STS API Reference, GetCallerIdentity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..cli.problems import CliError
from ..cli.stack import Stack
from ..handlers.shared.table_keys import claim_prefix, status_record_id
from .deployed import function_names
from .preview import DEFAULT_DETAIL_TYPE, DEFAULT_SOURCE

#: What each statement lets the console do (its `Sid`), in the order the policy lists them.
JOBS = ("ReadDeadLetters", "RedriveDeadLetters", "RedriveToLanes", "ReadRecords", "SearchByAddress",
        "ReadQueryResults", "SendTests", "RenderWithSes", "ReadLaneSettings", "ReadSuppressions",
        "LiftSuppressions")
#: The account's suppression list has no ARN: the Service Authorization Reference ("Actions defined by
#: Amazon SES v2") lists no resource type for ListSuppressedDestinations, GetSuppressedDestination or
#: DeleteSuppressedDestination, so a policy can name them only on "*".
ACCOUNT_WIDE = ["*"]


def operator_policy(stack: Stack, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The IAM policy document for the console on `stack` (its names resolved from `outputs`).

    Raises:
        CliError: the outputs lack a name the policy must name (the bus ARN, the table, the lanes).
    """
    bus = stack.require_bus()
    if not bus.startswith("arn:"):
        raise CliError("the bus's ARN is not known", "pass --stack-outputs with busArn (pulumi stack output --json)")
    partition, _, region, account = bus.split(":")[1:5]

    def arn(service: str, resource: str) -> str:
        return f"arn:{partition}:{service}:{region}:{account}:{resource}"

    prefix, table = stack.require_prefix(), stack.require_table()
    lanes = stack.lane_names()
    dead_letter_queues = [_queue_arn(arn, stack.dead_letter_url(lane)) for lane in lanes]
    lane_queues = [_queue_arn(arn, stack.queue_url(lane)) for lane in lanes]
    unrouted = [_queue_arn(arn, stack.unrouted_url)] if stack.unrouted_url else []
    groups = [arn("logs", f"log-group:{group}{suffix}") for group in sorted(set(stack.log_groups.values()))
              for suffix in ("", ":*")]
    functions = [arn("lambda", f"function:{name}") for name in function_names(outputs).values()]
    keys = [f"{claim_prefix(prefix, '')}*", f"{status_record_id(prefix, '')}*"]
    statements = [
        _allow("ReadDeadLetters", ["sqs:GetQueueAttributes", "sqs:ReceiveMessage"], dead_letter_queues + unrouted),
        _allow("RedriveDeadLetters", ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage"], dead_letter_queues),
        _allow("RedriveToLanes", ["sqs:SendMessage"], lane_queues),
        _allow("ReadRecords", ["dynamodb:GetItem"], [arn("dynamodb", f"table/{table}")],
               {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}}),
        _allow("SearchByAddress", ["logs:StartQuery"], groups),
        _allow("ReadQueryResults", ["logs:GetQueryResults"], ["*"]),
        _allow("SendTests", ["events:PutEvents"], [bus], {"StringEquals": {
            "events:source": [DEFAULT_SOURCE], "events:detail-type": [DEFAULT_DETAIL_TYPE]}}),
        _allow("RenderWithSes", ["ses:TestRenderEmailTemplate"], [arn("ses", f"template/{prefix}-*")]),
        _allow("ReadLaneSettings", ["lambda:GetFunctionConfiguration"], functions),
        _allow("ReadSuppressions", ["ses:ListSuppressedDestinations", "ses:GetSuppressedDestination"], ACCOUNT_WIDE),
        _allow("LiftSuppressions", ["ses:DeleteSuppressedDestination"], ACCOUNT_WIDE),
    ]
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s["Resource"]]}


def _allow(sid: str, actions: Sequence[str], resources: Sequence[str],
           condition: Mapping[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": list(resources)}
    if condition:
        statement["Condition"] = dict(condition)
    return statement


def _queue_arn(arn: Any, url: str) -> str:
    """A queue's ARN from its URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`)."""
    return str(arn("sqs", url.rstrip("/").rpartition("/")[2]))
