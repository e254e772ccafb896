"""The console on a deployed stack: SES renders, the lane's settings are its function's, changes need the stack's name.

moto plays the stack (tests/console/conftest.py); SES's `TestRenderEmailTemplate`, which moto lacks,
is answered by a `before-call` hook below the project.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import boto3

from tests.console.conftest import BASE, LACKING, REGION, DeployedStack, json_of

SEND = {"template": "order-shipped", "version": "v1", "sample": "shipped.json",
        "recipient": "bounce@simulator.amazonses.com"}


def post(stack: DeployedStack, path: str, body: dict) -> tuple[int, dict]:
    response = stack.client.post(f"{BASE}/api/{path}", json=body)
    return response.status_code, json_of(response)


def get(stack: DeployedStack, path: str) -> tuple[int, dict]:
    response = stack.client.get(f"{BASE}/api/{path}")
    return response.status_code, json_of(response)


def test_ses_renders_the_deployed_version_with_the_data_the_lane_would_send(deployed: DeployedStack) -> None:
    _, preview = get(deployed, "templates/order-shipped/v1/preview?sample=shipped.json")
    assert preview["rendered"]["renderer"] == "ses"
    assert preview["rendered"]["subject"] == "Your order 1042 has shipped"
    assert "<li>0. 2 x Mug for Ada</li>" in preview["rendered"]["html"]
    assert "- 1 x Tea" in preview["rendered"]["text"]
    [call] = deployed.rendered
    sent = json.loads(preview["ses_request"]["Content"]["Template"]["TemplateData"])
    assert call == {"TemplateName": "email-test-order-shipped-v1", "data": sent}


def test_what_ses_cannot_render_is_shown_as_its_rendering_failure(deployed: DeployedStack) -> None:
    _, preview = get(deployed, f"templates/order-shipped/v1/preview?sample={LACKING}")
    assert preview["rendered"]["renderer"] == "ses"
    assert preview["rendered"]["failure"] == "Attribute 'customerName' is not present in the rendering data"


def test_a_version_not_deployed_is_a_404_saying_so(deployed: DeployedStack, templates_dir: Path) -> None:
    shutil.copytree(templates_dir / "order-shipped" / "v1", templates_dir / "order-shipped" / "v2")
    status, error = get(deployed, "templates/order-shipped/v2/preview?sample=shipped.json")
    assert status == 404
    assert error["error"] == ("email-test-order-shipped-v2 is not deployed on stack email-test; deploy this version "
                              "(pulumi up) or pick a deployed one")


def test_the_lane_settings_are_its_functions_own(deployed: DeployedStack) -> None:
    """The allowlist, sender and catalog come from the deployed function's environment (GetFunctionConfiguration)."""
    boto3.client("lambda", region_name=REGION).update_function_configuration(
        FunctionName="email-test-normal", Environment={"Variables": {
            **deployed.source.lane_function("normal").environment, "EMAIL_SENDER": "Billing <billing@example.com>"}})
    _, preview = get(deployed, "templates/order-shipped/v1/preview?sample=shipped.json")
    assert preview["ses_request"]["FromEmailAddress"] == "Billing <billing@example.com>"


def test_a_test_send_on_a_deployed_stack_needs_the_stacks_name(deployed: DeployedStack) -> None:
    status, error = post(deployed, "send-test", SEND)
    assert status == 409
    assert error["error"] == ("a test send on a deployed stack needs a confirmation naming the stack; type the "
                              "stack's name, email-test, to confirm")
    assert post(deployed, "send-test", {**SEND, "confirm": "email-prod"})[0] == 409


def test_a_confirmed_test_send_is_an_event_on_the_stacks_bus(deployed: DeployedStack) -> None:
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="listener")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName="email-test-bus", EventPattern=json.dumps({"source": ["custom.application"]}))
    events.put_targets(Rule="all", EventBusName="email-test-bus", Targets=[{"Id": "q", "Arn": arn}])
    status, sent = post(deployed, "send-test", {**SEND, "confirm": "email-test"})
    assert status == 202
    [message] = sqs.receive_message(QueueUrl=url).get("Messages", [])
    event = json.loads(message["Body"])
    assert event["id"] == sent["event_id"] and event["detail-type"] == "Email Notification Request"
    assert event["detail"]["emailConfig"] == {"recipient": "bounce@simulator.amazonses.com"}
    assert event["detail"]["templateData"]["customerName"] == "Ada"
    assert event["detail"]["idempotencyKey"] == sent["idempotency_key"]


def test_a_test_goes_only_to_the_simulator_or_an_allowlisted_recipient(deployed: DeployedStack) -> None:
    status, error = post(deployed, "send-test", {**SEND, "recipient": "someone@elsewhere.test", "confirm": "email-test"})
    assert status == 400
    assert error["error"].startswith("the test recipient is not in stack email-test's recipient allowlist (@example.com)")
    assert post(deployed, "send-test", {**SEND, "recipient": "ada@example.com", "confirm": "email-test"})[0] == 202


def dead_letter(stack: DeployedStack, code: str = "InvalidEvent") -> str:
    """A dead letter as a lane writes it (`handlers.sqs_batch`): the event, and why as message attributes."""
    event = {"id": "evt-1", "source": "custom.application", "detail-type": "Email Notification Request",
             "detail": {"emailConfig": {"recipient": "ada@example.com"}, "templateData": {"name": "Ada"}}}
    attributes = {"FailureCode": code, "FailureField": "detail.templateData",
                  "FailureReason": "template 'order-shipped' v1 uses ['orderId'] but the event does not provide them",
                  "FailedAt": "2026-12-04T09:00:00+00:00"}
    return str(boto3.client("sqs", region_name=REGION).send_message(
        QueueUrl=stack.url("laneDeadLetterQueueUrls"), MessageBody=json.dumps(event),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()})["MessageId"])


def test_dead_letters_list_code_field_and_reason_and_never_a_value(deployed: DeployedStack) -> None:
    dead_letter(deployed)
    _, found = get(deployed, "dead-letters")
    lane = found["lanes"]["normal"]
    assert lane["depth"] == 1 and lane["by_code"] == {"InvalidEvent": 1}
    [letter] = lane["messages"]
    assert (letter["event_id"], letter["field"]) == ("evt-1", "detail.templateData")
    text = json.dumps(found)
    assert "ada@example.com" not in text and "Ada" not in text


def test_one_dead_letters_values_are_shown_when_asked_for(deployed: DeployedStack) -> None:
    message_id = dead_letter(deployed)
    assert "event" not in get(deployed, f"dead-letters/normal/{message_id}")[1]
    _, shown = get(deployed, f"dead-letters/normal/{message_id}?values=true")
    assert shown["event"]["detail"]["emailConfig"]["recipient"] == "ada@example.com"


def test_redrive_needs_the_stacks_name_and_moves_the_code_chosen(deployed: DeployedStack) -> None:
    dead_letter(deployed, "InvalidEvent")
    dead_letter(deployed, "OutcomeUnknown")
    assert post(deployed, "dead-letters/normal/redrive", {"code": "InvalidEvent"})[0] == 409
    status, moved = post(deployed, "dead-letters/normal/redrive", {"code": "InvalidEvent", "confirm": "email-test"})
    assert status == 200
    assert (moved["moved"], moved["left"]) == ({"InvalidEvent": 1}, {"OutcomeUnknown": 1})
    sqs = boto3.client("sqs", region_name=REGION)
    [back] = sqs.receive_message(QueueUrl=deployed.url("laneQueueUrls"), MessageAttributeNames=["All"])["Messages"]
    assert back["MessageAttributes"]["FailureCode"]["StringValue"] == "InvalidEvent"


def test_redrive_of_an_unknown_lane_is_one_line(deployed: DeployedStack) -> None:
    status, error = post(deployed, "dead-letters/marketing/redrive", {"code": "InvalidEvent", "confirm": "email-test"})
    assert status == 400 and error["error"] == "unknown lane 'marketing'; use one of: normal"


def test_unrouted_events_are_listed_by_source_and_detail_type(deployed: DeployedStack) -> None:
    boto3.client("sqs", region_name=REGION).send_message(QueueUrl=deployed.outputs["unroutedQueueUrl"], MessageBody=json.dumps(
        {"id": "evt-9", "source": "shop.orders", "detail-type": "Order Refunded", "detail": {"to": "ada@example.com"}}))
    _, found = get(deployed, "dead-letters")
    [event] = found["unrouted"]["events"]
    assert (event["event_id"], event["source"], event["detail_type"]) == ("evt-9", "shop.orders", "Order Refunded")
    assert "ada@example.com" not in json.dumps(found)


def test_the_message_log_of_a_deployed_stack_asks_for_a_search(deployed: DeployedStack) -> None:
    _, found = get(deployed, "messages")
    assert found["messages"] == [] and "search by idempotency key" in found["hint"]


def test_a_search_that_finds_nothing_says_what_trace_says(deployed: DeployedStack) -> None:
    _, found = get(deployed, "messages?q=order-1042-receipt")
    assert found["messages"] == [] and found["hint"].startswith("trace: no trace")


def test_a_message_without_a_status_record_is_a_404(deployed: DeployedStack) -> None:
    status, error = get(deployed, "messages/0100018f-nothing")
    assert status == 404 and "has no status record for SES message id" in error["error"]
