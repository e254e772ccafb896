"""`python -m local event new`: an events file both `local send` and `aws events put-events` accept."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from local import __main__ as cli
from local.event_files import load_entries
from local.event_scaffold import event_detail
from ses_email_pipeline.template_files import TemplateFiles


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(list(argv))
    return status, out.getvalue(), err.getvalue()


def order_shipped() -> TemplateFiles:
    """The issue's template: a loop over the items and a conditional block."""
    return TemplateFiles(
        "order-shipped", "v1", "Your order {{orderId}} has shipped",
        "<p>Hi {{customer.name}},</p><ul>{{#each items}}<li>{{qty}} x {{name}} ({{@index}})</li>{{/each}}</ul>"
        "{{#if trackingUrl}}<a href=\"{{trackingUrl}}\">Track</a>{{/if}}{{#with gift}}{{note}}{{/with}}",
        "{{title}}\n{{#each items}}- {{qty}} x {{name}}\n{{/each}}{{../ignored}}")


def test_the_skeleton_has_a_placeholder_for_every_printed_variable_inside_loops_too() -> None:
    detail = event_detail(order_shipped(), "you@example.com")
    assert detail["emailConfig"] == {"recipient": "you@example.com", "subject": "<subject of order-shipped>"}
    assert detail["template"] == "order-shipped"
    assert detail["title"] == "<title>"  # the event's own field, not templateData
    assert detail["templateData"] == {
        "orderId": "<orderId>", "customer": {"name": "<customer.name>"},
        "items": [{"qty": "<qty>", "name": "<name>"}], "trackingUrl": "<trackingUrl>", "gift": {"note": "<note>"}}


@pytest.fixture
def written(tmp_path: Path) -> tuple[int, str, str, Path]:
    path = tmp_path / "event.json"
    status, out, err = run("event", "new", "--source", "custom.application", "--detail-type",
                           "Email Notification Request", "--template", "notification", "--out", str(path))
    return status, out, err, path


def test_the_file_is_what_put_events_takes(written: tuple[int, str, str, Path]) -> None:
    """As `aws events put-events --entries file://...` reads it: the request validated against botocore's model."""
    status, _out, err, path = written
    assert status == 0, err
    entries = json.loads(path.read_text())
    shape = get_session().get_service_model("events").operation_model("PutEvents").input_shape
    assert not ParamValidator().validate({"Entries": entries}, shape).has_errors()
    [entry] = entries
    assert entry["EventBusName"] == "email-pipeline-dev-bus" and isinstance(entry["Detail"], str)
    assert load_entries(path) == entries  # and what `local send` reads


def test_the_file_sends_as_it_is_written(written: tuple[int, str, str, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    _status, out, _err, path = written
    assert f"then: python -m local send {path}" in out
    status, out, err = run("send", str(path))
    assert status == 0, err
    assert "Entries[0]: SENT [normal] to success@simulator.amazonses.com" in out


def test_an_event_no_route_takes_is_written_and_said(tmp_path: Path) -> None:
    path = tmp_path / "shipped.json"
    status, out, err = run("event", "new", "--source", "shop.orders", "--detail-type", "Order Shipped",
                           "--template", "notification", "--out", str(path))
    assert status == 0 and path.exists()
    assert "no route on stack dev takes shop.orders / Order Shipped: add one to Pulumi.dev.yaml" in err


@pytest.mark.parametrize(("options", "problem"), [
    (["--template", "order-shiped"], "no template 'order-shiped' under templates/"),
    (["--template", "notification", "--recipient", "not an address"], "the event would be dead-lettered: "),
])
def test_what_stops_the_scaffold_is_one_line(tmp_path: Path, options: list[str], problem: str) -> None:
    status, out, err = run("event", "new", "--source", "s", "--detail-type", "d", "--out", str(tmp_path / "e.json"),
                           *options)
    assert (status, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith("python -m local: ") and problem in line
    assert not (tmp_path / "e.json").exists()


def test_an_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text("mine")
    argv: list[Any] = ["event", "new", "--source", "s", "--detail-type", "d", "--template", "notification",
                       "--out", str(path)]
    status, _out, err = run(*argv)
    assert status == 2 and "exists; pass --force" in err and path.read_text() == "mine"
    assert run(*argv, "--force")[0] == 0
