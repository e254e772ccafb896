"""The console's page and guard: served locally (no CDN), answering only its own address, changes only as same-origin JSON."""

from __future__ import annotations

import re

from tests.console.conftest import BASE, DeployedStack, json_of

SEND = {"template": "order-shipped", "version": "v1", "sample": "shipped.json",
        "recipient": "success@simulator.amazonses.com", "confirm": "email-test"}


def test_the_page_loads_only_its_own_scripts_and_styles(deployed: DeployedStack) -> None:
    page = deployed.client.get(f"{BASE}/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-stack="email-test"' in html and 'data-mode="deployed"' in html
    linked = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert linked and all(link.startswith("/static/") or link == "data:," for link in linked), linked
    for module in ("console.js", "ui.js", "templates.js", "messages.js", "dead_letters.js", "console.css"):
        assert deployed.client.get(f"{BASE}/static/{module}").status_code == 200, module


def test_every_script_module_it_imports_is_served(deployed: DeployedStack) -> None:
    script = deployed.client.get(f"{BASE}/static/console.js").get_data(as_text=True)
    for module in re.findall(r'from "\./([\w.]+)"', script):
        assert deployed.client.get(f"{BASE}/static/{module}").status_code == 200, module


def test_answers_carry_a_policy_that_runs_no_script_but_the_consoles(deployed: DeployedStack) -> None:
    response = deployed.client.get(f"{BASE}/api/stack")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_request_to_another_host_name_is_refused(deployed: DeployedStack) -> None:
    """A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing."""
    response = deployed.client.get("http://attacker.example:8025/api/templates")
    assert response.status_code == 421
    assert "127.0.0.1:8025" in json_of(response)["error"]


def test_localhost_is_the_consoles_own_address_too(deployed: DeployedStack) -> None:
    assert deployed.client.get("http://localhost:8025/api/stack").status_code == 200


def test_a_change_from_another_origin_is_refused(deployed: DeployedStack) -> None:
    response = deployed.client.post(f"{BASE}/api/send-test", json=SEND, headers={"Origin": "https://attacker.example"})
    assert response.status_code == 403


def test_a_change_sent_as_a_form_is_refused(deployed: DeployedStack) -> None:
    """A cross-site form can post `text/plain` or a form without a preflight; the console takes only JSON."""
    response = deployed.client.post(f"{BASE}/api/send-test", data="template=order-shipped",
                                    content_type="text/plain")
    assert response.status_code == 415
    assert json_of(response)["error"].startswith("a change must be sent as JSON")


def test_an_unknown_api_path_is_a_json_404(deployed: DeployedStack) -> None:
    response = deployed.client.get(f"{BASE}/api/nothing-here")
    assert response.status_code == 404
    assert json_of(response) == {"status": 404, "error": "GET /api/nothing-here: not found; see GET /api/stack and "
                                                         "the API's list in docs/console.md"}


def test_the_stack_says_what_the_page_needs(deployed: DeployedStack) -> None:
    stack = json_of(deployed.client.get(f"{BASE}/api/stack"))
    assert stack["mode"] == "deployed" and stack["stack"] == "email-test" and stack["renderer"] == "ses"
    assert stack["templated_lanes"] == ["normal"] and stack["outbox"] is False
    assert stack["recipient_allowlist"] == ["@example.com"]
    assert "bounce@simulator.amazonses.com" in stack["simulator_addresses"]
