"""The whole system on the emulator: events in, mail and dead letters out (part of `make test`)."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from local import __main__ as cli
from local import serve
from local.blueprint import Blueprint
from local.program import run_stack
from local.system import LocalSystem

ROOT = Path(__file__).resolve().parents[2]


def entry(detail: dict[str, Any], detail_type: str = "Email Notification Request",
          source: str = "custom.application") -> dict[str, Any]:
    return {"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}


def notification(recipient: str = "someone@example.com", **detail: Any) -> dict[str, Any]:
    return entry({"emailConfig": {"recipient": recipient, "subject": "Hello"}, "title": "T",
                  "message": "M", **detail})


@pytest.fixture
def system() -> Iterator[LocalSystem]:
    with LocalSystem.start("dev") as running, contextlib.redirect_stdout(io.StringIO()):
        yield running


def queued(system: LocalSystem, lane: str = "normal") -> int:
    queue = next(q for q, f, _ in system.blueprint.lane_mappings() if f.environment["EMAIL_LANE"] == lane)
    attributes = system.clients["sqs"].get_queue_attributes(
        QueueUrl=system.queue_url(queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_the_recipes_samples_do_what_they_should() -> None:
    summary = cli.run("dev", cli.load_entries(cli.SAMPLES), report=True)
    assert cli.check_demo(summary) == 0
    assert summary["access_denied"] == []  # every call each function made, its role policy allows
    alert = next(e for e in summary["sent"] if e["lane"] == "priority")
    assert alert["to"] == ["test-recipient@example.com", "oncall@example.com"]
    assert "Immediate attention required" in alert["text"]
    report = next(e for e in summary["sent"] if e["lane"] == "report")
    assert "Lane normal: 2 sent, 1 rejected" in report["text"]
    reset = next(e for e in summary["sent"] if e["subject"] == "Reset your password")
    assert reset["delivery"] == {"bounce@simulator.amazonses.com": "bounced"}  # SES's mailbox simulator


def test_every_sample_names_the_dev_stacks_bus() -> None:
    """`aws events put-events --entries file://samples/events.json` puts them where the routes are."""
    [bus] = Blueprint.from_mocks(run_stack("dev")).buses  # what `pulumi stack output busName` gives
    assert {sample["EventBusName"] for sample in cli.load_entries(cli.SAMPLES)} == {bus}


def put_events_as_the_aws_cli(command: str, cwd: Path) -> dict[str, Any]:
    """What `[VAR=value ...] aws --endpoint-url URL --region R events put-events --entries file://F` calls."""
    words = shlex.split(command)
    while "=" in words[0]:
        words.pop(0)
    assert words[0] == "aws" and words[-4:-1] == ["events", "put-events", "--entries"], command
    options = dict(zip(words[1:-4:2], words[2:-4:2]))
    path = cwd / words[-1].removeprefix("file://")
    client = boto3.client("events", endpoint_url=options["--endpoint-url"], region_name=options["--region"])
    return client.put_events(Entries=json.loads(path.read_text()))


def banner_command(system: LocalSystem) -> str:
    [command] = [line.strip() for line in serve.serve_banner(system, cwd=ROOT) if "put-events" in line]
    return command


def test_the_serve_banners_command_delivers_the_samples() -> None:
    with LocalSystem.start("dev", port=0) as system, contextlib.redirect_stdout(io.StringIO()):
        response = put_events_as_the_aws_cli(banner_command(system), ROOT)
        assert response["FailedEntryCount"] == 0
        lines = serve.ServeWatch(system).new_lines()
    assert sorted(line.split(" to ")[0] for line in lines if line.startswith("SENT")) == [
        "SENT [normal]", "SENT [normal]", "SENT [priority]"]
    [letter] = [line for line in lines if line.startswith("DEAD LETTER")]
    assert letter.startswith("DEAD LETTER [normal] InvalidEvent detail.emailConfig.recipient: ")


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_serve_banners_command_works_in_a_shell_as_printed() -> None:
    with LocalSystem.start("dev", port=0) as system, contextlib.redirect_stdout(io.StringIO()):
        done = subprocess.run(["sh", "-c", banner_command(system)], cwd=ROOT, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["FailedEntryCount"] == 0
        system.drain()
        assert len(system.ses.outbox) == 3


def test_the_serve_banner_says_when_the_samples_name_another_stacks_bus() -> None:
    """`make serve STACK=staging`: the samples' command would name a bus the emulator does not have."""
    bus = "email-pipeline-staging-bus"
    system = SimpleNamespace(blueprint=SimpleNamespace(buses=[bus]), endpoint="http://127.0.0.1:4566")
    banner = "\n".join(serve.serve_banner(system, cwd=ROOT))  # type: ignore[arg-type]
    assert "file://samples/events.json" not in banner  # it would name a bus this stack does not have
    assert f"samples/events.json is written for bus email-pipeline-dev-bus, not this stack's" in banner
    assert f'"EventBusName": "{bus}"' in banner


def test_a_duplicate_delivery_is_sent_once(system: LocalSystem) -> None:
    system.publish([notification(idempotencyKey="reset-42"), notification(idempotencyKey="reset-42")])
    system.drain()
    assert len(system.ses.outbox) == 1


def test_an_sqs_redelivery_of_the_same_event_is_sent_once(system: LocalSystem) -> None:
    system.publish([notification()])
    queue = next(q for q, f, _ in system.blueprint.lane_mappings() if f.environment["EMAIL_LANE"] == "normal")
    [message] = system.clients["sqs"].receive_message(QueueUrl=system.queue_url(queue), VisibilityTimeout=0)["Messages"]
    system.clients["sqs"].send_message(QueueUrl=system.queue_url(queue), MessageBody=message["Body"])  # at-least-once
    system.drain()
    assert len(system.ses.outbox) == 1


def test_a_throttled_ses_that_recovers_loses_nothing(system: LocalSystem) -> None:
    system.ses.faults.throttle_next = 7  # botocore's in-call retries are stubbed out: each counts once
    system.publish([notification(f"user{i}@example.com") for i in range(4)])
    system.drain()
    assert sorted(m.to[0] for m in system.ses.outbox) == [f"user{i}@example.com" for i in range(4)]
    assert system.dead_letters() == []


def test_a_halted_account_keeps_every_message(system: LocalSystem) -> None:
    system.ses.faults.paused = True
    system.publish([notification(f"user{i}@example.com") for i in range(3)])
    system.drain(fast_forward=False)
    assert system.ses.outbox == [] and system.dead_letters() == []
    assert queued(system) == 3
    system.ses.faults.paused = False  # a person fixed the account
    system.drain()
    assert len(system.ses.outbox) == 3 and queued(system) == 0


def test_a_poison_message_does_not_block_good_ones(system: LocalSystem) -> None:
    good = [notification(f"user{i}@example.com") for i in range(4)]
    system.publish(good[:2] + [notification("not-an-address")] + good[2:])
    system.drain()
    assert len(system.ses.outbox) == 4
    [letter] = system.dead_letters()
    assert letter.lane == "normal" and letter.reason.startswith("detail.emailConfig.recipient[0]: malformed")


def test_a_route_added_in_config_appears_without_other_changes() -> None:
    route = {"name": "order-receipts", "eventPattern": {"source": ["shop.orders"]}, "lane": "normal"}
    with LocalSystem.start("dev", routes=[route]) as system, contextlib.redirect_stdout(io.StringIO()):
        system.publish([{**notification(), "Source": "shop.orders", "DetailType": "Order Placed"}])
        system.drain()
        assert [m.subject for m in system.ses.outbox] == ["Hello"]


def test_send_command_prints_one_json_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Entries": [notification(), entry({"invalidField": "x"})]}))
    assert cli.main(["send", str(events), "--json", "--allow-failures"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"sent", "dead_letters", "unrouted", "counts", "access_denied", "events"}
    assert document["sent"][0]["to"] == ["someone@example.com"]
    assert {"to", "cc", "subject", "text", "html", "template", "lane"} <= set(document["sent"][0])
    assert document["dead_letters"][0]["lane"] == "normal"
    assert document["counts"]["normal"] == {"sent": 1, "dead_letters": 1}


@pytest.mark.parametrize("priority", ["HIGH", "High", "critical"])
def test_a_priority_alert_in_any_case_is_sent_as_an_alert(system: LocalSystem, priority: str) -> None:
    system.publish([notification(priority=priority) | {"DetailType": "Priority Alert"}])
    system.drain()
    [alert] = system.ses.outbox
    assert alert.lane == "priority" and alert.subject.startswith(f"[{priority.upper()}]")


@pytest.mark.parametrize("priority", ["low", "normal", None])
def test_a_priority_alert_that_is_not_urgent_is_sent_as_ordinary_mail(system: LocalSystem, priority: str | None) -> None:
    detail = {"priority": priority} if priority else {}
    system.publish([notification(**detail) | {"DetailType": "Priority Alert"}])
    system.drain()
    [email] = system.ses.outbox
    assert email.lane == "normal" and not email.subject.startswith("[")


def test_a_priority_alert_with_an_invalid_priority_is_dead_lettered_with_the_reason(system: LocalSystem) -> None:
    system.publish([notification(priority="jane@example.com") | {"DetailType": "Priority Alert"}])
    system.drain()
    summary = system.summary()
    assert summary["sent"] == [] and summary["unrouted"] == []
    [letter] = summary["dead_letters"]
    assert letter["lane"] == "normal" and letter["reason"].startswith("detail.priority: must be one of")
    assert "jane" not in letter["reason"]


def test_an_event_no_route_takes_is_listed_as_unrouted() -> None:
    gold = {"name": "gold-receipts", "lane": "priority",
            "eventPattern": {"source": ["shop.orders"], "detail-type": ["Order Receipt"], "detail": {"tier": ["gold"]}}}
    with LocalSystem.start("dev", routes=[gold]) as running, contextlib.redirect_stdout(io.StringIO()):
        running.publish([entry({"tier": "silver", "emailConfig": {"recipient": "a@example.com"}},
                               detail_type="Order Receipt", source="shop.orders")])
        running.drain()
        summary = running.summary()
    [event] = summary["unrouted"]
    assert (event["source"], event["detail-type"], event["detail"]["tier"]) == ("shop.orders", "Order Receipt", "silver")
    assert summary["sent"] == [] and summary["dead_letters"] == []
    assert "UNROUTED shop.orders / Order Receipt" in cli.describe(summary)


def ses_event(system: LocalSystem, event_type: str, **part: Any) -> dict[str, Any]:
    """An SES event as SES publishes it to the default bus (SES developer guide, event publishing examples)."""
    [rule] = [r for r in system.blueprint.rules if r.bus == "default" and r.name.endswith("-ses-bounce")]
    configuration_set = json.loads(rule.pattern)["detail"]["mail"]["tags"]["ses:configuration-set"][0]
    return {
        "eventType": event_type, **part,
        "mail": {"timestamp": "2026-11-23T10:00:00Z", "messageId": "ses-0001", "source": "dev-sender@example.com",
                 "destination": ["jane@example.com"], "headersTruncated": False,
                 "headers": [{"name": "To", "value": "Jane <jane@example.com>"}],
                 "commonHeaders": {"to": ["jane@example.com"], "subject": "Your order"},
                 "tags": {"ses:configuration-set": [configuration_set], "lane": ["normal"],
                          "template": ["notification-v1"], "stack": ["email-pipeline-dev"],
                          "event_id": ["6a7e8feb-b491-4cf7-a9f1-bf3703467718"], "key_hash": ["0f" * 16],
                          "correlation_id": ["checkout_7f3a"]}},
    }


def feedback_lines(system: LocalSystem, detail_type: str, detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Put one SES event on the default bus and read back what its feedback log group got (the message's JSON)."""
    response = system.clients["events"].put_events(Entries=[{
        "Source": "aws.ses", "DetailType": detail_type, "Detail": json.dumps(detail)}])
    assert response["FailedEntryCount"] == 0
    [group] = [g for g in system.blueprint.log_groups if g.endswith("-ses-feedback")]
    lines = [e["message"] for e in system.clients["logs"].filter_log_events(logGroupName=group)["events"]]
    assert all("jane" not in line and "Your order" not in line for line in lines)  # no address, no header
    return [json.loads(json.loads(line)["message"]) for line in lines]


SENT = {"sesMessageId": "ses-0001", "sentAt": "2026-11-23T10:00:00Z", "lane": "normal", "template": "notification-v1",
        "stack": "email-pipeline-dev", "eventId": "6a7e8feb-b491-4cf7-a9f1-bf3703467718"}  # never the correlation_id


def test_a_bounces_feedback_line_holds_the_bounce_and_nothing_of_a_complaint(system: LocalSystem) -> None:
    """It used to carry a literal "<complaintFeedbackType>": one template for every kind, moto keeping the placeholder."""
    bounce = {"bounceType": "Permanent", "bounceSubType": "General", "timestamp": "2026-11-23T10:00:01Z",
              "feedbackId": "fb-1", "bouncedRecipients": [{"emailAddress": "jane@example.com",
                                                            "diagnosticCode": "smtp; 550 jane@example.com"}]}
    [line] = feedback_lines(system, "Email Bounced", ses_event(system, "Bounce", bounce=bounce))
    assert line == {"eventType": "Bounce", **SENT, "bounceType": "Permanent", "bounceSubType": "General"}


def test_a_field_an_ses_event_lacks_is_empty_in_its_line_as_eventbridge_renders_it(system: LocalSystem) -> None:
    """A complaint whose feedback report named no type: EventBridge creates no variable, the quoted placeholder is ""."""
    complaint = {"complainedRecipients": [{"emailAddress": "jane@example.com"}], "timestamp": "2026-11-23T10:00:02Z",
                 "feedbackId": "fb-2"}
    [line] = feedback_lines(system, "Email Complaint Received", ses_event(system, "Complaint", complaint=complaint))
    assert line == {"eventType": "Complaint", **SENT, "complaintFeedbackType": ""}
