"""Which variables a Handlebars template needs, and the template files on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from ses_email_pipeline.handlers.catalog import from_json, to_json
from ses_email_pipeline.template_files import deployed_catalog, discover
from ses_email_pipeline.handlers.templates import missing_variables, required_variables
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("text", "required"),
    [
        ("Hello {{name}}", {"name"}),
        ("{{{raw_html}}} and {{ spaced }}", {"raw_html", "spaced"}),
        ("{{order.id}}", {"order"}),
        ("{{#if coupon}}Use {{coupon}}{{/if}}", {"coupon"}),
        ("{{#if coupon}}yes{{else}}no{{/if}}", set()),
        ("{{#each items}}{{name}} x {{qty}}{{/each}} total {{total}}", {"total"}),
        ("{{#with address}}{{street}}{{/with}}", set()),
        ("{{! a comment }}{{^missing}}none{{/missing}}", set()),
        ("{{formatDate when 'short'}}", set()),
    ],
)
def test_required_variables(text: str, required: set[str]) -> None:
    assert required_variables(text) == required


def test_missing_variables_treats_null_as_missing() -> None:
    assert missing_variables({"a", "b", "c"}, {"a": "x", "b": None}) == ["b", "c"]


def test_bundled_templates_are_discovered_with_their_variables() -> None:
    templates = {(t.name, t.version): t for t in discover(ROOT / "templates")}
    notification = templates[("notification", "v1")]
    assert notification.variables == {"subject", "title", "message", "timestamp", "source"}
    assert notification.subject_variables == {"subject"}
    report = templates[("daily-report", "v1")]
    assert "lanes" not in report.variables  # only iterated, never printed
    assert {"date", "stack", "bounce_rate"} <= report.variables


def test_incomplete_template_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "welcome" / "v1").mkdir(parents=True)
    (tmp_path / "welcome" / "v1" / "subject.txt").write_text("Hi")
    with pytest.raises(FileNotFoundError, match="body.html, body.txt"):
        discover(tmp_path)


def test_deployed_names_carry_the_prefix_and_respect_ses_rules() -> None:
    [template] = [t for t in discover(ROOT / "templates") if t.name == "notification"]
    assert template.deployed_name("email-prod") == "email-prod-notification-v1"
    with pytest.raises(ValueError, match="at most 64"):
        template.deployed_name("x" * 60)
    written = to_json(deployed_catalog([template], "email-dev"))
    assert '"deployedName":"email-dev-notification-v1"' in written
    assert from_json(written) == deployed_catalog([template], "email-dev")  # the reader reads what the writer wrote
