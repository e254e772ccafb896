"""A stack for the console's tests without the emulator: moto in-process, a product team's template folder.

`deployed` is a deployed stack as the console reads one (its outputs, the operator's clients, the
lanes' functions in Lambda with the environment `EmailSender` gives them). moto has no
`TestRenderEmailTemplate` (moto 5.2: "not been implemented"), so `ses_render` answers it below
the project, with a botocore `before-call` hook on the console's own SES client (as botocore's `Stubber` does): SES's answer is
the MIME message of the template rendered with the data (here by the repository's renderer,
which `tests/templates/test_reference_render.py` holds to handlebars.js).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from flask.testing import FlaskClient
from moto import mock_aws

from ses_email_pipeline.cli.session import Aws
from ses_email_pipeline.cli.stack import resolve
from ses_email_pipeline.console.app import create_app
from ses_email_pipeline.console.deployed import deployed_source
from ses_email_pipeline.console.source import ConsoleSource
from ses_email_pipeline.handlers.shared import catalog as template_catalog
from ses_email_pipeline.handlers.shared.settings import Env
from ses_email_pipeline.template_files import HTML_FILE, SUBJECT_FILE, TEXT_FILE, deployed_catalog, discover
from ses_email_pipeline.template_render import RenderingFailure, render_email
from tests.templates.test_check import write_template

REGION = "eu-west-1"
STACK = "email-test"
HASH_KEY = "console-test-key"
#: Where the console's tests address it (its guard answers only to its own address).
BASE = "http://127.0.0.1:8025"
#: A sample of the order-shipped template that lacks `customerName`, which the template prints.
LACKING = "no-name.json"


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    """A product team's first template (tests/templates/test_check.py), with one sample that lacks a name."""
    folder = write_template(tmp_path)
    (folder / "order-shipped" / "v1" / "samples" / LACKING).write_text(
        json.dumps({"orderId": "1045", "items": [{"qty": 1, "name": "Tea"}]}))
    return folder


def lane_environment(templates_dir: Path, lane: str, **extra: str) -> dict[str, str]:
    """A lane function's environment as `EmailSender` declares it (the variables the console reads)."""
    catalog = deployed_catalog(discover(templates_dir), STACK)
    return {Env.STACK: STACK, Env.LANE: lane, Env.SENDER: "Shop <orders@mail.example.com>",
            Env.CONFIGURATION_SET: STACK, Env.RECIPIENT_HASH_KEY: HASH_KEY,
            Env.TEMPLATES: template_catalog.to_json(catalog), Env.DEFAULT_TEMPLATE: "order-shipped",
            Env.RECIPIENT_ALLOWLIST: "@example.com", **extra}


@dataclass
class DeployedStack:
    """What the console of a deployed stack works on, in moto."""

    outputs: dict[str, Any]
    aws: Aws
    source: ConsoleSource
    client: FlaskClient
    rendered: list[dict[str, Any]] = field(default_factory=list)

    def url(self, key: str, lane: str = "normal") -> str:
        return str(self.outputs[key][lane])


def _function(lambda_client: Any, role: str, name: str, environment: dict[str, str]) -> None:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handlers/templated.py", "")
    lambda_client.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                                  Handler="handlers.templated.handler", Code={"ZipFile": code.getvalue()},
                                  Environment={"Variables": environment})


@pytest.fixture
def deployed(templates_dir: Path) -> Iterator[DeployedStack]:
    """A deployed stack (queues, DLQs, bus, state table, the lanes' functions) and its console's test client."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        urls = {name: sqs.create_queue(QueueName=f"{STACK}-{name}")["QueueUrl"]
                for name in ("normal-queue", "normal-dlq", "unrouted")}
        bus_arn = boto3.client("events", region_name=REGION).create_event_bus(Name=f"{STACK}-bus")["EventBusArn"]
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=f"{STACK}-state", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        role = boto3.client("iam", region_name=REGION).create_role(RoleName="lane", AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
        _function(boto3.client("lambda", region_name=REGION), role, f"{STACK}-normal",
                  lane_environment(templates_dir, "normal"))
        outputs = {"busName": f"{STACK}-bus", "busArn": bus_arn, "configurationSetName": STACK,
                   "laneQueueUrls": {"normal": urls["normal-queue"]},
                   "laneDeadLetterQueueUrls": {"normal": urls["normal-dlq"]}, "unroutedQueueUrl": urls["unrouted"],
                   "stateTableName": f"{STACK}-state", "recipientHashKey": HASH_KEY,
                   "functionNames": {"normal": f"{STACK}-normal"}}
        aws = Aws(REGION, None)
        source = deployed_source(resolve(outputs, source="outputs.json"), aws, outputs, templates_dir)
        stack = DeployedStack(outputs, aws, source, create_app(source).test_client())
        aws.client("sesv2").meta.events.register_first("before-call.sesv2.TestRenderEmailTemplate",
                                                 ses_render(templates_dir, stack.rendered))
        yield stack


def ses_render(templates_dir: Path, calls: list[dict[str, Any]],
               stack: str = STACK) -> Callable[..., tuple[AWSResponse, dict[str, Any]]]:
    """SES's `TestRenderEmailTemplate`, played below the project: the deployed templates are `templates_dir`'s now.

    A `before-call` hook, as botocore's `Stubber` answers: its (HTTP response, parsed answer) is the
    call's answer, and no request is sent (moto's `before-send` stub would refuse the operation).
    """

    deployed = {f"{stack}-{t.name}-{t.version}": t for t in discover(templates_dir)}

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        name = params["url_path"].split("/templates/", 1)[1].split("/render")[0]
        data = json.loads(json.loads(params["body"])["TemplateData"])
        calls.append({"TemplateName": name, "data": data})
        found = deployed.get(name)
        if found is None:
            return _error(404, "NotFoundException", f"Template {name} does not exist.")
        try:
            email = render_email(found.subject, found.html, found.text, data)
        except RenderingFailure as failure:
            return _error(400, "BadRequestException", str(failure))
        message = EmailMessage()
        message["Subject"] = email.subject
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        return _http(200), {"RenderedTemplate": message.as_string(), "ResponseMetadata": {"HTTPStatusCode": 200}}

    return answer


def _http(status: int) -> AWSResponse:
    return AWSResponse("https://email.eu-west-1.amazonaws.com", status, {}, None)


def _error(status: int, code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return _http(status), {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}


def json_of(response: Any) -> Any:
    """A Flask test response's JSON (asserting it is JSON)."""
    assert response.is_json, response.data[:200]
    return response.get_json()


__all__ = ["BASE", "HTML_FILE", "LACKING", "SUBJECT_FILE", "TEXT_FILE", "json_of", "lane_environment"]
