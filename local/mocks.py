"""Pulumi mocks that record every resource a program or component declares (tests and local runs).

Use `run_program(build)`: it sets the mocks, runs `build()` inside a Pulumi stack, waits for all
outputs, and returns the recorded resources. Mocked outputs echo the inputs (camelCase keys) plus
the `name`, `arn`, `url` and `id` a real provider would compute.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@dataclass
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: list[Recorded] = field(default_factory=list)
    #: What `aws.get_partition` answers: set another (aws-cn, aws-us-gov) to check ARNs follow it.
    partition: str = "aws"
    #: The stack's outputs (`pulumi.export`), resolved, secrets revealed: what `pulumi stack output
    #: --json --show-secrets` would print for this run.
    exports: dict[str, Any] = field(default_factory=dict)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        for key in ("policy", "assumeRolePolicy"):
            if isinstance(outputs.get(key), dict):
                outputs[key] = json.dumps(outputs[key])
        name = (outputs.get("name") or outputs.get("dashboardName") or outputs.get("configurationSetName")
                or args.name)
        outputs.setdefault("name", name)
        kind = args.typ.split(":")[-1].lower()
        service = args.typ.split(":")[1].split("/")[0]
        outputs.setdefault("arn", _arn(args.typ, name, kind, service))
        if args.typ == "aws:sqs/queue:Queue":
            outputs["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        if args.typ == "aws:sesv2/emailIdentity:EmailIdentity":
            outputs["dkimSigningAttributes"] = {"tokens": ["tok1", "tok2", "tok3"]}
            outputs["arn"] = f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{outputs.get('emailIdentity')}"
        if args.typ == "aws:lambda/function:Function":
            outputs["invokeArn"] = f"arn:aws:apigateway:{REGION}:lambda:path/functions/{outputs['arn']}/invocations"
        if args.typ == "random:index/randomPassword:RandomPassword":
            # Stable per resource name, like a real one once created: the demo's hashes repeat.
            outputs["result"] = hashlib.sha256(args.name.encode()).hexdigest()[: int(outputs.get("length", 64))]
        if args.typ == "aws:lambda/layerVersion:LayerVersion":
            outputs["arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{outputs.get('layerName', name)}:1"
        self.resources.append(Recorded(args.typ, args.name, _reveal(dict(args.inputs)), outputs))
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "AIDA"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"region": REGION, "name": REGION, "id": REGION}
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": self.partition, "dnsSuffix": "amazonaws.com"}
        return {}

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]


_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker for a secret value on the wire


def _reveal(value: Any) -> Any:
    """Inputs with Pulumi's secret wrappers removed: the recording is for inspection, not display."""
    if isinstance(value, dict):
        if _SECRET_SIG in value and "value" in value:
            return _reveal(value["value"])
        return {key: _reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_reveal(item) for item in value]
    return value


#: ARN formats of the resource types whose ARN shape tests and policies look at.
_ARN_FORMATS = {
    "aws:cloudwatch/logGroup:LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}",
    "aws:sqs/queue:Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "aws:iam/role:Role": "arn:aws:iam::{account}:role/{name}",
    "aws:lambda/function:Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "aws:dynamodb/table:Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "aws:sns/topic:Topic": "arn:aws:sns:{region}:{account}:{name}",
    "aws:sesv2/configurationSet:ConfigurationSet": "arn:aws:ses:{region}:{account}:configuration-set/{name}",
    "aws:ses/template:Template": "arn:aws:ses:{region}:{account}:template/{name}",
    "aws:cloudwatch/eventBus:EventBus": "arn:aws:events:{region}:{account}:event-bus/{name}",
    # EventBridge adds an id to these two (botocore's events model, CreateApiDestination's and
    # CreateConnection's `...Arn` outputs; EventBridge User Guide, "API destinations").
    "aws:cloudwatch/eventApiDestination:EventApiDestination":
        "arn:aws:events:{region}:{account}:api-destination/{name}/2f1c8e5a-0000-4000-8000-000000000001",
    "aws:cloudwatch/eventConnection:EventConnection":
        "arn:aws:events:{region}:{account}:connection/{name}/2f1c8e5a-0000-4000-8000-000000000002",
    "aws:sesv2/contactList:ContactList": "arn:aws:ses:{region}:{account}:contact-list/{name}",
}
#: Pulumi module -> ARN service, where they differ (EventBridge lives in `cloudwatch`).
_ARN_SERVICES = {"cloudwatch": "events", "sesv2": "ses"}


def _arn(typ: str, name: str, kind: str, service: str) -> str:
    default = f"arn:aws:{_ARN_SERVICES.get(service, service)}:{{region}}:{{account}}:{kind}/{{name}}"
    return _ARN_FORMATS.get(typ, default).format(region=REGION, account=ACCOUNT, name=name)


def run_program(build: Callable[[], Any], *, stack: str = "dev", project: str = "email-pipeline",
                mocks: RecordingMocks | None = None) -> RecordingMocks:
    """Run `build` under the mocks as a Pulumi program would, and return what it declared."""
    mocks = mocks or RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> Any:
        result["value"] = build()
        # `pulumi.export` keeps each output on the root Stack resource (pulumi/runtime/stack.py);
        # the mock monitor drops RegisterResourceOutputs, so they are read from there.
        root = pulumi.runtime.get_root_resource()
        exported = dict(getattr(root, "outputs", None) or {})
        return pulumi.Output.from_input(exported).apply(lambda values: mocks.exports.update(values))

    program()
    mocks.result = result.get("value")  # type: ignore[attr-defined]
    return mocks
