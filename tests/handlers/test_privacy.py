"""No log line, from any handler, contains an email address or template data."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest

from ses_email_pipeline.handlers import log, priority, report, templated
from ses_email_pipeline.handlers.clients import Clients
from ses_email_pipeline.handlers.shared.settings import Env
from tests.conftest import HASH_KEY, FakeContext, Lanes, load_event
from tests.handlers.fakes import FakeSes, client_error

ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SECRETS = ("Thanks for your order of 3 items.", "Order 1042", "Immediate attention required",
           "This is a test notification", "System Alert")


@pytest.fixture
def environment(aws: Lanes, catalog: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        Env.STACK: "test", Env.SENDER: "Notifications <no-reply@mail.example.com>",
        Env.CONFIGURATION_SET: "email-test", Env.RECIPIENT_HASH_KEY: HASH_KEY, Env.TEMPLATES: catalog,
        Env.QUEUE_URL: aws.queue_url, Env.DEAD_LETTER_QUEUE_URL: aws.dlq_url,
        Env.STATE_TABLE: aws.table, Env.ONCALL_RECIPIENTS: "oncall@ops.example.com",
        Env.REPORT_RECIPIENTS: "reports@example.com", Env.METRICS_NAMESPACE: "EmailPipeline/test",
        Env.REPORT_LANES: json.dumps([{"name": "normal", "queueUrl": aws.queue_url,
                                       "deadLetterQueueUrl": aws.dlq_url}]),
    }.items():
        monkeypatch.setenv(name, value)


def records(*events: Any) -> dict[str, Any]:
    from tests.conftest import sqs_record
    return {"Records": [sqs_record(e) for e in events]}


class ReceiptTakesTheFirstOutcome(FakeSes):
    """The receipt (four recipients) takes the first scripted outcome, the other emails the rest in turn.

    A batch's emails go out on threads of their own, so outcomes taken in order of arrival would
    reach them in any order: under load the receipt once drew the rejection meant for another.
    """

    def __init__(self, outcomes: list[Any]) -> None:
        super().__init__(outcomes[1:])
        self.receipt_outcome = outcomes[0]

    def send_email(self, **request: Any) -> dict[str, str]:
        destination = request.get("Destination", {})
        if sum(len(destination.get(key, [])) for key in ("ToAddresses", "CcAddresses", "BccAddresses")) != 4:
            return super().send_email(**request)
        self.attempts += 1
        if self.receipt_outcome is not None:
            raise self.receipt_outcome
        self.sent.append(request)
        return {"MessageId": f"ses-{len(self.sent):04d}"}


def run_every_handler(aws: Lanes, monkeypatch: pytest.MonkeyPatch) -> None:
    # A throttle is retried once at a new slot; the second one defers the email.
    outcomes = [None, client_error("MessageRejected"), *[client_error("TooManyRequestsException", 429)] * 4]
    for lane_name, module, events in (
        ("normal", templated, [load_event("templated_receipt"), load_event("email_notification"), load_event("invalid"),
                     {**load_event("email_notification"), "id": "another-event"}]),
        ("priority", priority, [load_event("priority_alert"), load_event("email_notification")]),
    ):
        monkeypatch.setenv(Env.LANE, lane_name)
        ses = ReceiptTakesTheFirstOutcome(outcomes) if lane_name == "normal" else FakeSes(outcomes)
        handler = module.build(Clients(ses=ses, sqs=aws.sqs, dynamodb=aws.dynamodb))
        handler(records(*events), FakeContext())
        handler(records(events[0]), FakeContext())  # a duplicate delivery
    report_handler = report.build(Clients(ses=FakeSes(), dynamodb=aws.dynamodb,
                                          cloudwatch=boto3.client("cloudwatch", region_name="eu-west-1")))
    report_handler({"scheduledTime": "2026-11-22T09:00:00Z"}, FakeContext())


def test_no_log_line_contains_an_address_or_template_data(
    environment: None, aws: Lanes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with log.capture() as captured:
        run_every_handler(aws, monkeypatch)
    events = {line["event"] for line in captured}
    # the run covered every outcome, so every kind of line was checked
    assert {"email_sent", "email_rejected", "email_deferred", "email_duplicate_skipped", "report_sent"} <= events
    lines = [json.dumps(line) for line in captured] + capsys.readouterr().out.splitlines()
    for line in lines:
        assert not ADDRESS.search(line), line
        for secret in SECRETS:
            assert secret not in line, line


def test_printed_log_lines_are_json_with_hash_and_domain(
    environment: None, aws: Lanes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_every_handler(aws, monkeypatch)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    sent = [line for line in printed if line["event"] == "email_sent" and line["lane"] == "normal"]
    assert sent, "expected email_sent lines on stdout"
    # The batch's sends run in parallel, so its lines come in any order: take the receipt's (four recipients).
    receipt = load_event("templated_receipt")["id"]
    [first] = [line for line in sent if line["event_id"] == receipt]
    assert first["recipient_domains"] == ["example.com", "example.net", "example.org"]
    assert len(first["recipient_hashes"]) == first["recipient_count"] == 4
    assert {"request_id", "sqs_message_id", "event_id", "template"} <= first.keys()
