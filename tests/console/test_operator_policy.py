"""The console on a deployed stack needs exactly the policy `console.iam_policy` prints, and nothing more.

The local stack stands for the deployed one (`email-pipeline console --stack-outputs ... --endpoint-url`),
and every call the console makes goes through the local system's IAM evaluation (`local.iam`)
against the operator policy built from the stack's outputs: each of the console's jobs is
exercised (dead letters, one message's values, redrive, a test send, a search by key, event id,
SES message id and address, a message's timeline, a preview rendered by SES with the lane's own
settings, the suppression list read, one address looked up and lifted) and none is denied. The lanes' functions are created in the emulator's Lambda with the
environment the program gives them; SES's `TestRenderEmailTemplate`, which moto lacks, is
answered below the project (tests/console/conftest.py), after the policy has authorized it.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from ses_email_pipeline.cli.session import Aws
from ses_email_pipeline.cli.stack import resolve
from ses_email_pipeline.console.app import create_app
from ses_email_pipeline.console.deployed import deployed_source
from ses_email_pipeline.console.iam_policy import JOBS, operator_policy
from ses_email_pipeline.console.server import SERVICES
from ses_email_pipeline.handlers.shared.settings import Env
from ses_email_pipeline.handlers.shared.status_names import STATUS_LANE

from local.iam import Authorizer, Caller, Denial
from local.iam_policy import Policy
from local.iam_requests import Scope
from local.system import REGION
from tests.console.conftest import BASE, json_of, ses_render
from tests.console.running import NO_MESSAGE, Running, running_console

ACCOUNT = "123456789012"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/console-operator"
#: The actions AWS gives no resource type, so a policy names them on "*" (Service Authorization Reference).
ACCOUNT_WIDE_ACTIONS = {"logs:GetQueryResults", "ses:ListSuppressedDestinations", "ses:GetSuppressedDestination",
                        "ses:DeleteSuppressedDestination"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_console(tmp_path_factory.mktemp("console")) as found:
        yield found


def deploy_functions(running: Running) -> None:
    """The lanes' functions in the emulator's Lambda, with the handler and environment the program declared."""
    endpoint = running.local.system.endpoint
    iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint)
    lam = boto3.client("lambda", region_name=REGION, endpoint_url=endpoint)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    role = iam.create_role(RoleName="lane-functions", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handlers/__init__.py", "")
    for _queue, function, _batch in running.local.system.blueprint.lane_mappings():
        if function.environment.get(Env.LANE) != STATUS_LANE:
            lam.create_function(FunctionName=function.name, Runtime="python3.12", Role=role, Handler=function.handler,
                                Code={"ZipFile": code.getvalue()}, Environment={"Variables": dict(function.environment)})


class Operator:
    """The console of the stack, its every call authorized against `policy` as an operator's role would be."""

    def __init__(self, running: Running, policy: dict[str, Any], templates: Path) -> None:
        outputs = json.loads(running.local.outputs.read_text())
        self.denials: list[Denial] = []
        self.authorizer = Authorizer(Caller("console", OPERATOR, Policy.from_documents([policy])),
                                     Scope(REGION, ACCOUNT), self.denials.append)
        aws = Aws(REGION, running.local.system.endpoint)
        for service in SERVICES + ("logs",):
            self.authorizer.install(aws.client(service))
        authorize = self.authorizer.authorize

        def authorized_render(params: dict[str, Any], **kwargs: Any) -> Any:
            name = params["url_path"].split("/templates/", 1)[1].split("/render")[0]
            authorize("sesv2", "TestRenderEmailTemplate", {"TemplateName": name})
            return render(params=params, **kwargs)

        render = ses_render(templates, [], stack=running.stack_name)
        aws.client("sesv2").meta.events.register_first("before-call.sesv2.TestRenderEmailTemplate", authorized_render)
        self.source = deployed_source(resolve(outputs, source="outputs.json"), aws, outputs, templates)
        self.client = create_app(self.source).test_client()

    def get(self, path: str) -> Any:
        response = self.client.get(f"{BASE}/api/{path}")
        assert response.status_code == 200, (path, response.get_json())
        return json_of(response)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(f"{BASE}/api/{path}", json=body)
        assert response.status_code in (200, 202), (path, response.get_json())
        return json_of(response)


def policy_of(running: Running) -> dict[str, Any]:
    outputs = json.loads(running.local.outputs.read_text())
    return operator_policy(resolve(outputs, source="outputs.json"), outputs)


def test_the_policy_names_only_exact_actions_and_the_stacks_own_resources(running: Running) -> None:
    policy = policy_of(running)
    assert [statement["Sid"] for statement in policy["Statement"]] == list(JOBS)
    for statement in policy["Statement"]:
        assert all("*" not in action for action in statement["Action"]), statement
        for resource in statement["Resource"]:
            assert resource == "*" and set(statement["Action"]) <= ACCOUNT_WIDE_ACTIONS or \
                   f":{ACCOUNT}:" in resource and "email-pipeline-dev" in resource, resource


def test_every_job_of_the_console_is_allowed_by_the_operator_policy(running: Running) -> None:
    deploy_functions(running)
    operator = Operator(running, policy_of(running), running.templates)
    sent = operator.post("send-test", {"template": "notification", "version": "v1", "sample": "order-shipped.json",
                                       "recipient": "bounce@simulator.amazonses.com", "confirm": operator.source.name})
    # The send claim is recorded before SES answers, the status record once the status path ran: wait for that.
    found = running.wait_for(lambda: [m for m in operator.get(f"messages?q={sent['idempotency_key']}")["messages"]
                                      if [r["status"] for r in m["recipients"]] == ["bounced"]],
                             "the test send's bounce in the records")
    [message] = found
    assert operator.get(f"messages?q={message['id']}")["messages"] == found
    by_address = running.wait_for(lambda: operator.get("messages?q=bounce%40simulator.amazonses.com")["messages"],
                                  "the send to the address in the sending functions' logs")
    assert message["id"] in {m["id"] for m in by_address}
    assert [step["status"] for step in operator.get(f"messages/{message['id']}")["timeline"]] == ["sent", "bounced"]
    preview = operator.get("templates/notification/v1/preview?sample=order-shipped.json")
    assert preview["rendered"]["renderer"] == "ses" and preview["ses_request"] is not None
    letter = dead_letter(running, operator)
    assert operator.get(f"dead-letters/normal/{letter['message_id']}?values=true")["event"]["id"] == letter["event_id"]
    moved = operator.post("dead-letters/normal/redrive", {"code": "InvalidEvent", "confirm": operator.source.name})
    assert moved["moved"]["InvalidEvent"] >= 1
    lift_a_suppression(running, operator)
    assert operator.denials == []


def lift_a_suppression(running: Running, operator: Operator) -> None:
    """The suppressions view's jobs: the list, one address's entry, a lift."""
    address = "fixed.mailbox@example.com"
    running.local.system.clients["sesv2"].put_suppressed_destination(EmailAddress=address, Reason="BOUNCE")
    assert [e["reason"] for e in operator.get("suppressions?reason=BOUNCE")["suppressed"]] == ["BOUNCE"]
    assert operator.get(f"suppressions/{address}")["reason"] == "BOUNCE"
    assert operator.post("suppressions/lift", {"address": address, "confirm": operator.source.name})["lifted"]


def dead_letter(running: Running, operator: Operator) -> dict[str, Any]:
    """A test send the lane refuses (its sample lacks `message`), once it is in the lane's DLQ."""
    refused = operator.post("send-test", {"template": "notification", "version": "v1", "sample": NO_MESSAGE,
                                          "recipient": "success@simulator.amazonses.com",
                                          "confirm": operator.source.name})
    return running.wait_for(lambda: next((m for m in operator.get("dead-letters")["lanes"]["normal"]["messages"]
                                          if m["event_id"] == refused["event_id"]), None), "the dead letter")


def test_a_policy_without_a_job_refuses_it_with_one_line(running: Running) -> None:
    """Without `RedriveToLanes` a redrive is refused as AWS refuses it, and the dead letters stay."""
    policy = policy_of(running)
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "RedriveToLanes"]
    operator = Operator(running, policy, running.templates)
    dead_letter(running, operator)
    response = operator.client.post(f"{BASE}/api/dead-letters/normal/redrive",
                                    json={"code": "InvalidEvent", "confirm": operator.source.name})
    assert response.status_code == 502
    error = json_of(response)["error"]
    assert error.startswith("SendMessageBatch failed: AccessDenied") and "\n" not in error
    assert {denial.action for denial in operator.denials} == {"sqs:SendMessage"}
    assert operator.get("dead-letters")["lanes"]["normal"]["by_code"]["InvalidEvent"] >= 1


def test_a_policy_without_lifting_refuses_the_lift_and_the_address_stays(running: Running) -> None:
    policy = policy_of(running)
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "LiftSuppressions"]
    operator = Operator(running, policy, running.templates)
    address = "still.held@example.com"
    running.local.system.clients["sesv2"].put_suppressed_destination(EmailAddress=address, Reason="COMPLAINT")
    response = operator.client.post(f"{BASE}/api/suppressions/lift",
                                    json={"address": address, "confirm": operator.source.name})
    assert response.status_code == 502
    assert json_of(response)["error"].startswith("DeleteSuppressedDestination failed: AccessDenied")
    assert {denial.action for denial in operator.denials} == {"ses:DeleteSuppressedDestination"}
    assert operator.get(f"suppressions/{address}")["reason"] == "COMPLAINT"
