"""The shared send module: exact SES v2 requests, error taxonomy, retry policy, pacing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from ses_email_pipeline.handlers import aws, log
from ses_email_pipeline.handlers.sending import ses
from ses_email_pipeline.handlers.errors import (
    DailyQuotaExhausted,
    EmailError,
    OutcomeUnknown,
    PermanentSendError,
    RetryableSendError,
    SendingHalted,
    SendingNotAuthorized,
    SendThrottled,
)
from ses_email_pipeline.handlers.sending.ses import OutgoingEmail, SesSender, classify
from ses_email_pipeline.handlers.shared.settings import Settings
from tests.handlers.fakes import client_error, json_response

ACCOUNT = {"SendQuota": {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 0.0}, "SendingEnabled": True}


def templated_email(**changes: Any) -> OutgoingEmail:
    fields: dict[str, Any] = {
        "to": ("a@example.com",), "lane": "normal", "template_label": "notification-v1",
        "template_name": "email-test-notification-v1", "template_data": {"subject": "Hi", "title": "T"},
    }
    fields.update(changes)
    return OutgoingEmail(**fields)


@pytest.fixture
def stubbed(make_settings: Callable[..., Settings]) -> tuple[SesSender, Stubber]:
    client = aws.create_ses_client("eu-west-1")
    stubber = Stubber(client)
    stubber.activate()
    sender = SesSender(make_settings(), client)
    return sender, stubber


def test_templated_send_request_matches_the_sesv2_model(stubbed: tuple[SesSender, Stubber]) -> None:
    sender, stubber = stubbed
    expected = {
        "FromEmailAddress": "Notifications <no-reply@mail.example.com>",
        "Destination": {"ToAddresses": ["a@example.com"], "CcAddresses": ["c@example.com"],
                        "BccAddresses": ["b@example.com"]},
        "ReplyToAddresses": ["r@example.com"],
        "ConfigurationSetName": "email-test",
        "Content": {"Template": {
            "TemplateName": "email-test-notification-v1",
            "TemplateData": '{"subject":"Hi","title":"T"}',
            "Headers": [{"Name": "Importance", "Value": "high"}],
        }},
        "EmailTags": [{"Name": "campaign", "Value": "spring"}, {"Name": "lane", "Value": "normal"},
                      {"Name": "template", "Value": "notification-v1"}, {"Name": "stack", "Value": "test"},
                      {"Name": "event_id", "Value": "e-1"}, {"Name": "correlation_id", "Value": "order-1042"}],
    }
    stubber.add_response("send_email", {"MessageId": "m-1"}, expected)
    email = templated_email(cc=("c@example.com",), bcc=("b@example.com",), reply_to=("r@example.com",),
                            headers={"Importance": "high"}, tags={"campaign": "spring"},
                            correlation={"event_id": "e-1", "correlation_id": "order-1042"})
    assert sender.send(email) == "m-1"
    stubber.assert_no_pending_responses()


def test_subscribed_mail_names_its_contact_list_and_topic_to_ses(stubbed: tuple[SesSender, Stubber]) -> None:
    """With both set, SES adds its unsubscribe headers and skips a contact who left the topic."""
    sender, stubber = stubbed
    expected = {**sender.request_for(templated_email()),
                "ListManagementOptions": {"ContactListName": "email-test-contacts", "TopicName": "newsletter"}}
    stubber.add_response("send_email", {"MessageId": "m-1"}, expected)  # checked against the sesv2 model
    assert sender.send(templated_email(contact_list="email-test-contacts", topic="newsletter")) == "m-1"
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize("half", [{"contact_list": "email-test-contacts"}, {"topic": "newsletter"}])
def test_a_contact_list_or_topic_alone_sends_without_list_management(
        stubbed: tuple[SesSender, Stubber], half: dict[str, str]) -> None:
    sender, stubber = stubbed
    stubber.add_response("send_email", {"MessageId": "m-1"}, sender.request_for(templated_email()))
    assert sender.send(templated_email(**half)) == "m-1"
    stubber.assert_no_pending_responses()


def test_simple_content_send_request(stubbed: tuple[SesSender, Stubber]) -> None:
    sender, stubber = stubbed
    stubber.add_response("send_email", {"MessageId": "m-2"}, {
        "FromEmailAddress": "Notifications <no-reply@mail.example.com>",
        "Destination": {"ToAddresses": ["a@example.com"]},
        "ConfigurationSetName": "email-test",
        "Content": {"Simple": {"Subject": {"Data": "S", "Charset": "UTF-8"},
                               "Body": {"Text": {"Data": "t", "Charset": "UTF-8"},
                                        "Html": {"Data": "<p>h</p>", "Charset": "UTF-8"}}}},
        "EmailTags": [{"Name": "lane", "Value": "report"}, {"Name": "template", "Value": "none"},
                      {"Name": "stack", "Value": "test"}],
    })
    email = OutgoingEmail(to=("a@example.com",), lane="report", template_label="", subject="S", text="t",
                          html="<p>h</p>")
    assert sender.send(email) == "m-2"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (client_error("TooManyRequestsException", 429), SendThrottled),
        (client_error("ThrottlingException", 400), SendThrottled),
        (client_error("InternalFailure", 500), OutcomeUnknown),
        (client_error("ServiceUnavailable", 503), RetryableSendError),
        (ConnectTimeoutError(endpoint_url="https://email"), RetryableSendError),
        (ReadTimeoutError(endpoint_url="https://email"), OutcomeUnknown),
        (ConnectionClosedError(endpoint_url="https://email"), OutcomeUnknown),
        (EndpointConnectionError(endpoint_url="https://email"), RetryableSendError),
        (client_error("MessageRejected"), PermanentSendError),
        (client_error("MailFromDomainNotVerifiedException"), SendingNotAuthorized),
        (client_error("AccessDeniedException", 403), SendingNotAuthorized),
        (client_error("NotFoundException", 404), PermanentSendError),
        (client_error("BadRequestException"), PermanentSendError),
        (ParamValidationError(report="Invalid address"), PermanentSendError),
        (client_error("SendingPausedException"), SendingHalted),
        (client_error("AccountSuspendedException"), SendingHalted),
        (client_error("LimitExceededException"), DailyQuotaExhausted),
    ],
)
def test_every_failure_is_sorted_by_what_happens_next(error: Exception, kind: type[Exception]) -> None:
    classified = classify(error)  # type: ignore[arg-type]
    assert type(classified) is kind
    assert "victim@example.com" not in str(classified)


def _count_attempts(settings: Settings, code: str, status: int) -> int:
    """Send through `SesSender` and a real client whose HTTP layer answers every attempt with an error."""
    client = aws.create_ses_client("eu-west-1")
    attempts = []

    def respond(request: Any, **_: Any) -> AWSResponse:
        attempts.append(request)
        return json_response(request, status, {"message": "x"}, code)

    client.meta.events.register("before-send.sesv2.SendEmail", respond)
    with pytest.raises(EmailError):
        SesSender(settings, client, sleep=lambda seconds: None).send(templated_email())
    return len(attempts)


@pytest.mark.parametrize(("code", "status", "attempts"), [
    ("LimitExceededException", 400, 1),  # frees up only as the 24-hour window rolls on
    ("TooManyRequestsException", 429, 1),  # the lane retries it, at a slot it books
    ("InternalFailure", 500, 1),  # SES may have accepted it: never retried blindly
    ("ServiceUnavailable", 503, 2),  # refused unread: one retry in the call
])
def test_only_a_send_ses_cannot_have_acted_on_is_retried_in_the_call(
    make_settings: Callable[..., Settings], code: str, status: int, attempts: int,
) -> None:
    assert _count_attempts(make_settings(), code, status) == attempts


def test_the_client_itself_never_retries_whatever_botocore_reads_a_hook_answer_as() -> None:
    """Older botocores took a needs-retry hook's False for "retry now": retrying is not left to one."""
    assert aws.create_ses_client("eu-west-1").meta.config.retries["total_max_attempts"] == 1


def test_account_rate_is_read_once_then_again_after_its_max_age(make_settings: Callable[..., Settings]) -> None:
    """A raised MaxSendRate reaches pacing within RATE_MAX_AGE_SECONDS, without a deploy."""
    rates = [14.0, 50.0]
    calls = []

    class Client:
        def get_account(self) -> dict[str, Any]:
            calls.append(1)
            return {"SendQuota": {"MaxSendRate": rates[len(calls) - 1]}, "SendingEnabled": True}

    now = [0.0]
    sender = SesSender(make_settings(), Client(), clock=lambda: now[0])
    assert [sender.send_rate() for _ in range(3)] == [14.0, 14.0, 14.0]
    now[0] += ses.RATE_MAX_AGE_SECONDS
    assert sender.send_rate() == 50.0
    assert len(calls) == 2


def test_configured_rate_is_the_fallback_when_get_account_fails(make_settings: Callable[..., Settings]) -> None:
    class Client:
        def get_account(self) -> dict[str, Any]:
            raise client_error("InternalFailure", 500, "GetAccount")

    sender = SesSender(make_settings(account_send_rate=14.0), Client())
    with log.capture() as logs:
        assert sender.send_rate() == 14.0
        assert sender.send_rate() == 14.0
    assert [line["event"] for line in logs] == ["account_limits_unavailable"]  # tried again only after the max age


def test_tag_values_are_made_safe_for_ses() -> None:
    assert ses._tag_safe("order receipt/v1") == "order-receipt-v1"
    assert ses._tag_safe("") == "none"


def _client_without_headers(tmp_path: Any) -> Any:
    """A real SES v2 client built from botocore's model as it was before 1.34.56 (no `Headers`)."""
    import gzip
    import json as _json

    import botocore
    import botocore.session

    models = Path(botocore.__file__).parent / "data" / "sesv2"
    [version_dir] = [d for d in models.iterdir() if d.is_dir()]
    model = _json.loads(gzip.decompress((version_dir / "service-2.json.gz").read_bytes()))
    for shape in ("Template", "Message"):
        model["shapes"][shape]["members"].pop("Headers", None)
    target = tmp_path / "sesv2" / version_dir.name
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(_json.dumps(model))
    for extra in version_dir.iterdir():
        if not extra.name.startswith("service-2.json"):
            (target / extra.name).write_bytes(extra.read_bytes())
    session = botocore.session.get_session()
    session.set_config_variable("data_path", str(tmp_path))
    return session.create_client("sesv2", region_name="eu-west-1")


def test_headers_are_dropped_with_a_warning_when_the_runtimes_botocore_cannot_send_them(
    make_settings: Callable[..., Settings], tmp_path: Any
) -> None:
    client = _client_without_headers(tmp_path)
    stubber = Stubber(client)
    expected = {
        "FromEmailAddress": "Notifications <no-reply@mail.example.com>",
        "Destination": {"ToAddresses": ["a@example.com"]},
        "ConfigurationSetName": "email-test",
        "Content": {"Template": {"TemplateName": "email-test-notification-v1",
                                 "TemplateData": '{"subject":"Hi","title":"T"}'}},
        "EmailTags": [{"Name": "lane", "Value": "normal"}, {"Name": "template", "Value": "notification-v1"},
                      {"Name": "stack", "Value": "test"}],
    }
    for _ in range(2):
        stubber.add_response("send_email", {"MessageId": "m-3"}, expected)  # validated against the old model
    stubber.activate()
    sender = SesSender(make_settings(), client)
    with log.capture() as logs:
        for _ in range(2):
            assert sender.send(templated_email(headers={"Importance": "high"})) == "m-3"
    stubber.assert_no_pending_responses()
    assert [line["event"] for line in logs].count("ses_headers_unsupported") == 1  # once per container


def test_the_bundled_botocore_sends_headers(make_settings: Callable[..., Settings]) -> None:
    """The project's own pin (and any botocore from 1.34.56 on) knows `Content.Template.Headers`."""
    sender = SesSender(make_settings(), aws.create_ses_client("eu-west-1"))
    request = sender.request_for(templated_email(headers={"Importance": "high"}))
    assert request["Content"]["Template"]["Headers"] == [{"Name": "Importance", "Value": "high"}]
