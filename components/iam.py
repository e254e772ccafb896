"""The IAM statements the stack's function roles are made of: exact actions on exact resources.

Each component lists its functions' statements where it declares them (`email_sender`,
`delivery_status`); the statements several of them share, and the few AWS allows only on "*",
are built here, each with the reason it has the resources it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi


def allow(actions: Sequence[str], resources: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """An Allow statement of exact actions on exact resources."""
    return {"Effect": "Allow", "Action": list(actions), "Resource": list(resources)}


#: X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions: only "*".
#: PassThrough still traces an invocation whose message carries a sampled trace header.
TRACING_STATEMENT = allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"])
#: GetAccount (the send rate and quota) has no resource-level permissions: only "*".
SES_ACCOUNT_STATEMENT = allow(["ses:GetAccount"], ["*"])
#: GetMetricData has no resource-level permissions: AWS accepts only "*".
METRIC_DATA_STATEMENT = allow(["cloudwatch:GetMetricData"], ["*"])


def state_table_statement(table_arn: pulumi.Input[str]) -> dict[str, Any]:
    """The item calls the sending functions make on the state table (claims, records, the send schedule)."""
    return allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], [table_arn])


def ses_send_statement(
    identity_arn: pulumi.Input[str], configuration_set_arn: pulumi.Input[str],
    template_arns: Sequence[pulumi.Input[str]], recipient_arns: Sequence[pulumi.Input[str]] = (),
) -> dict[str, Any]:
    """SendEmail on exactly the identity, the configuration set, the templates used (and the sandbox's recipients).

    Naming the configuration set means a compromised function cannot send around the event
    publishing and suppression it enforces; naming the identity, that it cannot send as anyone else.
    """
    return allow(["ses:SendEmail"], [identity_arn, configuration_set_arn, *template_arns, *recipient_arns])


def recipient_identity_arns(
    recipients: Sequence[str], *, partition: pulumi.Input[str], region: pulumi.Input[str],
    account: pulumi.Input[str],
) -> list[pulumi.Output[str]]:
    """The SES identity ARNs of sandbox recipients (addresses, or `@domain` for every address there).

    In the SES sandbox, SendEmail is also authorized against each recipient's identity ARN, and
    recipients must be verified identities. AWS does not document the IAM half outright; field
    reports show it (aws/aws-sdk-js#3641: "not authorized to perform ses:SendTemplatedEmail on
    resource ...:identity/<recipient>").
    """
    names = dict.fromkeys(entry.lower().lstrip("@") for entry in recipients)
    return [pulumi.Output.concat("arn:", partition, ":ses:", region, ":", account, ":identity/", name)
            for name in names]
