"""Every send carries what ties SES's later events back to its pipeline event, as SES tags."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from ses_email_pipeline.handlers.shared import correlation, hashing
from ses_email_pipeline.handlers.shared.settings import Settings
from tests.conftest import HASH_KEY, load_event
from tests.handlers.test_lane import event
from tests.handlers.harness import LaneHarness

SES_TAG_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # botocore's sesv2 model, MessageTag.Value


@pytest.mark.parametrize("text", ["shop.orders", "custom.application", "a_b", "büro.events", "x-y-z"])
def test_a_source_survives_ses_tag_rules_and_comes_back_unchanged(text: str) -> None:
    encoded = correlation.encode_tag_value(text)
    assert encoded is not None and SES_TAG_VALUE.match(encoded)
    assert correlation.decode_tag_value(encoded) == text


def test_a_value_too_long_for_a_tag_is_left_out_rather_than_cut() -> None:
    assert correlation.encode_tag_value("." * 86) is None  # 86 x 3 characters > 256
    with pytest.raises(ValueError):
        correlation.decode_tag_value("shop_2")


def sent_tags(lane: LaneHarness) -> dict[str, str]:
    [request] = lane.ses.sent
    return {tag["Name"]: tag["Value"] for tag in request["EmailTags"]}


def test_a_send_carries_its_event_source_key_hash_and_the_producers_correlation_id(
    harness: Callable[..., LaneHarness],
) -> None:
    lane = harness()
    sample = event(idempotencyKey="order-1042-receipt", correlationId="checkout_7f3a")
    sample["source"] = "shop.orders"
    lane.enqueue(sample)
    lane.run(lane.receive())
    tags = sent_tags(lane)
    assert tags["event_id"] == sample["id"]
    assert correlation.decode_tag_value(tags["source"]) == "shop.orders"
    assert tags["correlation_id"] == "checkout_7f3a"
    assert tags["key_hash"] == hashing.key_hash("order-1042-receipt", HASH_KEY.encode())
    assert all(SES_TAG_VALUE.match(value) for value in tags.values())


def test_the_key_hash_is_keyed_by_the_stack_so_a_key_with_an_address_cannot_be_guessed() -> None:
    key = "reset-password:someone@example.com"
    assert hashing.key_hash(key, b"stack-a") != hashing.key_hash(key, b"stack-b")
    assert "someone" not in hashing.key_hash(key, b"stack-a")


def test_without_a_correlation_id_the_tag_is_absent(harness: Callable[..., LaneHarness]) -> None:
    lane = harness()
    lane.enqueue(event())
    lane.run(lane.receive())
    assert "correlation_id" not in sent_tags(lane)


@pytest.fixture
def harness(aws: object, make_settings: Callable[..., Settings]) -> Callable[..., LaneHarness]:
    from ses_email_pipeline.handlers import templated
    from tests.handlers.fakes import FakeSes

    def build(**overrides: object) -> LaneHarness:
        return LaneHarness.build(aws, make_settings(aws, **overrides), templated.compose, FakeSes())  # type: ignore[arg-type]
    return build
