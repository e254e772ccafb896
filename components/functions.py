"""The handlers' Lambda functions: one shape for every function of a stack, whichever component owns it.

`EmailSender` builds the state table (and a dependency layer, when the handlers need one) once and
hands them out, with the handler package, as a `HandlerRuntime`; each function (a lane's, the
report's, the status handler's) is then `handler_function(...)`: its own code archive (the modules
its handler imports, `packaging.build_handler_zip`), its log group (with the stack's retention), a
role whose inline policy is exactly the statements given (built with `iam`), and the function
itself.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pulumi
import pulumi_aws as aws

from .iam import TRACING_STATEMENT, allow
from .packaging import build_handler_zip

RUNTIME = "python3.12"
ARCHITECTURE = "arm64"


@dataclass(frozen=True)
class HandlerRuntime:
    """What every handler function of one stack shares.

    Attributes:
        stack: the stack's name as the handlers know it (`EMAIL_STACK`): the prefix of every key
            they write in the table, so a role's `dynamodb:LeadingKeys` condition must name it.
        handlers_dir: the handler package each function's archive is built from.
        build_dir: where the archives are written (`<entry module>.zip`).
        layer_arn: the dependency layer's ARN; None when the handlers need none beyond the runtime's
            boto3 (`handlers/requirements.txt` lists nothing).
        table_arn, table_name: the state table.
        environment: the variables every function gets (stack, sender, hash key, templates, ...).
        timeout_seconds, memory_mb, log_retention_days, tracing: the functions' settings.
        tags: applied to every taggable resource.
        account_send_rate: the SES rate the stack's concurrency is sized for (emails per second).
        account_concurrency: the account's Lambda concurrency limit.
        concurrency_in_use: how many instances the stack's functions may already run at most (the
            lanes'): a function added to the stack must fit in what is left.
    """

    stack: str
    handlers_dir: Path
    build_dir: Path
    layer_arn: pulumi.Input[str] | None
    table_arn: pulumi.Input[str]
    table_name: pulumi.Input[str]
    environment: Mapping[str, pulumi.Input[str]]
    timeout_seconds: int
    memory_mb: int
    log_retention_days: int
    tracing: str
    tags: Mapping[str, str]
    account_send_rate: float = 1.0
    account_concurrency: int = 1000
    concurrency_in_use: int = 0

    def code_for(self, handler: str) -> Path:
        """The code archive of a function running `handler` (`handlers.templated.handler`): its module's imports only."""
        module = handler.rpartition(".")[0]
        return build_handler_zip(self.handlers_dir, self.build_dir / f"{module}.zip", module)


class HandlerFunction(NamedTuple):
    function: aws.lambda_.Function
    log_group: aws.cloudwatch.LogGroup
    role_policy: aws.iam.RolePolicy


def log_group(resource_name: str, path: str, runtime: HandlerRuntime, parent: pulumi.Resource) -> aws.cloudwatch.LogGroup:
    """Every log group is declared, so it has the stack's retention (not "never expire")."""
    return aws.cloudwatch.LogGroup(resource_name, name=path, retention_in_days=runtime.log_retention_days,
                                   tags=dict(runtime.tags), opts=pulumi.ResourceOptions(parent=parent))


def handler_function(
    function_name: str, handler: str, runtime: HandlerRuntime, *, environment: Mapping[str, pulumi.Input[str]],
    statements: Sequence[Mapping[str, Any]], parent: pulumi.Resource, reserved: int | None = None,
    memory_mb: int | None = None,
) -> HandlerFunction:
    """A function running `handler` from its own code archive, with a role allowing `statements` and its logs.

    The role may write to the function's own log group and send traces; everything else it may
    do is in `statements`. `memory_mb` (the runtime's by default) also sets its CPU share.
    """
    code = runtime.code_for(handler)
    child = pulumi.ResourceOptions(parent=parent)
    group = log_group(f"{function_name}-logs", f"/aws/lambda/{function_name}", runtime, parent)
    role = aws.iam.Role(
        f"{function_name}-role",
        assume_role_policy=pulumi.Output.json_dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                           "Action": "sts:AssumeRole"}],
        }),
        tags=dict(runtime.tags),
        opts=child,
    )
    own = [allow(["logs:CreateLogStream", "logs:PutLogEvents"], [pulumi.Output.concat(group.arn, ":*")]),
           TRACING_STATEMENT]
    role_policy = aws.iam.RolePolicy(
        f"{function_name}-policy",
        role=role.id,
        policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [*own, *statements]}),
        opts=child,
    )
    function = aws.lambda_.Function(
        function_name,
        name=function_name,
        runtime=RUNTIME,
        architectures=[ARCHITECTURE],
        handler=handler,
        code=pulumi.FileArchive(str(code)),
        source_code_hash=sha256_base64(code),
        role=role.arn,
        layers=[runtime.layer_arn] if runtime.layer_arn is not None else None,
        timeout=runtime.timeout_seconds,
        memory_size=memory_mb or runtime.memory_mb,
        reserved_concurrent_executions=reserved,
        environment={"variables": {**runtime.environment, **environment}},
        logging_config={"log_format": "JSON", "log_group": group.name,
                        "application_log_level": "INFO", "system_log_level": "WARN"},
        tracing_config={"mode": runtime.tracing},
        tags=dict(runtime.tags),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[group, role_policy]),
    )
    return HandlerFunction(function, group, role_policy)


def sha256_base64(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()
