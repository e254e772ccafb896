"""The renderer against handlebars.js itself: every template and sample here, and a corpus of tricky cases.

SES templates are Handlebars; what the emulator, the template check and the console render must be
what Handlebars renders. handlebars.js (npm, the reference implementation, pinned in package.json)
renders each case in a Node process (`reference_render.cjs`), and any difference fails. The
subject and text parts are rendered as handlebars.js renders with `noEscape`; the HTML part with
its default escaping. Data that lacks a top-level variable is rendered non-strictly on both sides
(SES's one strictness, failing such a render, has its own tests in test_render.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ses_email_pipeline.template_files import HTML_FILE, SUBJECT_FILE, TEXT_FILE
from ses_email_pipeline.template_render import RenderingFailure, render

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("reference_render.cjs")

#: (template, data): what trips renderers up.
CORPUS: list[tuple[str, dict[str, Any]]] = [
    ("{{a}}|{{{a}}}|{{& a}}", {"a": "& < > \" ' ` ="}),
    ("{{#each items}}{{@index}}:{{name}}{{#if @first}}(first){{/if}}{{#if @last}}(last){{/if}} {{/each}}",
     {"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),
    ("{{#each items}}[{{this}}]{{else}}none{{/each}}", {"items": []}),
    ("{{#each items}}[{{this}}]{{/each}}", {"items": [1, None, "x", 0, False]}),
    ("{{#each obj}}{{@key}}={{this}};{{/each}}", {"obj": {"b": 2, "a": 1}}),
    ("{{#each orders}}{{id}}:{{#each lines}}{{qty}}x{{sku}}@{{../id}}/{{../../customer}} {{/each}}|{{/each}}",
     {"customer": "Ada", "orders": [{"id": 1, "lines": [{"qty": 2, "sku": "pen"}]}, {"id": 2, "lines": []}]}),
    ("{{#with user}}{{name}} ({{../company}}){{else}}nobody{{/with}}", {"user": {"name": "Ada"}, "company": "ACME"}),
    ("{{#with user}}{{name}}{{else}}nobody{{/with}}", {"user": None}),
    ("{{#with n}}n={{this}}{{else}}empty{{/with}}", {"n": 0}),
    ("{{#if a}}A{{else if b}}B{{else if c}}C{{else}}D{{/if}}", {"a": 0, "b": "", "c": []}),
    ("{{#if a}}A{{else if b}}B{{else}}D{{/if}}", {"a": 0, "b": {}}),
    ("{{#unless paid}}due{{else}}paid{{/unless}}", {"paid": False}),
    ("{{#if n includeZero=true}}zero counts{{else}}no{{/if}}", {"n": 0}),
    ("{{#if items.length}}{{items.length}} items{{/if}}", {"items": [1, 2]}),
    ("{{missing}}|{{a.missing.deeper}}|{{nothing}}", {"a": {}}),
    ("{{f}}|{{i}}|{{big}}|{{small}}|{{neg}}|{{t}}|{{list}}|{{obj}}|{{z}}",
     {"f": 1.0, "i": 1.5, "big": 1e21, "small": 1e-7, "neg": -0.0, "t": True, "list": [1, "a", [2, 3]],
      "obj": {"a": 1}, "z": 0}),
    ("{{lookup map key}}|{{lookup list 1}}|{{#with (lookup map key)}}{{this}}{{/with}}",
     {"map": {"k": "v"}, "key": "k", "list": ["a", "b"]}),
    ("{{#*inline \"line\"}}- {{name}}\n{{/inline}}{{#each items}}{{> line}}{{/each}}",
     {"items": [{"name": "a"}, {"name": "b"}]}),
    ("Items:\n  {{#each items}}\n  - {{this}}\n  {{/each}}\nDone\n", {"items": ["a", "b"]}),
    ("{{#if a}}\n  yes\n{{else}}\n  no\n{{/if}}\n", {"a": True}),
    ("a {{~b~}} c {{~#if b~}} d {{~/if~}} e", {"b": "B"}),
    ("{{! short comment }}x{{!-- a {{long}} comment --}}y", {}),
    ("{{[a key]}}|{{this.x}}|{{./x}}|{{@root.x}}", {"a key": 1, "x": 2}),
    ("{{#each items}}{{@root.title}}:{{this}} {{/each}}", {"title": "T", "items": [1, 2]}),
    ("{{log \"debug\"}}x", {}),
    ("{{^items}}none{{/items}}", {"items": []}),
    ("{{unknownHelper x}}", {"x": 1}),
    ("{{#iff x}}y{{/iff}}", {"x": 1}),
    ("{{> missingPartial}}", {}),
]


def template_parts() -> list[tuple[str, str, dict[str, Any]]]:
    """(part file, template text, sample data) for every template version and each of its samples."""
    found = []
    for version in sorted(path for path in (ROOT / "templates").glob("*/*") if path.is_dir()):
        samples = sorted((version / "samples").glob("*.json"))
        assert samples, f"{version.relative_to(ROOT)} has no samples/*.json"
        for sample in samples:
            data = json.loads(sample.read_text())
            for part in (SUBJECT_FILE, HTML_FILE, TEXT_FILE):
                found.append((f"{version.relative_to(ROOT)}/{part} with {sample.name}", (version / part).read_text(),
                              data))
    return found


def reference(cases: list[dict[str, Any]]) -> list[dict[str, str]]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "handlebars").is_dir():
        pytest.fail("handlebars.js is not installed: run `npm ci` (make test does)")
    result = subprocess.run([node, str(SCRIPT)], input=json.dumps(cases), capture_output=True, text=True,
                            cwd=ROOT, check=True, timeout=120)
    return json.loads(result.stdout)


def ours(template: str, data: Any, escape: bool) -> dict[str, str]:
    try:
        return {"output": render(template, data, escape=escape, strict=False)}
    except RenderingFailure as failure:
        return {"error": str(failure)}


def test_every_template_and_sample_renders_as_handlebars_js_renders_it() -> None:
    parts = template_parts()
    cases = [{"template": text, "data": data, "escape": name.split(" with ")[0].endswith(".html")}
             for name, text, data in parts]
    for (name, _text, _data), case, expected in zip(parts, cases, reference(cases)):
        assert ours(case["template"], case["data"], case["escape"]) == expected, name


@pytest.mark.parametrize("escape", [True, False], ids=["html", "text"])
def test_the_corpus_renders_as_handlebars_js_renders_it(escape: bool) -> None:
    cases = [{"template": template, "data": data, "escape": escape} for template, data in CORPUS]
    for case, expected in zip(cases, reference(cases)):
        got = ours(case["template"], case["data"], escape)
        if "error" in expected:  # both refuse; the words differ (ours name the line and the fix)
            assert "error" in got, (case["template"], got)
        else:
            assert got == expected, case["template"]
