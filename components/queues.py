"""The pipeline's failure queues, and the policy statements every queue of it carries.

A dead-letter queue, an unrouted queue or a failure destination holds mail nobody will retry on
their own: each is encrypted, keeps messages longer than any work queue, and refuses plain HTTP.
An SQS queue has exactly one policy, so whoever creates a queue writes its whole policy here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import pulumi
import pulumi_aws as aws


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


def events_may_send(
    queue_arn: pulumi.Input[str], rule_arns: pulumi.Input[str] | Sequence[pulumi.Input[str]], sid: str
) -> dict[str, Any]:
    """Let EventBridge send to `queue_arn` only on behalf of `rule_arns` (one ARN, or a list of them).

    Without the `aws:SourceArn` condition any rule of any account could fill the queue
    (the confused-deputy problem, SQS Developer Guide, "Amazon SQS policy examples").
    """
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
    }


def policy_document(*statements: dict[str, Any]) -> pulumi.Output[str]:
    """A queue policy document from statements (built from data, never a hand-written string)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


Grants = Callable[[pulumi.Output[str]], Sequence[dict[str, Any]]]


class FailureQueue(NamedTuple):
    """A failure queue and its policy (a writer that needs the grant waits for the policy)."""

    queue: aws.sqs.Queue
    policy: aws.sqs.QueuePolicy


def failure_queue(
    name: str,
    *,
    retention_seconds: int,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
    grants: Grants | None = None,
    aliases: Sequence[pulumi.Alias] | None = None,
) -> FailureQueue:
    """An encrypted queue `name` for mail that failed, and its policy `<name>-policy`.

    Args:
        name: the queue's logical and physical name.
        retention_seconds: how long a message waits for an operator (longer than any work queue).
        tags: applied to the queue.
        parent: the component that owns it.
        grants: the policy's Allow statements for the queue's ARN (e.g. EventBridge rules sending
            to it); none when its writers send with their own IAM roles.
        aliases: where the queue and its policy were declared before (another parent), so an
            update moves them instead of replacing them and the messages they hold.
    """
    def opts() -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, aliases=list(aliases) if aliases else None)

    queue = aws.sqs.Queue(name, name=name, sqs_managed_sse_enabled=True, message_retention_seconds=retention_seconds,
                          tags=dict(tags), opts=opts())
    statements = [*(grants(queue.arn) if grants else []), deny_insecure_transport(queue.arn)]
    policy = aws.sqs.QueuePolicy(f"{name}-policy", queue_url=queue.url, policy=policy_document(*statements),
                                 opts=opts())
    return FailureQueue(queue, policy)
