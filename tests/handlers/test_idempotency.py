"""The idempotency store: one send per key, an unfinished claim is an unknown outcome, store failures are safe."""

from __future__ import annotations

from typing import Any

import pytest

from ses_email_pipeline.handlers import log
from ses_email_pipeline.handlers.errors import DependencyUnavailable, OutcomeUnknown, RetryableSendError
from ses_email_pipeline.handlers.idempotency.once_only import OnceOnly
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
    with pytest.raises(DependencyUnavailable, match="in progress"):
        first.run("k", lambda: second.run("k", lambda: "never"))


def crash_holding_the_claim(aws: Lanes, clock: Clock) -> None:
    crashed = once(aws, clock)
    with pytest.raises(KeyboardInterrupt):  # a crash the claim cannot clean up after
        crashed.run("k", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))


def test_a_claim_left_by_a_crashed_invocation_is_never_silently_sent_again(aws: Lanes) -> None:
    clock = Clock()
    crash_holding_the_claim(aws, clock)
    with pytest.raises(DependencyUnavailable, match="in progress"):
        once(aws, clock).run("k", lambda: "too early")
    clock.now += 31  # the crashed invocation's remaining time has passed
    with pytest.raises(OutcomeUnknown) as unknown:
        once(aws, clock).run("k", lambda: "never")
    assert unknown.value.cause == "claim_never_completed"
    clock.now += 1800  # redelivered much later, within the TTL: still unknown, never expired
    with pytest.raises(OutcomeUnknown):
        once(aws, clock).run("k", lambda: "never")


def test_an_at_least_once_caller_takes_over_an_unfinished_claim_and_counts_it(aws: Lanes) -> None:
    clock = Clock()
    crash_holding_the_claim(aws, clock)
    clock.now += 31
    with log.capture() as logs:
        assert once(aws, clock).run("k", lambda: "m-2", resend_unknown=True) == "m-2"
    assert [(line["event"], line["decision"]) for line in logs if "decision" in line] == [
        ("email_outcome_unknown", "resend")]
    assert once(aws, clock).run("k", lambda: "m-3") == "m-2"  # and it is completed now


def test_a_typed_failure_that_proves_nothing_was_sent_releases_the_key(aws: Lanes) -> None:
    clock = Clock()
    guard = once(aws, clock)
    with pytest.raises(RetryableSendError):
        guard.run("k", lambda: (_ for _ in ()).throw(RetryableSendError("throttled", code="Throttling")))
    assert guard.run("k", lambda: "m-1") == "m-1"


def test_an_unforeseen_error_in_the_action_leaves_the_outcome_unknown(aws: Lanes) -> None:
    clock = Clock()
    guard = once(aws, clock)
    with pytest.raises(OutcomeUnknown) as unknown:
        guard.run("k", lambda: (_ for _ in ()).throw(KeyError("MessageId")))
    assert unknown.value.cause == "unexpected_error"
    with pytest.raises(OutcomeUnknown) as again:
        guard.run("k", lambda: "never")
    assert again.value.cause == "earlier_attempt_unanswered"


def test_a_completion_that_cannot_be_recorded_reads_as_unknown_when_the_event_returns(aws: Lanes) -> None:
    """The email went out; its record did not. A later delivery must not send it blindly."""
    clock = Clock()
    failing = Recording(aws.dynamodb, fail={"update_item"})
    assert once(aws, clock, failing).run("k", lambda: "m-1") == "m-1"
    clock.now += 31
    with pytest.raises(OutcomeUnknown):
        once(aws, clock).run("k", lambda: "never")


def test_an_expired_record_no_longer_blocks(aws: Lanes) -> None:
    clock = Clock()
    once(aws, clock, ttl=60).run("k", lambda: "m-1")
    clock.now += 61  # DynamoDB's TTL deletes lazily: the condition must not trust presence alone
    assert once(aws, clock, ttl=60).run("k", lambda: "m-2") == "m-2"


def test_a_send_whose_record_cannot_be_saved_is_still_reported_sent(aws: Lanes) -> None:
    clock = Clock()
    failing = Recording(aws.dynamodb, fail={"update_item"})
    with log.capture() as logs:
        assert once(aws, clock, failing).run("k", lambda: "m-1") == "m-1"
    assert "idempotency_record_not_saved" in [line["event"] for line in logs]


def test_a_store_that_cannot_claim_keeps_the_message_for_later(aws: Lanes) -> None:
    failing = Recording(aws.dynamodb, fail={"put_item"})
    with pytest.raises(DependencyUnavailable, match="idempotency store unavailable"):
        once(aws, Clock(), failing).run("k", lambda: "never")


def test_keys_are_stored_hashed(aws: Lanes) -> None:
    once(aws, Clock()).run("reset-alice@example.com", lambda: "m-1")
    [item] = aws.dynamodb.scan(TableName=aws.table)["Items"]
    assert "alice" not in item["id"]["S"] and item["id"]["S"].startswith("test.normal#")


# --- a batch records its sends in one write ---------------------------------------------------------


def test_a_batch_records_every_send_in_one_write_and_its_duplicates_are_skipped(aws: Lanes) -> None:
    clock, calls = Clock(), []
    recording = Recording(aws.dynamodb)
    guard = once(aws, clock, recording)
    with guard.batch():
        results = [guard.run(f"k{index}", lambda index=index: calls.append(index) or f"m-{index}")
                   for index in range(10)]
    writes = [name for name, _ in recording.calls if name in ("put_item", "update_item", "delete_item")]
    assert writes == ["put_item"] * 11  # ten claims, one record: not twenty writes
    # A duplicate delivery, even while the batch's claims are still leased, gets the stored id.
    assert [once(aws, clock).run(f"k{index}", lambda: "never") for index in range(10)] == results
    assert calls == list(range(10))


def test_a_batch_record_lists_only_what_the_batch_sent(aws: Lanes) -> None:
    clock = Clock()
    guard = once(aws, clock)
    with guard.batch():
        guard.run("sent", lambda: "m-1")
        with pytest.raises(KeyboardInterrupt):  # the invocation died mid-send, holding the claim
            guard.run("died", lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    clock.now += 31  # past the claim's lease
    assert once(aws, clock).run("sent", lambda: "never") == "m-1"
    with pytest.raises(OutcomeUnknown) as unknown:
        once(aws, clock).run("died", lambda: "never")
    assert unknown.value.cause == "claim_never_completed"
