"""The event contract's `detail.topic`: subscribed mail on the stack's topics, transactional mail without."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ses_email_pipeline.handlers.errors import InvalidEvent
from ses_email_pipeline.handlers.sending.contract import check_topic, parse_event, resolve_template
from ses_email_pipeline.handlers.shared.catalog import Catalog, from_json, to_json
from ses_email_pipeline.handlers.shared.settings import Env, Settings
from ses_email_pipeline.handlers.shared.topics import encode
from ses_email_pipeline.template_files import deployed_catalog, discover
from tests.handlers.test_contract import with_config, with_detail

TOPICS = {"digest": (), "offers": ("shop.marketing",)}


def refusal(raw: str, topics: dict[str, tuple[str, ...]] = TOPICS) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        check_topic(parse_event(raw), topics)
    return caught.value


def test_an_event_without_a_topic_is_transactional_whatever_the_stack_declares() -> None:
    request = parse_event(with_detail())
    assert request.topic is None
    check_topic(request, TOPICS)


def test_a_topic_any_source_may_use_is_accepted() -> None:
    request = parse_event(with_detail(topic="digest"))
    check_topic(request, TOPICS)
    assert request.topic == "digest"


@pytest.mark.parametrize(("raw", "field", "rule"), [
    (with_detail(topic="gossip"), "detail.topic", "not a topic of this stack (topics: digest, offers)"),
    (with_detail(topic="offers"), "detail.topic", "this event's source may not send to the topic"),
    (with_config(cc=["b@example.com"]).replace('"detail": {', '"detail": {"topic": "digest", ', 1),
     "detail.emailConfig", "a send with a topic goes to exactly one recipient"),
])
def test_a_topic_send_the_stack_does_not_allow_is_refused_with_field_and_rule(raw: str, field: str, rule: str) -> None:
    refused = refusal(raw)
    assert refused.field == field and rule in refused.reason


@pytest.mark.parametrize("value", [7, "", "two words", "x" * 65])
def test_a_malformed_topic_is_refused_without_quoting_it(value: Any) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(with_detail(topic=value))
    assert caught.value.field == "detail.topic" and "two words" not in caught.value.reason


def test_a_stack_without_topics_says_so() -> None:
    assert "the stack declares no topics" in refusal(with_detail(topic="digest"), {}).reason


def test_the_lanes_read_the_topics_the_program_writes() -> None:
    settings = Settings.from_environ({Env.STACK: "s", Env.SENDER: "a@example.com", Env.CONFIGURATION_SET: "c",
                                      Env.RECIPIENT_HASH_KEY: "k", Env.CONTACT_LIST: "email-pipeline",
                                      Env.TOPICS: encode(TOPICS)})
    assert (settings.contact_list, settings.topics) == ("email-pipeline", TOPICS)


class TestUnsubscribeLink:
    """SES fills `{{amazonSESUnsubscribeUrl}}` in a topic send; the data never does."""

    @pytest.fixture
    def newsletter(self, tmp_path: Path) -> Catalog:
        folder = tmp_path / "newsletter" / "v1"
        folder.mkdir(parents=True)
        (folder / "subject.txt").write_text("This week")
        (folder / "body.html").write_text('<p>{{headline}}</p><a href="{{amazonSESUnsubscribeUrl}}">Unsubscribe</a>')
        (folder / "body.txt").write_text("{{headline}}\nUnsubscribe: {{amazonSESUnsubscribeUrl}}")
        return from_json(to_json(deployed_catalog(discover(tmp_path), "email-test")))

    def resolve(self, catalog: Catalog, **detail: Any) -> Any:
        return resolve_template(parse_event(with_detail(template="newsletter", **detail)), catalog, "notification")

    def test_a_topic_send_needs_only_its_own_data(self, newsletter: Catalog) -> None:
        resolved = self.resolve(newsletter, topic="digest", templateData={"headline": "News"})
        assert "amazonSESUnsubscribeUrl" not in resolved.data

    def test_without_a_topic_the_link_has_nothing_to_point_to(self, newsletter: Catalog) -> None:
        with pytest.raises(InvalidEvent, match="only a send with a topic has") as caught:
            self.resolve(newsletter, templateData={"headline": "News"})
        assert caught.value.field == "detail.topic"

    def test_the_data_may_not_fill_ses_placeholder(self, newsletter: Catalog) -> None:
        with pytest.raises(InvalidEvent) as caught:
            self.resolve(newsletter, topic="digest",
                         templateData={"headline": "News", "amazonSESUnsubscribeUrl": "https://evil.example"})
        assert caught.value.field == "detail.templateData.amazonSESUnsubscribeUrl"
