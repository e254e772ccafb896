"""Queue policy statements every queue of the pipeline carries.

An SQS queue has exactly one policy, so the component that owns a queue's policy writes these
statements into it beside its own grants.
"""

from __future__ import annotations

from typing import Any

import pulumi


def deny_insecure_transport(queue_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Refuse any request to the queue that does not use TLS.

    The standard statement, in the form AWS CDK's `enforceSSL` writes (aws-sqs `queue.ts`). A Deny
    may name `sqs:*`: it takes permissions away, it grants none.
    """
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": queue_arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def policy_document(*statements: dict[str, Any]) -> pulumi.Output[str]:
    """A queue policy document from statements (built from data, never a hand-written string)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})
