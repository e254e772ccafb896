"""The idempotency store: one send per key, a crashed claim is taken over, store failures are safe."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from handlers.errors import RetryableSendError
from handlers.idempotency import OnceOnly
from tests.conftest import FakeContext, Lanes
from tests.handlers.fakes import Recording


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def once(aws: Lanes, clock: Clock, client: Any | None = None, ttl: int = 3600) -> OnceOnly:
    guard = OnceOnly(aws.table, ttl, "test.normal", client or aws.dynamodb, clock=clock)
    guard.register_lambda_context(FakeContext(remaining_ms=30_000))
    return guard


def test_a_completed_key_returns_the_stored_result_without_running(aws: Lanes) -> None:
    clock, calls = Clock(), []
    guard = once(aws, clock)
    assert guard.run("k", lambda: calls.append(1) or "m-1") == "m-1"
    assert guard.run("k", lambda: calls.append(1) or "m-2") == "m-1"
    assert calls == [1]


def test_a_claim_in_progress_elsewhere_is_retried_later(aws: Lanes) -> None:
    clock = Clock()
    first, second = once(aws, clock), once(aws, clock)
    with pytest.raises(RetryableSendError, match="in progress"):
        first.run("k", lambda: second.run("k", lambda: "never"))


def test_a_claim_left_by_a_crashed_invocation_is_taken_over_when_its_time_is_up(aws: Lanes) -> None:
    clock = Clock()
    crashed = once(aws, clock)
    with pytest.raises(KeyboardInterrupt):  # a crash the claim cannot clean up after
        crashed.run("k", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(RetryableSendError):
        once(aws, clock).run("k", lambda: "too early")
    clock.now += 31  # the crashed invocation's remaining time has passed
    assert once(aws, clock).run("k", lambda: "m-2") == "m-2"


def test_a_failed_action_releases_the_key(aws: Lanes) -> None:
    clock = Clock()
    guard = once(aws, clock)
    with pytest.raises(ValueError):
        guard.run("k", lambda: (_ for _ in ()).throw(ValueError("boom")))
    assert guard.run("k", lambda: "m-1") == "m-1"


def test_an_expired_record_no_longer_blocks(aws: Lanes) -> None:
    clock = Clock()
    once(aws, clock, ttl=60).run("k", lambda: "m-1")
    clock.now += 61  # DynamoDB's TTL deletes lazily: the condition must not trust presence alone
    assert once(aws, clock, ttl=60).run("k", lambda: "m-2") == "m-2"


def test_a_send_whose_record_cannot_be_saved_is_still_reported_sent(aws: Lanes) -> None:
    clock = Clock()
    failing = Recording(aws.dynamodb, fail={"update_item"})
    with capture_logs() as logs:
        assert once(aws, clock, failing).run("k", lambda: "m-1") == "m-1"
    assert "idempotency_record_not_saved" in [line["event"] for line in logs]


def test_a_store_that_cannot_claim_keeps_the_message_for_later(aws: Lanes) -> None:
    failing = Recording(aws.dynamodb, fail={"put_item"})
    with pytest.raises(RetryableSendError, match="idempotency store unavailable"):
        once(aws, Clock(), failing).run("k", lambda: "never")


def test_keys_are_stored_hashed(aws: Lanes) -> None:
    once(aws, Clock()).run("reset-alice@example.com", lambda: "m-1")
    [item] = aws.dynamodb.scan(TableName=aws.table)["Items"]
    assert "alice" not in item["id"]["S"] and item["id"]["S"].startswith("test.normal#")
