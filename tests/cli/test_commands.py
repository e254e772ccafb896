"""The operator tool against the dev stack on the emulator: one emulator for the whole module."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from local.system import LocalSystem
from tests.cli.emulated import drain, empty, entry, notification

ADDRESS = "secret.person@example.com"


@pytest.fixture(autouse=True)
def _empty_queues(system: LocalSystem) -> None:
    empty(system)


def dead_letter_one_unknown_outcome(system: LocalSystem, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """SES takes the send and never answers (a read timeout): the normal lane dead-letters it as OutcomeUnknown."""
    real_send = system.ses.send_email

    def no_answer(**request: Any) -> Any:
        monkeypatch.setattr(system.ses, "send_email", real_send)
        raise ReadTimeoutError(endpoint_url="https://email.eu-west-1.amazonaws.com")

    monkeypatch.setattr(system.ses, "send_email", no_answer)
    system.publish([notification(idempotencyKey=key)])
    drain(system)


def test_status_shows_depths_dead_letters_by_code_and_alarms(system: LocalSystem, cli: Any) -> None:
    system.publish([entry({"invalidField": "x"})])
    drain(system)
    system.publish([notification(), notification()])  # waiting: nothing drains them
    cloudwatch = system.clients["cloudwatch"]
    for name in ("email-pipeline-dev-normal-dlq-messages", "email-pipeline-prod-normal-dlq-messages"):
        cloudwatch.put_metric_alarm(AlarmName=name, MetricName="ApproximateNumberOfMessagesVisible", Namespace="AWS/SQS",
                                    Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=0,
                                    ComparisonOperator="GreaterThanThreshold")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="1 dead letter")

    status, out, err = cli("status")

    assert status == 1 and err == ""
    normal = next(line for line in out.splitlines() if line.startswith("normal "))
    assert normal.split()[:4] == ["normal", "2", "0", "-"]
    assert "1 (InvalidEvent 1)" in normal
    assert "SES: unavailable (GetAccount answered HTTP 404 Not Found)" in out  # moto has no SES v2 GetAccount
    assert "email-pipeline-dev-normal-dlq-messages" in out and "email-pipeline-prod" not in out
    assert out.splitlines()[-1].startswith("verdict: needs attention (normal DLQ holds 1")


def test_status_json_is_one_document(system: LocalSystem, cli: Any) -> None:
    system.publish([notification(priority="high") | {"DetailType": "Priority Alert"}])

    status, out, _ = cli("status", "--json")

    document = json.loads(out)
    assert document["lanes"]["priority"]["queued"] == 1
    assert document["lanes"]["normal"]["dead_letters"] == {
        "depth": 0, "in_flight": 0, "by_code": {}, "sampled": 0, "complete": True}
    assert document["unrouted"] == 0 and document["ses"]["available"] is False
    assert status == (0 if document["healthy"] else 1)


def test_dlq_list_hides_addresses_unless_asked(system: LocalSystem, cli: Any) -> None:
    [event_id] = system.publish([entry({"emailConfig": {"recipient": ADDRESS, "cc": "broken", "subject": "Hi"},
                                        "title": "T", "message": "M", "idempotencyKey": f"welcome-{ADDRESS}"})])
    drain(system)

    _, text, _ = cli("dlq", "list")
    _, document, _ = cli("dlq", "list", "--json")
    _, shown, _ = cli("dlq", "list", "--lane", "normal", "--show-addresses")

    assert "secret.person" not in text and "secret.person" not in document
    assert event_id in text and "InvalidEvent" in text and "detail.emailConfig.cc" in text
    [message] = json.loads(document)["lanes"]["normal"]["messages"]
    assert message["event_id"] == event_id and message["code"] == "InvalidEvent"
    assert ADDRESS in shown


def test_dlq_show_hides_addresses_but_keeps_the_shape(system: LocalSystem, cli: Any) -> None:
    [event_id] = system.publish([entry({"emailConfig": {"recipient": ADDRESS, "cc": "broken"}, "title": "T"})])
    drain(system)

    status, out, _ = cli("dlq", "show", event_id, "--json")
    _, revealed, _ = cli("dlq", "show", event_id, "--show-addresses")

    document = json.loads(out)
    assert status == 0 and "secret.person" not in out
    assert document["event"]["detail"]["emailConfig"] == {"recipient": "<hidden>", "cc": "<hidden>"}
    assert document["event"]["detail"]["title"] == "T" and document["field"] == "detail.emailConfig.cc[0]"
    assert ADDRESS in revealed


def test_dlq_show_of_an_unknown_id_is_not_found(cli: Any) -> None:
    status, out, err = cli("dlq", "show", "no-such-message")
    assert (status, out) == (1, "") and err.startswith("email-pipeline: no dead letter with id 'no-such-message'")
    assert len(err.splitlines()) == 1


def test_redrive_by_code_moves_only_that_code_and_the_lane_sends_them(
        system: LocalSystem, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    system.publish([entry({"invalidField": "x"})])
    dead_letter_one_unknown_outcome(system, monkeypatch, key="receipt-unknown")
    assert system.ses.outbox == []

    _, dry, _ = cli("dlq", "redrive", "--lane", "normal", "--code", "OutcomeUnknown", "--dry-run")
    status, out, _ = cli("dlq", "redrive", "--lane", "normal", "--code", "OutcomeUnknown")

    assert dry.startswith("would move 1 from the normal DLQ to the normal lane: OutcomeUnknown 1")
    assert status == 0 and out.startswith("moved 1 from the normal DLQ to the normal lane: OutcomeUnknown 1")
    assert "left 1 (not OutcomeUnknown): InvalidEvent 1" in out
    assert "they may already have reached their recipients" in out
    _, listing, _ = cli("dlq", "list", "--json")
    assert json.loads(listing)["lanes"]["normal"]["by_code"] == {"InvalidEvent": 1}  # left, and visible again
    drain(system)  # the moved message kept FailureCode=OutcomeUnknown: the lane sends it again
    assert len(system.ses.outbox) == 1
    _, trace, _ = cli("trace", "receipt-unknown", "--json")
    assert [record["status"] for record in json.loads(trace)["records"]] == ["COMPLETED"]


def test_redrive_of_every_code_empties_the_dlq(system: LocalSystem, cli: Any) -> None:
    system.publish([entry({"invalidField": str(i)}) for i in range(12)])  # more than one receive's worth
    drain(system)

    status, out, _ = cli("dlq", "redrive", "--lane", "normal")

    assert status == 0 and out.startswith("moved 12 from the normal DLQ to the normal lane: InvalidEvent 12")
    _, listing, _ = cli("dlq", "list", "--lane", "normal", "--json")
    assert json.loads(listing)["lanes"]["normal"]["depth"] == 0


def test_trace_of_a_sent_event(system: LocalSystem, cli: Any) -> None:
    system.publish([notification(idempotencyKey="order-1042-receipt")])
    drain(system)

    status, out, _ = cli("trace", "order-1042-receipt")
    _, document, _ = cli("trace", "order-1042-receipt", "--json")

    [sent] = system.ses.outbox
    assert status == 0
    assert f"normal: COMPLETED, SES message id {sent.message_id}" in out
    [record] = json.loads(document)["records"]
    assert (record["lane"], record["status"], record["ses_message_id"]) == ("normal", "COMPLETED", sent.message_id)


def test_trace_answers_what_became_of_the_email(system: LocalSystem, cli: Any) -> None:
    """The status record, read after the idempotency record: a bounce, without Logs Insights."""
    system.publish([notification("bounce@simulator.amazonses.com", idempotencyKey="reset-7f3a")])
    drain(system)

    status, out, _ = cli("trace", "reset-7f3a")
    _, document, _ = cli("trace", "reset-7f3a", "--json")

    [record] = json.loads(document)["records"]
    [(recipient, latest)] = record["delivery"]["recipients"].items()
    assert (latest["status"], latest["details"]) == ("bounced", {"type": "Permanent", "subType": "General"})
    assert latest["domain"] == "simulator.amazonses.com" and "@" not in recipient
    assert json.loads(document)["verdict"] == "sent once (normal lane); SES says: 1 bounced"
    assert status == 0 and "bounced" in out and "bounce@" not in out


def test_trace_of_a_duplicate_shows_one_send(system: LocalSystem, cli: Any) -> None:
    system.publish([notification(idempotencyKey="reset-42"), notification(idempotencyKey="reset-42")])
    drain(system)

    _, out, _ = cli("trace", "reset-42", "--json")

    document = json.loads(out)
    assert len(system.ses.outbox) == 1
    assert len(document["records"]) == 1 and document["records"][0]["status"] == "COMPLETED"
    assert document["verdict"] == "sent once (normal lane); SES says: 1 delivered" and document["dead_letters"] == []


def test_trace_of_a_dead_lettered_event(system: LocalSystem, cli: Any) -> None:
    [event_id] = system.publish([entry({"emailConfig": {"subject": "no recipient"}, "title": "T"})])
    drain(system)

    status, out, _ = cli("trace", event_id)
    _, document, _ = cli("trace", event_id, "--json")

    [letter] = json.loads(document)["dead_letters"]
    assert status == 0 and json.loads(document)["records"] == []
    assert (letter["code"], letter["field"]) == ("InvalidEvent", "detail.emailConfig.recipient")
    assert "normal DLQ: InvalidEvent, field detail.emailConfig.recipient" in out


def test_trace_of_an_unknown_key_is_not_found(cli: Any) -> None:
    status, out, _ = cli("trace", "never-published")
    assert status == 1 and "verdict: no trace" in out


def test_an_unknown_queue_is_one_line(system: LocalSystem, cli: Any) -> None:
    missing = f"{system.endpoint}/123456789012/no-such-queue"
    status, out, err = cli("status", "--dlq-url", f"normal={missing}")
    assert (status, out) == (2, "")
    assert err.startswith("email-pipeline: GetQueueAttributes failed: AWS.SimpleQueueService.NonExistentQueue")
    assert len(err.splitlines()) == 1


def test_replay_resends_nothing_already_sent(system: LocalSystem, cli: Any, outputs: Path) -> None:
    """moto replays every archived event whatever the window (and with new ids): keys make it a duplicate."""
    events = system.clients["events"]
    bus_arn = json.loads(outputs.read_text())["busArn"]
    events.create_archive(ArchiveName="email-pipeline-dev-archive", EventSourceArn=bus_arn)
    system.publish([notification(idempotencyKey="replayed-1")])
    drain(system)
    now = dt.datetime.now(dt.timezone.utc)

    status, out, _ = cli("replay", "--from", f"{now - dt.timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
                         "--to", (now + dt.timedelta(minutes=1)).isoformat(), "--wait")

    assert status == 0 and "COMPLETED" in out.splitlines()[-1]
    drain(system)
    assert len(system.ses.outbox) == 1


def test_trace_of_an_ses_message_id_shows_a_message_no_lane_sent(system: LocalSystem, cli: Any) -> None:
    """The daily report's statuses are recorded, never published: its SES message id finds them."""
    system.run_report()
    drain(system)
    [report] = [email for email in system.ses.outbox if email.lane == "report"]

    status, out, _ = cli("trace", report.message_id)
    _, document, _ = cli("trace", report.message_id, "--json")

    assert status == 0 and "SES message:" in out and "delivered" in out
    assert json.loads(document)["verdict"] == "an SES message id: SES says 1 delivered"
