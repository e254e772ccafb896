"""Stack files are refused offline exactly as `pulumi up` refuses them (local/stack_files.py)."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import local.program
from local import __main__ as cli
from local.stack_files import StackConfigError, load_stack_config, validate_stack_config

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILE = ROOT / "Pulumi.yaml"

Check = Callable[..., None]


@pytest.fixture
def check(tmp_path: Path) -> Check:
    """Validate a small project (`config:` of Pulumi.yaml) and stack (`config:` of Pulumi.test.yaml)."""

    def run(project_config: str, stack_config: str = "", *, stack: str = "test") -> None:
        (tmp_path / "Pulumi.yaml").write_text(
            "name: proj\nruntime: python\nconfig:\n" + textwrap.indent(textwrap.dedent(project_config), "  "))
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(
            "config:\n" + textwrap.indent(textwrap.dedent(stack_config), "  ") if stack_config else "")
        validate_stack_config(tmp_path / "Pulumi.yaml", tmp_path / f"Pulumi.{stack}.yaml", stack)

    return run


def refusal(check: Check, *args: str) -> str:
    with pytest.raises(StackConfigError) as refused:
        check(*args)
    return str(refused.value)


# --- the committed files -----------------------------------------------------------------------


def test_committed_dev_stack_passes() -> None:
    validate_stack_config(PROJECT_FILE, ROOT / "Pulumi.dev.yaml", "dev")


def test_committed_prod_stack_is_refused_for_its_required_values_as_pulumi_up_would() -> None:
    """Pulumi.prod.yaml is all comments: an empty config lacks the keys declared without a default."""
    with pytest.raises(StackConfigError) as refused:
        validate_stack_config(PROJECT_FILE, ROOT / "Pulumi.prod.yaml", "prod")
    assert str(refused.value) == "Stack 'prod' is missing configuration values 'alarmEmail', 'identity' and 'sender'"


def test_committed_prod_example_passes_once_uncommented(tmp_path: Path) -> None:
    lines = (ROOT / "Pulumi.prod.yaml").read_text().splitlines()
    example = lines[next(i for i, line in enumerate(lines) if line.startswith("# config:")):]
    (tmp_path / "Pulumi.prod.yaml").write_text("\n".join(line.removeprefix("# ") for line in example))
    validate_stack_config(PROJECT_FILE, tmp_path / "Pulumi.prod.yaml", "prod")


def test_no_committed_stack_file_holds_a_plaintext_value_for_a_key_read_as_secret() -> None:
    program = (ROOT / "__main__.py").read_text()
    secret_keys = set(re.findall(r"\.(?:get|require)_secret\w*\(\s*[\"']([^\"']+)[\"']", program))
    assert "recipientHashKey" in secret_keys
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        config = load_stack_config(stack_file, "email-pipeline")
        for key in secret_keys:
            value = config.get(f"email-pipeline:{key}")
            assert value is None or value.secure, f"{stack_file.name}: {key} is plaintext; use `pulumi config set --secret`"


# --- secrets -----------------------------------------------------------------------------------


def test_plaintext_value_for_a_secret_key_is_refused(check: Check) -> None:
    message = refusal(check, "apiKey: {type: string, secret: true}", "proj:apiKey: hunter2")
    assert message == "Stack 'test' with configuration key 'apiKey' must be encrypted as it's secret"


def test_secure_value_for_a_secret_key_passes(check: Check) -> None:
    check("apiKey: {type: string, secret: true}", "proj:apiKey: {secure: v1:AAAA:BBBB}")


def test_list_holding_a_secure_value_counts_as_encrypted(check: Check) -> None:
    check("apiKeys: {type: array, items: {type: string}, secret: true}", "proj:apiKeys: [{secure: v1:AAAA}]")


def test_secret_key_with_a_default_is_refused_as_a_default_is_never_encrypted(check: Check) -> None:
    message = refusal(check, "apiKey: {type: string, secret: true, default: x}")
    assert message == "Stack 'test' with configuration key 'apiKey' must be encrypted as it's secret"


# --- required keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(("keys", "expected"), [
    (["a"], "Stack 'test' is missing configuration value 'a'"),
    (["b", "a"], "Stack 'test' is missing configuration values 'a' and 'b'"),
    (["c", "a", "b"], "Stack 'test' is missing configuration values 'a', 'b' and 'c'"),
])
def test_missing_required_keys_are_named_together_in_sorted_order(check: Check, keys: list[str], expected: str) -> None:
    declarations = "".join(f"{key}: {{type: string}}\n" for key in keys)
    assert refusal(check, declarations + "given: {type: string}", "proj:given: x") == expected


def test_missing_keys_are_reported_before_a_wrongly_typed_one(check: Check) -> None:
    message = refusal(check, "a: {type: string}\nb: {type: integer}", "proj:b: x")
    assert message == "Stack 'test' is missing configuration value 'a'"


def test_stack_key_without_a_namespace_is_the_projects(check: Check) -> None:
    check("a: {type: string}", "a: x")


# --- types -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["3", '"3"', "-3", "3.0"])
def test_integer_accepts_whole_numbers(check: Check, value: str) -> None:
    check("n: {type: integer}", f"proj:n: {value}")


@pytest.mark.parametrize("value", ["3.5", "x", "1e6"])
def test_integer_refuses_anything_else(check: Check, value: str) -> None:
    assert refusal(check, "n: {type: integer}", f"proj:n: {value}") == (
        "Stack 'test' with configuration key 'n' must be of type 'integer'")


def test_boolean_refuses_yes_which_the_cli_reads_as_a_string(check: Check) -> None:
    assert refusal(check, "enabled: {type: boolean}", "proj:enabled: yes") == (
        "Stack 'test' with configuration key 'enabled' must be of type 'boolean'")


def test_boolean_accepts_true(check: Check) -> None:
    check("enabled: {type: boolean}", "proj:enabled: true")


def test_array_of_strings_accepts_strings(check: Check) -> None:
    check("names: {type: array, items: {type: string}}", "proj:names: [a, b]")


def test_array_of_strings_refuses_a_number_element(check: Check) -> None:
    assert refusal(check, "names: {type: array, items: {type: string}}", "proj:names: [a, 3]") == (
        "Stack 'test' with configuration key 'names' must be of type 'array<string>'")


def test_untyped_declaration_is_not_checked(check: Check) -> None:
    check("shares: {description: anything goes}", "proj:shares: {normal: 0.7}")


# --- Pulumi.yaml -------------------------------------------------------------------------------


def test_default_of_the_wrong_type_is_refused(check: Check) -> None:
    assert refusal(check, "n: {type: integer, default: many}") == (
        "could not unmarshal 'Pulumi.yaml': The default value specified for configuration key 'n' "
        "is not of the expected type 'integer'")


def test_non_project_key_with_a_type_is_refused(check: Check) -> None:
    assert refusal(check, "aws:region: {type: string, value: eu-west-1}") == (
        "could not unmarshal 'Pulumi.yaml': Configuration key 'aws:region' is not namespaced by the project "
        "and should not define a type")


def test_non_project_key_shorthand_is_a_value(check: Check) -> None:
    check("aws:region: eu-west-1")


def test_unknown_attribute_is_refused_by_the_schema(check: Check) -> None:
    assert refusal(check, "n: {typ: integer}") == (
        "could not validate 'Pulumi.yaml': #/config/n: additionalProperties 'typ' not allowed; did you mean 'type'?")


def test_array_without_items_is_refused_by_the_schema(check: Check) -> None:
    assert refusal(check, "names: {type: array}") == (
        "could not validate 'Pulumi.yaml': #/config/names: missing properties: \"items\"")


# --- where the local run meets it --------------------------------------------------------------


@pytest.fixture
def bad_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the project whose stack `bad` holds a word where an integer belongs."""
    (tmp_path / "Pulumi.yaml").write_text(PROJECT_FILE.read_text())
    (tmp_path / "Pulumi.bad.yaml").write_text((ROOT / "Pulumi.dev.yaml").read_text()
                                              + "  email-pipeline:maxReceiveCount: eight\n")
    monkeypatch.setattr(local.program, "ROOT", tmp_path)
    return "bad"


def test_run_stack_refuses_the_file_it_reads_before_running_the_program(bad_stack: str) -> None:
    with pytest.raises(StackConfigError, match="Stack 'staging' with configuration key 'maxReceiveCount'"):
        local.program.run_stack("staging", config_from=bad_stack)


def test_cli_prints_one_line_and_exits_2_on_a_refused_config(
        bad_stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)  # LocalSystem.start sets them; put them back afterwards
    events = tmp_path / "events.json"
    events.write_text(json.dumps([]))

    status = cli.main(["send", str(events), "--stack", bad_stack])

    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: validating stack config: Stack 'bad' with configuration key 'maxReceiveCount' "
                          "must be of type 'integer'; fix maxReceiveCount in Pulumi.bad.yaml")
