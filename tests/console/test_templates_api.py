"""The console's template API: every version with its samples and problems, a sample's preview, edits seen on reload.

A product team's template (`order-shipped`, from tests/templates/test_check.py) with one sample
that lacks `customerName`: the check, the renderer and the lane's own check each say so.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.console.conftest import BASE, LACKING, DeployedStack, json_of


def get(stack: DeployedStack, path: str) -> tuple[int, dict]:
    response = stack.client.get(f"{BASE}/api/{path}")
    return response.status_code, json_of(response)


def test_the_template_list_has_every_version_with_its_samples_and_problems(deployed: DeployedStack) -> None:
    status, listing = get(deployed, "templates")
    assert status == 200
    [template] = listing["templates"]
    [version] = template["versions"]
    assert (template["name"], version["version"]) == ("order-shipped", "v1")
    assert version["samples"] == ["empty-list.json", "long-name.json", LACKING, "shipped.json"]
    assert version["errors"] >= 1


def test_a_name_a_sample_lacks_is_reported_with_its_file_line_and_the_sample(deployed: DeployedStack) -> None:
    _, version = get(deployed, "templates/order-shipped/v1")
    lacking = [p for p in version["problems"] if p["rule"] == "variable" and LACKING in p["samples"]]
    assert lacking, version["problems"]
    assert {p["part"] for p in lacking} >= {"body.html", "body.txt"}
    html = next(p for p in lacking if p["part"] == "body.html")
    assert (html["file"], html["line"]) == ("templates/order-shipped/v1/body.html", 3)
    assert "`customerName`" in html["message"] and html["text"].startswith("templates/order-shipped/v1/body.html:3:")


def test_a_version_gives_its_parts_sources_for_the_problems_to_point_at(deployed: DeployedStack) -> None:
    _, version = get(deployed, "templates/order-shipped/v1")
    assert version["files"]["subject.txt"] == "Your order {{orderId}} has shipped"
    assert "{{#each items}}" in version["files"]["body.html"]
    assert version["where"]["body.txt"] == "templates/order-shipped/v1/body.txt"


def test_a_sample_that_lacks_a_printed_name_fails_to_render_and_the_lane_would_dead_letter_it(
        deployed: DeployedStack) -> None:
    status, preview = get(deployed, f"templates/order-shipped/v1/preview?sample={LACKING}")
    assert status == 200
    assert "customerName" in preview["rendered"]["failure"]
    assert preview["lane_check"] == {"sends": False, "code": "InvalidEvent", "field": "detail.templateData",
                                     "reason": "template 'order-shipped' v1 uses ['customerName'] but the event "
                                               "does not provide them"}
    assert preview["ses_request"] is None


def test_a_complete_sample_previews_the_request_the_lane_would_send(deployed: DeployedStack) -> None:
    _, preview = get(deployed, "templates/order-shipped/v1/preview?sample=shipped.json")
    assert preview["lane_check"] == {"sends": True}
    request = preview["ses_request"]
    assert request["Content"]["Template"]["TemplateName"] == "email-test-order-shipped-v1"
    assert json.loads(request["Content"]["Template"]["TemplateData"])["customerName"] == "Ada"
    assert request["Destination"] == {"ToAddresses": ["success@simulator.amazonses.com"]}
    assert {tag["Name"] for tag in request["EmailTags"]} >= {"lane", "template", "stack", "key_hash", "correlation_id"}
    assert preview["event"]["Detail"]["templateData"] == preview["data"]


def test_an_edited_part_or_sample_shows_on_the_next_request(deployed: DeployedStack, templates_dir: Path) -> None:
    """The files and samples are read on every request; a deployed stack's SES still renders what is deployed."""
    version = templates_dir / "order-shipped" / "v1"
    (version / "samples" / "gift.json").write_text(json.dumps(
        {"orderId": "7", "customerName": "Lin", "giftNote": "Enjoy", "items": []}))
    html = version / "body.html"
    html.write_text(html.read_text().replace("Track your order", "Where is my parcel?"))
    _, listing = get(deployed, "templates")
    assert "gift.json" in listing["templates"][0]["versions"][0]["samples"]
    _, files = get(deployed, "templates/order-shipped/v1")
    assert "Where is my parcel?" in files["files"]["body.html"]
    _, preview = get(deployed, "templates/order-shipped/v1/preview?sample=gift.json")
    assert "Hi Lin," in preview["rendered"]["html"] and "Track your order" in preview["rendered"]["html"]


def test_an_unknown_template_is_a_404_with_one_line(deployed: DeployedStack) -> None:
    status, error = get(deployed, "templates/order-shiped/v1")
    assert status == 404 and error["status"] == 404
    assert "no template version order-shiped/v1" in error["error"] and "\n" not in error["error"]


def test_a_name_that_is_no_folder_name_is_refused(deployed: DeployedStack) -> None:
    status, error = get(deployed, "templates/..%2F..%2Fetc/v1")
    assert status in (400, 404) and error["status"] == status


def test_a_sample_that_is_not_json_is_a_422_naming_its_line(deployed: DeployedStack, templates_dir: Path) -> None:
    (templates_dir / "order-shipped" / "v1" / "samples" / "broken.json").write_text('{\n  "orderId": 1,\n}')
    status, error = get(deployed, "templates/order-shipped/v1/preview?sample=broken.json")
    assert status == 422
    assert "samples/broken.json is not JSON (line 3" in error["error"]


def test_an_unknown_sample_is_a_404_listing_the_samples(deployed: DeployedStack) -> None:
    status, error = get(deployed, "templates/order-shipped/v1/preview?sample=nope.json")
    assert status == 404 and "shipped.json" in error["error"]
