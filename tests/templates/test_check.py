"""The authors' template check: a product team's first template, each mistake one line with file, line and fix.

The template is the issue's realistic one: an "Order Shipped" email that loops over items and has
a conditional block, with samples beside it (the happy path, an empty list, a long name).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ses_email_pipeline.template_check import TemplateProblem, check_templates

SUBJECT = "Your order {{orderId}} has shipped"
HTML = """<!doctype html>
<html><body>
  <p>Hi {{customerName}},</p>
  {{#if giftNote}}<p>Gift note: {{giftNote}}</p>{{/if}}
  <ul>
  {{#each items}}
    <li>{{@index}}. {{qty}} x {{name}} for {{../customerName}}</li>
  {{else}}
    <li>No items</li>
  {{/each}}
  </ul>
  <p><a href="https://shop.example.com/orders/{{orderId}}">Track your order</a></p>
</body></html>
"""
TEXT = """Hi {{customerName}},
{{#each items}}
- {{qty}} x {{name}}
{{/each}}
Track it: https://shop.example.com/orders/{{orderId}}
"""
SAMPLES = {
    "shipped.json": {"orderId": "1042", "customerName": "Ada", "giftNote": "Happy birthday!",
                     "items": [{"qty": 2, "name": "Mug"}, {"qty": 1, "name": "Tea"}]},
    "empty-list.json": {"orderId": "1043", "customerName": "Grace", "items": []},
    "long-name.json": {"orderId": "1044", "customerName": "Maximiliana Bartholomew-Featherstonehaugh",
                       "items": [{"qty": 12, "name": "Extra-large enamel camping mug, forest green"}]},
}


def write_template(root: Path, *, subject: str = SUBJECT, html: str = HTML, text: str = TEXT,
                   samples: dict[str, object] | None = None) -> Path:
    version = root / "templates" / "order-shipped" / "v1"
    (version / "samples").mkdir(parents=True)
    (version / "subject.txt").write_text(subject)
    (version / "body.html").write_text(html)
    (version / "body.txt").write_text(text)
    for name, data in (SAMPLES if samples is None else samples).items():
        (version / "samples" / name).write_text(json.dumps(data, indent=2))
    return root / "templates"


def check(tmp_path: Path, **changes: object) -> list[str]:
    return [str(problem) for problem in check_templates(write_template(tmp_path, **changes))]  # type: ignore[arg-type]


def test_the_realistic_template_with_its_samples_has_no_problem(tmp_path: Path) -> None:
    assert check(tmp_path) == []


@pytest.mark.parametrize(("html", "expected"), [
    (HTML.replace("{{/each}}", "{{/if}}"),
     "templates/order-shipped/v1/body.html:10:3: error: {{/if}} closes {{#each}} (opened at line 6, column 3): "
     "close it with {{/each}}"),
    (HTML.replace("  {{/each}}\n", ""),
     "templates/order-shipped/v1/body.html:6:3: error: {{#each}} is never closed: add {{/each}}"),
    (HTML.replace("Hi {{customerName}},", "Hi {{customerName},"),
     "templates/order-shipped/v1/body.html:3:9: error: `{{` is never closed: close each mustache with `}}` before "
     "opening the next"),
    (HTML.replace("Hi {{customerName}},", "Hi {{{customerName}},"),
     "templates/order-shipped/v1/body.html:3:9: error: `{{{` is closed by `}}`: close a raw mustache with `}}}`"),
])
def test_a_broken_block_or_mustache_is_one_line_with_the_file_line_and_column(
        tmp_path: Path, html: str, expected: str) -> None:
    assert check(tmp_path, html=html) == [expected]


def test_a_misspelled_variable_is_told_apart_from_missing_data_and_gets_a_did_you_mean(tmp_path: Path) -> None:
    [problem] = check(tmp_path, text=TEXT.replace("Hi {{customerName}}", "Hi {{custmerName}}"))
    assert problem.startswith("templates/order-shipped/v1/body.txt:1:4: error: `custmerName` is in no sample: "
                              "did you mean `customerName`?")


def test_a_field_inside_each_that_a_sample_lacks_is_named_with_the_sample(tmp_path: Path) -> None:
    """An item without `qty` would render `- x Mug`."""
    samples = {**SAMPLES, "no-qty.json": {"orderId": "1", "customerName": "A", "items": [{"name": "Mug"}]}}
    problems = check(tmp_path, samples=samples)
    assert problems == [
        "templates/order-shipped/v1/body.html:7:21: error: `qty` is printed here but no-qty.json lacks it (inside a "
        "block, for an item or value it iterates or enters): SES fails to render a missing top-level name, and prints "
        "nothing for one inside a block; wrap it in {{#if qty}}...{{/if}} if it is optional, or add it to the sample",
        "templates/order-shipped/v1/body.txt:3:3: error: `qty` is printed here but no-qty.json lacks it (inside a "
        "block, for an item or value it iterates or enters): SES fails to render a missing top-level name, and prints "
        "nothing for one inside a block; wrap it in {{#if qty}}...{{/if}} if it is optional, or add it to the sample",
    ]


def test_a_top_level_variable_one_sample_lacks_is_an_error_naming_that_sample(tmp_path: Path) -> None:
    samples = {name: {k: v for k, v in data.items() if not (name == "long-name.json" and k == "orderId")}
               for name, data in SAMPLES.items()}
    problems = check(tmp_path, samples=samples)
    assert [p.split(": error: ")[0] for p in problems] == [  # the HTML's link, the subject, the text
        "templates/order-shipped/v1/body.html:12:47", "templates/order-shipped/v1/body.txt:5:43",
        "templates/order-shipped/v1/subject.txt:1:12"]
    assert all("`orderId` is printed here but long-name.json lacks it" in p for p in problems)


def test_index_and_parent_paths_inside_each_are_supported(tmp_path: Path) -> None:
    """handlebars.js prints `@index` and `../customerName` (test_reference_render.py holds the renderer to it)."""
    assert not [p for p in check(tmp_path) if "@index" in p or "../" in p]


@pytest.mark.parametrize(("html", "expected"), [
    (HTML.replace("{{#if giftNote}}", "{{#iff giftNote}}").replace("{{/if}}", "{{/iff}}"),
     "templates/order-shipped/v1/body.html:4:3: error: SES has no block helper `iff`: did you mean `if`?"),
    (HTML.replace("{{qty}} x", "{{formatQty qty}} x"),
     "templates/order-shipped/v1/body.html:7:21: error: SES has no helper `formatQty`: SES templates have "
     "Handlebars' built-in helpers only"),
    (HTML.replace("<ul>", "{{> itemList}}<ul>"),
     "templates/order-shipped/v1/body.html:5:3: error: the partial `itemList` is never defined"),
])
def test_a_helper_ses_does_not_have_is_an_error_at_its_place(tmp_path: Path, html: str, expected: str) -> None:
    problems = check(tmp_path, html=html)
    assert any(problem.startswith(expected) for problem in problems), problems


@pytest.mark.parametrize(("link", "severity", "words"), [
    ("http://localhost:8080/orders/{{orderId}}", "error", "points at this machine"),
    ("javascript:alert(1)", "error", "a javascript: href"),
    ("", "error", "an empty href"),
    ("http://shop.example.com/orders/{{orderId}}", "warning", "use https"),
    ("/orders/{{orderId}}", "warning", "a relative href"),
])
def test_links_must_be_absolute_https_addresses_recipients_can_reach(
        tmp_path: Path, link: str, severity: str, words: str) -> None:
    html = HTML.replace("https://shop.example.com/orders/{{orderId}}", link)
    [problem] = [p for p in check(tmp_path, html=html) if ": href" in p or "href" in p]
    assert problem.startswith(f"templates/order-shipped/v1/body.html:12:9: {severity}: ") and words in problem


def test_a_branch_no_sample_takes_is_a_warning_and_a_version_without_samples_too(tmp_path: Path) -> None:
    samples = {name: {k: v for k, v in data.items() if k != "giftNote"} for name, data in SAMPLES.items()}
    assert check(tmp_path, samples=samples) == [
        "templates/order-shipped/v1/body.html:4:33: warning: no sample renders `giftNote` here: add a sample that "
        "takes this branch, so it is checked"]
    bare = check(tmp_path / "bare", samples={})
    assert bare == ["templates/order-shipped/v1/samples:1:1: warning: no sample data: add samples/<name>.json with "
                    "the templateData an event sends, so what the template prints can be checked"]


def test_a_sample_that_is_not_json_is_an_error_at_its_line(tmp_path: Path) -> None:
    root = write_template(tmp_path)
    (root / "order-shipped" / "v1" / "samples" / "broken.json").write_text('{\n  "orderId": 1,\n  oops\n}')
    [problem] = [str(p) for p in check_templates(root)]
    assert problem.startswith("templates/order-shipped/v1/samples/broken.json:3:3: error: not JSON")


def test_problems_sort_by_file_and_line_and_read_as_compiler_messages() -> None:
    problem = TemplateProblem("templates/a/v1/body.html", 3, 9, "error", "syntax", "what; the fix")
    assert str(problem) == "templates/a/v1/body.html:3:9: error: what; the fix"


def test_the_unsubscribe_link_ses_fills_in_a_topic_send_needs_no_sample(tmp_path: Path) -> None:
    """`{{amazonSESUnsubscribeUrl}}` is SES's placeholder (a topic send fills it); the lanes refuse it without a topic."""
    html = HTML.replace("</body>", '<p><a href="{{amazonSESUnsubscribeUrl}}">Unsubscribe</a></p></body>')
    assert check(tmp_path, html=html) == []
