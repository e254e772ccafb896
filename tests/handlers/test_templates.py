"""Which variables a Handlebars template prints for given data, and the template files on disk."""

from __future__ import annotations

import re

import json
from pathlib import Path
from typing import Any

import pytest

from ses_email_pipeline.handlers.shared.catalog import TemplateVersion, from_json, to_json
from ses_email_pipeline.handlebars import TemplateSyntaxError
from ses_email_pipeline.template_variables import variable_uses
from ses_email_pipeline.template_files import deployed_catalog, discover
from tests.conftest import ROOT


def missing(template: str, data: dict[str, Any]) -> list[str]:
    """What the pre-send check reports missing for this data."""
    return variable_uses(template).missing(data)


@pytest.mark.parametrize(
    ("text", "required"),
    [
        ("Hello {{name}}", ["name"]),
        ("{{{raw_html}}} and {{ spaced }} and {{~trimmed~}}", ["raw_html", "spaced", "trimmed"]),
        ("{{order.id}} {{this.total}}", ["order", "total"]),
    ],
)
def test_a_variable_printed_at_the_top_level_is_required(text: str, required: list[str]) -> None:
    assert missing(text, {}) == required


@pytest.mark.parametrize("text", [
    "{{! a comment }}{{!-- a {{long}} comment --}}",
    "{{^missing}}none{{/missing}}",   # a mustache section: not followed
    "{{formatDate when 'short'}}",    # a helper call
    "{{@index}} {{../up}} {{true}} {{42}} {{> partial}}",
])
def test_comments_helper_calls_sections_and_keywords_are_not_required(text: str) -> None:
    assert missing(text, {}) == []


def test_a_variable_only_inside_if_is_not_required_when_the_condition_is_absent() -> None:
    assert missing("{{#if giftNote}}Note: {{giftNote}}{{/if}}", {}) == []


def test_a_variable_inside_if_is_required_when_the_condition_is_truthy() -> None:
    template = "{{#if hasGift}}Note: {{giftNote}}{{/if}}"
    assert missing(template, {"hasGift": True}) == ["giftNote"]
    assert missing(template, {"hasGift": False}) == []


@pytest.mark.parametrize("falsy", [False, None, "", 0, 0.0, []])
def test_handlebars_falsy_values_skip_an_if_block(falsy: Any) -> None:
    assert missing("{{#if flag}}{{inner}}{{/if}}", {"flag": falsy}) == []


@pytest.mark.parametrize("truthy", [True, "no", 1, -1, [0], {}, {"a": 1}])
def test_other_values_including_an_empty_object_render_an_if_block(truthy: Any) -> None:
    assert missing("{{#if flag}}{{inner}}{{/if}}", {"flag": truthy}) == ["inner"]


def test_include_zero_makes_zero_render_an_if_block() -> None:
    template = "{{#if count includeZero=true}}{{inner}}{{/if}}"
    assert missing(template, {"count": 0}) == ["inner"]
    assert missing(template, {"count": ""}) == []


def test_an_else_branch_is_required_only_when_the_condition_is_falsy() -> None:
    template = "{{#if coupon}}Use {{coupon}}{{else}}Hello {{name}}{{/if}}"
    assert missing(template, {}) == ["name"]
    assert missing(template, {"coupon": "X1"}) == []


def test_an_unless_block_is_required_when_the_condition_is_falsy_and_its_else_when_truthy() -> None:
    template = "{{#unless paid}}Pay {{amount}}{{else}}Receipt {{receipt}}{{/unless}}"
    assert missing(template, {"paid": False}) == ["amount"]
    assert missing(template, {}) == ["amount"]
    assert missing(template, {"paid": True}) == ["receipt"]


def test_nested_ifs_require_every_enclosing_condition() -> None:
    template = "{{#if a}}{{#if b}}{{both}}{{/if}}{{/if}}"
    assert missing(template, {"a": True}) == []
    assert missing(template, {"b": True}) == []
    assert missing(template, {"a": True, "b": True}) == ["both"]


def test_else_if_chains_take_the_first_truthy_branch() -> None:
    template = "{{#if a}}{{x}}{{else if b}}{{y}}{{else}}{{z}}{{/if}}"
    assert missing(template, {"a": 1, "b": 1}) == ["x"]
    assert missing(template, {"b": 1}) == ["y"]
    assert missing(template, {}) == ["z"]


def test_a_condition_on_a_nested_path_reads_that_path() -> None:
    template = "{{#if contact.firstName}}Hello {{contact.firstName}}{{else}}Hello {{greeting}}{{/if}}"
    assert missing(template, {"contact": {"firstName": "Ana"}}) == []
    assert missing(template, {"contact": {}}) == ["greeting"]


def test_a_variable_printed_outside_and_inside_a_block_stays_required() -> None:
    uses = variable_uses("{{#if giftNote}}Note: {{giftNote}}{{/if}} Ref {{giftNote}}")
    assert uses.missing({}) == ["giftNote"]
    assert all(not use.when for use in uses.uses)  # the conditional use adds nothing


def test_each_with_a_missing_list_is_fine_and_its_item_names_are_not_checked() -> None:
    template = "{{#each items}}{{name}} x {{qty}}{{/each}} total {{total}}"
    assert missing(template, {"total": 3}) == []
    assert missing(template, {"total": 3, "items": [{}]}) == []


def test_with_an_absent_argument_is_fine_and_its_names_are_not_checked() -> None:
    assert missing("{{#with address}}{{street}}{{/with}}", {}) == []


@pytest.mark.parametrize(("items", "expected"), [
    (None, ["none"]), ([], ["none"]), ({}, ["none"]), ("text", ["none"]), ([1], []), ({"k": 1}, []),
])
def test_the_else_of_each_is_required_when_there_is_nothing_to_iterate(items: Any, expected: list[str]) -> None:
    assert missing("{{#each items}}{{this}}{{else}}{{none}}{{/each}}", {"items": items}) == expected


@pytest.mark.parametrize(("value", "expected"), [(None, ["none"]), ("", ["none"]), (0, []), ({}, [])])
def test_the_else_of_with_is_required_when_its_argument_is_empty(value: Any, expected: list[str]) -> None:
    assert missing("{{#with v}}{{this}}{{else}}{{none}}{{/with}}", {"v": value}) == expected


def test_null_counts_as_missing() -> None:
    assert missing("{{a}}{{b}}{{c}}", {"a": "x", "b": None}) == ["b", "c"]


def test_the_subject_check_covers_values_printed_from_inside_blocks_and_only_when_printed() -> None:
    uses = variable_uses("{{#each tags}}{{this}}{{/each}} {{#if urgent}}{{flag}}{{/if}}", scoped=True)
    assert uses.printed({}) == set()
    assert uses.printed({"tags": ["a"], "urgent": True}) == {"tags", "flag"}


@pytest.mark.parametrize(("text", "problem"), [
    ("{{#if x}}open", "line 1, column 1: {{#if}} is never closed: add {{/if}}"),
    ("{{#if x}}a{{/each}}", "line 1, column 11: {{/each}} closes {{#if}} (opened at line 1, column 1): close it with "
                            "{{/if}}"),
    ("a {{else}} b", "line 1, column 3: {{else}} outside a block"),
    ("{{#if x}}a{{else}}b{{else}}c{{/if}}", "line 1, column 20: a second {{else}}"),
    ("Hi {{name}!", "line 1, column 4: `{{` is never closed"),
    ("Hi {{{name}}!", "line 1, column 4: `{{{` is closed by `}}`"),
    ("{{#each items}}\n{{qty}}\n{{/if}}", "line 3, column 1: {{/if}} closes {{#each}}"),
])
def test_a_malformed_template_is_refused(text: str, problem: str) -> None:
    with pytest.raises(TemplateSyntaxError, match=re.escape(problem)):
        variable_uses(text)


def test_bundled_templates_are_discovered_with_their_variables() -> None:
    templates = {(t.name, t.version): t for t in discover(ROOT / "templates")}
    notification = templates[("notification", "v1")]
    assert notification.variables.names == {"subject", "title", "message", "timestamp", "source"}
    assert notification.subject_variables.names == {"subject"}
    report = templates[("daily-report", "v1")]
    assert "lanes" not in report.variables.names  # only iterated, never printed
    assert {"date", "stack", "bounce_rate"} <= report.variables.names


def test_incomplete_template_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "welcome" / "v1").mkdir(parents=True)
    (tmp_path / "welcome" / "v1" / "subject.txt").write_text("Hi")
    with pytest.raises(FileNotFoundError, match="body.html, body.txt"):
        discover(tmp_path)


def test_a_template_that_does_not_parse_is_refused_at_deploy_naming_it(tmp_path: Path) -> None:
    write_template(tmp_path, "welcome", subject="Hi", html="{{#if x}}open", text="")
    with pytest.raises(TemplateSyntaxError, match="'welcome' v1 does not parse: .*never closed"):
        deployed_catalog(discover(tmp_path), "email-dev")


def test_deployed_names_carry_the_prefix_and_respect_ses_rules() -> None:
    [template] = [t for t in discover(ROOT / "templates") if t.name == "notification"]
    assert template.deployed_name("email-prod") == "email-prod-notification-v1"
    with pytest.raises(ValueError, match="at most 64"):
        template.deployed_name("x" * 60)
    written = to_json(deployed_catalog([template], "email-dev"))
    assert '"deployedName":"email-dev-notification-v1"' in written
    assert from_json(written) == deployed_catalog([template], "email-dev")  # the reader reads what the writer wrote


def test_the_catalog_carries_the_conditions_of_each_use(tmp_path: Path) -> None:
    write_template(tmp_path, "receipt", subject="Order {{orderId}}",
                   html="{{#if hasGift}}{{giftNote}}{{/if}}{{#unless paid}}{{amount}}{{/unless}}", text="{{orderId}}")
    catalog = deployed_catalog(discover(tmp_path), "email-dev")
    written = to_json(catalog)
    assert json.loads(written)["receipt"]["v1"]["variables"] == [
        ["amount", [["paid", "falsy"]]], ["giftNote", [["hasGift", "truthy"]]], "orderId",
    ]
    assert from_json(written) == catalog


def test_a_catalog_of_plain_names_reads_as_unconditional_variables() -> None:
    [entry] = from_json('{"t": {"v1": {"deployedName": "t-v1", "variables": ["a", "b"]}}}')["t"].values()
    assert isinstance(entry, TemplateVersion)
    assert entry.variables.missing({"a": 1}) == ["b"]
    assert entry.subject_variables.names == set()


def write_template(root: Path, name: str, *, subject: str, html: str, text: str, version: str = "v1") -> None:
    """A template version folder as `discover` reads it."""
    folder = root / name / version
    folder.mkdir(parents=True)
    for file, content in (("subject.txt", subject), ("body.html", html), ("body.txt", text)):
        (folder / file).write_text(content, encoding="utf-8")
