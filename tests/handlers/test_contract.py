"""The event contract: the recipe's shape works, extensions parse, bad input names its field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ses_email_pipeline.handlers.sending.contract import MAX_RECIPIENTS, EmailRequest, check_allowlist, parse_event, resolve_template
from ses_email_pipeline.handlers.errors import InvalidEvent
from ses_email_pipeline.handlers.shared.catalog import Catalog, to_json
from ses_email_pipeline.handlers.shared.catalog import from_json as _template_catalog
from ses_email_pipeline.template_files import deployed_catalog, discover
from tests.conftest import load_event


def body(event: dict[str, Any]) -> str:
    return json.dumps(event)


def with_detail(**changes: Any) -> str:
    event = load_event("email_notification")
    event["detail"].update(changes)
    return body(event)


def with_config(**changes: Any) -> str:
    event = load_event("email_notification")
    event["detail"]["emailConfig"].update(changes)
    return body(event)


def rejection(raw: str) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw)
    return caught.value


def test_recipe_event_parses_unchanged() -> None:
    request = parse_event(body(load_event("email_notification")))
    assert request.to == ("test-recipient@example.com",)
    assert request.subject == "Test Notification"
    assert request.title == "System Alert"
    assert request.source == "custom.application"
    assert request.detail_type == "Email Notification Request"
    assert request.idempotency_key == "6a7e8feb-b491-4cf7-a9f1-bf3703467718"


def test_extended_event_parses_every_field() -> None:
    request = parse_event(body(load_event("templated_receipt")))
    assert request.to == ("buyer@example.com", "second@example.org")
    assert request.cc == ("accounts@example.com",)
    assert request.bcc == ("audit@example.net",)
    assert request.reply_to == ("support@example.com",)
    assert (request.template, request.template_version) == ("notification", "v1")
    assert request.idempotency_key == "order-1042-receipt"
    assert request.tags == {"campaign": "receipts"}


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ("not json at all", "body", "not JSON"),
        ("[1, 2]", "body", "expected a JSON object"),
        (json.dumps({"id": "x", "detail": "text"}), "detail", "expected a JSON object"),
        (with_detail(emailConfig={"subject": "x"}), "detail.emailConfig.recipient", "missing"),
        (with_config(recipient="not-an-address"), "detail.emailConfig.recipient[0]", "malformed"),
        (with_config(recipient="a@b.com\r\nBcc: victim@evil.com"), "detail.emailConfig.recipient[0]", "control character"),
        (with_config(subject="Hi\nBcc: victim@evil.com"), "detail.emailConfig.subject", "control character"),
        (with_config(recipient=42), "detail.emailConfig.recipient", "expected an address"),
        (with_config(cc=[None]), "detail.emailConfig.cc[0]", "expected an address string"),
        (with_config(replyTo="x@y"), "detail.emailConfig.replyTo[0]", "malformed"),
        (with_config(recipient="ünïcode@example.com"), "detail.emailConfig.recipient[0]", "ASCII"),
        (with_detail(title=["not", "text"]), "detail.title", "expected a string"),
        (with_detail(priority="urgent!"), "detail.priority", "must be one of"),
        (with_detail(templateData=[1]), "detail.templateData", "expected a JSON object"),
        (with_detail(templateData={"blob": "x" * 300_000}), "detail.templateData", "SES allows"),
        (with_detail(tags={"bad tag": "x"}), "detail.tags[0]", "tag names"),
        (with_detail(tags={"campaign": "spaces not allowed"}), "detail.tags[0]", "tag values"),
        (with_detail(idempotencyKey="a\nb"), "detail.idempotencyKey", "control character"),
        (with_detail(template="x" * 65), "detail.template", "longer than 64"),
        (with_detail(correlationId="order 1042"), "detail.correlationId", "A-Z a-z 0-9 _ -"),
        (with_detail(correlationId=1042), "detail.correlationId", "must be a string"),
        (with_detail(correlationId="x" * 257), "detail.correlationId", "1-256 characters"),
        (with_detail(tags={"campaign": "spring", "stack": "prod"}), "detail.tags[1]", "the pipeline's own"),
    ],
)
def test_invalid_events_name_field_and_reason(raw: str, field: str, reason: str) -> None:
    error = rejection(raw)
    assert error.field == field
    assert reason in error.reason


def test_recipient_limit_counts_to_cc_and_bcc() -> None:
    many = [f"user{i}@example.com" for i in range(MAX_RECIPIENTS)]
    error = rejection(with_config(recipient=many[:30], cc=many[30:], bcc="one-more@example.com"))
    assert error.field == "detail.emailConfig"
    assert "at most 50" in error.reason
    assert len(parse_event(with_config(recipient=many)).recipients) == MAX_RECIPIENTS


def test_missing_event_id_without_idempotency_key_is_rejected() -> None:
    event = load_event("email_notification")
    del event["id"]
    assert rejection(body(event)).field == "id"
    event["detail"]["idempotencyKey"] = "k-1"
    assert parse_event(body(event)).idempotency_key == "k-1"


def test_error_messages_never_quote_the_address() -> None:
    error = rejection(with_config(recipient="secret.person@private-domain.com\n"))
    assert "secret.person" not in str(error)


class TestResolveTemplate:
    @pytest.fixture
    def templates(self, catalog: str) -> Any:
        return _template_catalog(catalog)

    def request(self, **changes: Any) -> EmailRequest:
        return parse_event(with_detail(**changes))

    def test_default_template_gets_the_recipe_variables(self, templates: Any) -> None:
        resolved = resolve_template(self.request(), templates, "notification")
        assert resolved.deployed.deployed_name == "email-test-notification-v1"
        assert resolved.data["subject"] == "Test Notification"
        assert resolved.data["title"] == "System Alert"
        assert resolved.data["timestamp"] == "2026-11-22T09:00:00Z"
        assert resolved.data["source"] == "custom.application"

    def test_unknown_template_is_rejected(self, templates: Any) -> None:
        with pytest.raises(InvalidEvent, match="not a deployed template") as caught:
            resolve_template(self.request(template="nope"), templates, "notification")
        assert caught.value.field == "detail.template"

    def test_unknown_version_is_rejected(self, templates: Any) -> None:
        with pytest.raises(InvalidEvent, match="not a deployed version") as caught:
            resolve_template(self.request(templateVersion="v9"), templates, "notification")
        assert caught.value.field == "detail.templateVersion"

    def test_data_missing_a_variable_is_rejected_before_sending(self, templates: Any) -> None:
        event = load_event("email_notification")
        del event["detail"]["message"]
        with pytest.raises(InvalidEvent, match=r"\['message'\]") as caught:
            resolve_template(parse_event(body(event)), templates, "notification")
        assert caught.value.field == "detail.templateData"

    def test_subject_variable_with_line_break_is_rejected(self, templates: Any) -> None:
        request = self.request(templateData={"subject": "Hi\r\nBcc: x@y.com"})
        with pytest.raises(InvalidEvent, match="inject or corrupt mail headers"):
            resolve_template(request, templates, "notification")

    @pytest.mark.parametrize("subject", [
        ["Hi", "\r\nBcc: x@y.com"],           # SES prints a list as its items, joined
        {"text": "Hi\nBcc: x@y.com"},          # and an object's values
        {"Bcc\r\n": "x"},                      # or keys
        "Hi\x00there",                         # NUL corrupts the header
        "Hi\x1bthere",                         # as does any C0 control but TAB
    ])
    def test_subject_variable_of_any_json_type_holding_a_control_character_is_rejected(
        self, templates: Any, subject: Any
    ) -> None:
        with pytest.raises(InvalidEvent, match="control character") as caught:
            resolve_template(self.request(templateData={"subject": subject}), templates, "notification")
        assert caught.value.field == "detail.templateData.subject"

    def test_a_tab_in_a_subject_is_fine(self, templates: Any) -> None:
        resolve_template(self.request(templateData={"subject": "Order\t1042"}), templates, "notification")

    def test_newest_version_is_the_default(self) -> None:
        templates = _template_catalog(json.dumps({
            "t": {v: {"deployedName": f"t-{v}", "variables": []} for v in ("v1", "v2", "v10")}
        }))
        resolved = resolve_template(self.request(template="t"), templates, "notification")
        assert resolved.deployed.deployed_name == "t-v10"


class TestOptionalTemplateContent:
    """Through the deployed catalog: the data needs only what SES prints for it."""

    @pytest.fixture
    def receipt(self, tmp_path: Path) -> Catalog:
        folder = tmp_path / "receipt" / "v1"
        folder.mkdir(parents=True)
        (folder / "subject.txt").write_text("Order {{orderId}}{{#if urgent}} {{flag}}{{/if}}")
        (folder / "body.html").write_text("<p>{{orderId}}</p>{{#if hasGift}}<p>{{giftNote}}</p>{{/if}}"
                                          "{{#if giftNote}}<p>{{giftNote}}</p>{{/if}}")
        (folder / "body.txt").write_text("{{#unless paid}}Due: {{amount}}{{else}}Paid{{/unless}}"
                                         "{{#each items}}{{name}}{{/each}}")
        return _template_catalog(to_json(deployed_catalog(discover(tmp_path), "email-test")))

    def resolve(self, catalog: Catalog, **data: Any) -> None:
        resolve_template(parse_event(with_detail(template="receipt", templateData=data)), catalog, "notification")

    def test_an_event_without_optional_variables_is_sent(self, receipt: Catalog) -> None:
        self.resolve(receipt, orderId="1042", paid=True)

    def test_a_variable_in_a_block_the_data_renders_is_required(self, receipt: Catalog) -> None:
        with pytest.raises(InvalidEvent, match=r"\['giftNote'\]") as caught:
            self.resolve(receipt, orderId="1042", paid=True, hasGift=True)
        assert caught.value.field == "detail.templateData"

    def test_an_unless_block_the_data_renders_is_required(self, receipt: Catalog) -> None:
        with pytest.raises(InvalidEvent, match=r"\['amount'\]"):
            self.resolve(receipt, orderId="1042")

    def test_a_subject_value_in_a_skipped_block_is_not_checked_for_header_injection(self, receipt: Catalog) -> None:
        self.resolve(receipt, orderId="1042", paid=True, flag="x\r\nBcc: y@example.com")
        with pytest.raises(InvalidEvent, match="control character") as caught:
            self.resolve(receipt, orderId="1042", paid=True, urgent=True, flag="x\r\nBcc: y@example.com")
        assert caught.value.field == "detail.templateData.flag"


def test_allowlist_accepts_listed_addresses_and_domains() -> None:
    check_allowlist(["a@example.com", "b@team.example.org"], ["a@example.com", "@team.example.org"])
    with pytest.raises(InvalidEvent, match="allowlist") as caught:
        check_allowlist(["a@example.com", "stranger@elsewhere.com"], ["a@example.com"])
    assert caught.value.field == "recipients[1]"


@pytest.mark.parametrize("address", ["success@simulator.amazonses.com", "bounce+order-1042@simulator.amazonses.com",
                                     "OOTO@Simulator.AmazonSES.com", "complaint@simulator.amazonses.com",
                                     "suppressionlist@simulator.amazonses.com"])
def test_simulator_addresses_pass_every_allowlist(address: str) -> None:
    check_allowlist(["a@example.com", address], ["a@example.com"])


def test_an_undocumented_mailbox_of_the_simulators_domain_is_not_let_through() -> None:
    with pytest.raises(InvalidEvent, match="allowlist") as caught:
        check_allowlist(["someone@simulator.amazonses.com"], ["@example.com"])
    assert caught.value.field == "recipients[0]"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_template_data_is_strict_json(constant: str) -> None:
    raw = body(load_event("templated_receipt")).replace('"title": "Order 1042"', f'"title": {constant}')
    assert constant in raw
    with pytest.raises(InvalidEvent, match="NaN or Infinity") as caught:
        parse_event(raw)
    assert caught.value.field == "body"


def test_a_body_nested_beyond_the_parsers_depth_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEvent, match="nested too deeply") as caught:
        parse_event("[" * 20_000 + "]" * 20_000)
    assert caught.value.field == "body"


@pytest.mark.parametrize("detail", [
    {"priority": "jane@example.com"},
    {"template": "jane@example.com"},
    {"template": "notification", "templateVersion": "jane@example.com"},
    {"tags": {"jane@example.com": "x"}},
    {"tags": {"campaign": "jane@example.com"}},
])
def test_a_rejection_never_quotes_the_value(detail: dict[str, Any], catalog: str) -> None:
    event = load_event("email_notification")
    event["detail"].update(detail)
    with pytest.raises(InvalidEvent) as caught:
        resolve_template(parse_event(body(event)), _template_catalog(catalog), "notification")
    assert "jane" not in str(caught.value) and "jane" not in caught.value.field
