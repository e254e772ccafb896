"""The local emulator renders SES templates as SES does: substituted, escaped in HTML, strict."""

from __future__ import annotations

import pytest

from local.render import RenderingFailure, render, render_email


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
