"""The console for a deployed stack (`email-pipeline console`): its outputs, the operator's credentials, SES rendering.

Everything comes from the stack's outputs (as `email-pipeline` reads them: `--stack-outputs FILE`
from `pulumi stack output --json --show-secrets`, or the name flags) and the operator's own AWS
credentials; nothing is hosted and no IAM user is made. A lane's settings are its function's own
environment (`lambda:GetFunctionConfiguration` on that function), so a preview shows the request
the deployed lane would make; SES renders the deployed template version
(`console.renderers.SesRenderer`). `docs/console.md` lists the IAM actions and resources it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..cli.session import Aws
from ..cli.stack import Stack
from ..handlers.shared.status_names import STATUS_LANE
from .http_errors import from_aws_error
from .renderers import SesRenderer
from .source import ConsoleSource, LaneFunction, Mode


def function_names(outputs: Mapping[str, Any]) -> dict[str, str]:
    """The templated lanes' function names, from the `functionNames` output (the status function left out)."""
    names = outputs.get("functionNames") or {}
    if not isinstance(names, dict):
        return {}
    return {lane: str(name) for lane, name in names.items() if lane != STATUS_LANE}


def deployed_source(stack: Stack, aws: Aws, outputs: Mapping[str, Any], templates_dir: Path) -> ConsoleSource:
    """The console's view of a deployed stack."""
    functions = function_names(outputs)

    def lane_function(lane: str) -> LaneFunction:
        try:
            found = aws.client("lambda").get_function_configuration(FunctionName=functions[lane])
        except (ClientError, BotoCoreError) as exc:
            raise from_aws_error(exc) from None
        return LaneFunction(str(found.get("Handler", "")), dict(found.get("Environment", {}).get("Variables", {})))

    return ConsoleSource(mode=Mode.DEPLOYED, stack=stack, aws=aws, templates_dir=templates_dir,
                         renderer=SesRenderer(aws, stack.require_prefix()), lanes=sorted(functions),
                         lane_function=lane_function)


def serve(source: ConsoleSource, port: int) -> None:
    """Serve the console until Ctrl-C, saying where first.

    Raises:
        ConsoleError: the port cannot be bound.
    """
    from .server import HOST, bind, port_of

    server = bind(source, port)
    print(f"console for stack {source.name} on http://{HOST}:{port_of(server)} "
          f"(deployed, {source.aws.region or 'default region'}; your AWS credentials); Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
