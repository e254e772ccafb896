"""Config keys the program would ignore are refused, each with the key it most likely means."""

from __future__ import annotations

import pytest

from ses_email_pipeline.config_keys import key_problems

SETTINGS = ("accountSendRate", "logRetentionDays", "routes", "production", "sender", "recipientHashKey")


def check(*keys: str) -> list[str]:
    return key_problems(keys, project="email-pipeline", settings=SETTINGS, namespaces=("aws", "random", "pulumi"))


@pytest.mark.parametrize(
    ("key", "meant"),
    [("email-pipeline:acountSendRate", "email-pipeline:accountSendRate"),
     ("email-pipeline:logRetentionDay", "email-pipeline:logRetentionDays"),
     ("email-pipeline:route", "email-pipeline:routes")],
)
def test_an_undeclared_key_of_the_project_names_the_closest_setting(key: str, meant: str) -> None:
    assert check(key) == [f"{key}: no such setting; did you mean {meant}?"]


def test_a_misspelt_namespace_names_the_projects_key() -> None:
    assert check("emailpipeline:production") == [
        "emailpipeline:production: 'emailpipeline' is not this project's namespace ('email-pipeline'), so nothing "
        "reads it; did you mean email-pipeline:production?"]


def test_the_providers_and_the_engines_keys_and_other_namespaces_are_theirs() -> None:
    """`aws:region` is the AWS provider's to check; a shared ESC environment may set `gcp:project`."""
    assert check("aws:region", "aws:defaultTags", "pulumi:template", "gcp:project", "email-pipeline:sender") == []


def test_a_key_like_no_setting_says_to_remove_it() -> None:
    [problem] = check("email-pipeline:colour")
    assert problem.startswith("email-pipeline:colour: no such setting; remove it")


def test_every_unknown_key_is_reported_at_once_in_the_order_given() -> None:
    found = check("email-pipeline:acountSendRate", "aws:region", "email-pipeline:route")
    assert [problem.split(":")[1] for problem in found] == ["acountSendRate", "route"]
