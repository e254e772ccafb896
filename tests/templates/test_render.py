"""The renderer the emulator, the check and the console use: Handlebars semantics, SES's strictness on missing variables."""

from __future__ import annotations

import pytest

from ses_email_pipeline.template_render import RenderingFailure, render, render_email
from ses_email_pipeline.template_variables import variable_uses


def test_variables_are_substituted_and_escaped_only_in_html() -> None:
    email = render_email("Hi {{name}}", "<p>{{name}}</p>", "Hello {{name}}", {"name": "Tom & <Jerry>"})
    assert email.subject == "Hi Tom & <Jerry>"
    assert email.html == "<p>Tom &amp; &lt;Jerry&gt;</p>"
    assert email.text == "Hello Tom & <Jerry>"


def test_triple_braces_are_not_escaped() -> None:
    assert render("{{{snippet}}}", {"snippet": "<b>x</b>"}, escape=True) == "<b>x</b>"


def test_nested_fields_and_blocks() -> None:
    data = {"order": {"id": 7}, "items": [{"name": "pen"}, {"name": "ink"}], "vip": False, "tags": ["a", "b"]}
    text = "#{{order.id}}:{{#each items}} {{name}}{{/each}}{{#if vip}} VIP{{else}} std{{/if}}" \
           "{{#unless vip}}!{{/unless}}{{#each tags}}[{{this}}]{{/each}}{{#with order}}({{id}}){{/with}}"
    assert render(text, data, escape=False) == "#7: pen ink std![a][b](7)"


def test_missing_top_level_variable_fails_like_ses() -> None:
    with pytest.raises(RenderingFailure, match="'name' is not present"):
        render_email("Hi {{name}}", "", "", {})


def test_missing_name_inside_a_block_renders_empty() -> None:
    assert render("{{#each items}}<{{missing}}>{{/each}}", {"items": [1]}, escape=False) == "<>"


def test_comments_are_dropped_and_unclosed_blocks_fail() -> None:
    assert render("a{{! note }}b", {}, escape=False) == "ab"
    with pytest.raises(RenderingFailure, match="never closed"):
        render("{{#if x}}open", {"x": 1}, escape=False)


def test_lines_holding_only_a_block_tag_disappear_as_in_handlebars() -> None:
    text = "Items:\n  {{#each items}}\n- {{this}}\n  {{/each}}\nDone\n"
    assert render(text, {"items": ["a", "b"]}, escape=False) == "Items:\n- a\n- b\nDone\n"


def test_an_event_without_an_optional_variable_renders() -> None:
    text = "Order {{orderId}}{{#if giftNote}}\nNote: {{giftNote}}{{/if}}"
    assert render(text, {"orderId": 7}, escape=False) == "Order 7"


def test_a_variable_in_an_if_branch_the_data_takes_must_be_present() -> None:
    with pytest.raises(RenderingFailure, match="'giftNote' is not present"):
        render("{{#if hasGift}}{{giftNote}}{{/if}}", {"hasGift": True}, escape=False)


def test_else_if_and_unless_else_render_the_branch_the_data_selects() -> None:
    text = "{{#if a}}A{{else if b}}B{{else}}C{{/if}}|{{#unless paid}}due{{else}}paid{{/unless}}"
    assert render(text, {"b": 1, "paid": True}, escape=False) == "B|paid"
    assert render(text, {}, escape=False) == "C|due"


def test_an_empty_object_is_truthy_and_with_renders_zero_as_handlebars_does() -> None:
    text = "{{#if o}}obj{{/if}}{{#if n}}no{{/if}}{{#with n}}[{{this}}]{{/with}}{{#each o}}x{{else}}none{{/each}}"
    assert render(text, {"o": {}, "n": 0}, escape=False) == "obj[0]none"


def test_each_over_an_object_renders_its_values() -> None:
    assert render("{{#each prices}}{{this}};{{/each}}", {"prices": {"a": 1, "b": 2}}, escape=False) == "1;2;"


AGREEMENT_TEMPLATES = [
    "{{#if hasGift}}{{giftNote}}{{/if}}",
    "{{#if coupon}}{{coupon}}{{else}}{{name}}{{/if}}",
    "{{#unless paid}}{{amount}}{{else}}{{receipt}}{{/unless}}",
    "{{#if a}}{{#if b}}{{both}}{{/if}}{{/if}}{{#if a}}{{x}}{{else if b}}{{y}}{{/if}}",
    "{{#each items}}{{name}}{{else}}{{none}}{{/each}}{{#with v}}{{street}}{{else}}{{none}}{{/with}}",
]
AGREEMENT_DATA = [
    {}, {"hasGift": True}, {"coupon": "X"}, {"paid": True}, {"a": [1]}, {"a": 1, "b": {}}, {"b": "y"},
    {"items": [{}], "v": 0}, {"items": {}, "v": ""},
]


@pytest.mark.parametrize("template", AGREEMENT_TEMPLATES)
def test_the_renderer_fails_exactly_when_the_pre_send_check_reports_a_missing_variable(template: str) -> None:
    for data in AGREEMENT_DATA:
        reported = variable_uses(template).missing(data)
        try:
            render(template, data, escape=False)
        except RenderingFailure:
            assert reported, data
        else:
            assert not reported, data
