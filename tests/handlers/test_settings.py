"""Settings from a function's environment: required variables, defaults declared once, parse errors."""

from __future__ import annotations


import pytest

from ses_email_pipeline.handlers.shared.settings import ConfigurationError, Delivery, Env, Settings

REQUIRED = {Env.STACK: "s", Env.SENDER: "a@example.com", Env.CONFIGURATION_SET: "cs",
            Env.RECIPIENT_HASH_KEY: "k"}


def test_unset_variables_leave_the_fields_declared_defaults() -> None:
    settings = Settings.from_environ(REQUIRED)
    for name, default in Settings._field_defaults.items():
        assert getattr(settings, name) == default, name
    assert set(Settings._fields) - set(Settings._field_defaults) == {
        "stack", "sender", "configuration_set", "recipient_hash_key"}


def test_every_field_is_read_from_a_named_variable() -> None:
    environment = {**REQUIRED, Env.LANE_DELIVERY: "at-least-once", Env.RECIPIENT_ALLOWLIST: "A@Example.com,@Corp.NET",
                   Env.LANE_MAX_CONCURRENCY: "7", Env.ACCOUNT_SEND_RATE: "14.5",
                   Env.REPORT_LANES: '[{"name": "normal", "queueUrl": "q", "deadLetterQueueUrl": "d"}]'}
    settings = Settings.from_environ(environment)
    assert settings.delivery is Delivery.AT_LEAST_ONCE
    assert settings.recipient_allowlist == ("a@example.com", "@corp.net")
    assert (settings.lane_max_concurrency, settings.account_send_rate) == (7, 14.5)
    assert settings.report_lanes[0].dead_letter_queue_url == "d"
    assert settings.recipient_hash_key == b"k"


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_required_variable_is_named(missing: str) -> None:
    with pytest.raises(ConfigurationError, match=missing):
        Settings.from_environ({k: v for k, v in REQUIRED.items() if k != missing})


@pytest.mark.parametrize(("variable", "value"), [(Env.LANE_MAX_CONCURRENCY, "two"),
                                                 (Env.LANE_DELIVERY, "exactly-once"), (Env.TEMPLATES, "{"),
                                                 (Env.LANE_URGENT, "yes")])
def test_a_malformed_value_is_a_configuration_error(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot parse"):
        Settings.from_environ({**REQUIRED, variable: value})
