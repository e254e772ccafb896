"""The console in a real browser (headless Chromium) on the local stack, as its users use it.

A product team opens its template, switches tabs and widths, and sees the variable a sample lacks;
support sends a test to SES's bounce simulator and watches the bounce arrive in the message's
timeline; an operator redrives a dead letter once SES sends again. `CONSOLE_SCREENSHOT=docs/console.png`
rewrites the README's screenshot from the same page.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ses_email_pipeline.handlers.shared.hashing import recipient_hash

from local.program import ROOT
from tests.console.browser import chromium
from tests.console.running import NO_MESSAGE, Running, api, running_console

SCREENSHOT = ROOT / "docs" / "console.png"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with running_console(tmp_path_factory.mktemp("console")) as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as context:
        yield context


@pytest.fixture
def page(browser: Any, running: Running) -> Iterator[Any]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.close()
    assert errors == [], errors


def open_version(page: Any, running: Running, name: str, version: str, sample: str | None = None) -> None:
    page.goto(f"{running.url}/#/templates/{name}/{version}" + (f"?sample={sample}" if sample else ""))
    page.get_by_test_id("version-title").filter(has_text=f"{name} {version}").wait_for()
    page.get_by_test_id("lane-check").wait_for()


def test_the_template_list_opens_each_version_with_its_samples(page: Any, running: Running) -> None:
    page.goto(running.url)
    listing = page.get_by_test_id("template-list")
    for name in ("daily-report", "notification", "order-shipped"):
        listing.get_by_test_id(f"template-{name}-v1").wait_for()
    listing.get_by_test_id("template-order-shipped-v1").click()
    page.get_by_test_id("version-title").filter(has_text="order-shipped v1").wait_for()
    samples = page.get_by_test_id("samples")
    assert [samples.get_by_test_id(f"sample-{s}").count() for s in ("shipped.json", "empty-list.json")] == [1, 1]
    assert page.get_by_test_id("stack-mode").inner_text() == "local"


def test_tabs_show_the_html_text_source_and_ses_request(page: Any, running: Running) -> None:
    open_version(page, running, "order-shipped", "v1", "shipped.json")
    frame = page.frame_locator("[data-testid=html-frame]")
    assert frame.locator("li").first.inner_text() == "0. 2 x Mug for Ada"
    assert page.get_by_test_id("html-frame").get_attribute("sandbox") == ""
    page.get_by_test_id("tab-text").click()
    assert "- 1 x Tea" in page.get_by_test_id("text-part").inner_text()
    page.get_by_test_id("tab-source").click()
    assert "<li>0. 2 x Mug for Ada</li>" in page.get_by_test_id("html-source").inner_text()
    page.get_by_test_id("tab-request").click()
    request = page.get_by_test_id("ses-request").inner_text()
    assert '"TemplateName": "email-pipeline-dev-order-shipped-v1"' in request
    assert page.get_by_test_id("subject").inner_text() == "Your order 1042 has shipped"


def test_widths_switch_between_desktop_and_mobile(page: Any, running: Running) -> None:
    open_version(page, running, "order-shipped", "v1", "long-name.json")
    page.get_by_test_id("tab-html").click()
    assert page.get_by_test_id("frame-box").bounding_box()["width"] == pytest.approx(640, abs=2)
    page.get_by_test_id("width-mobile").click()
    box = page.get_by_test_id("frame-box")
    assert box.get_attribute("data-width") == "mobile"
    assert box.bounding_box()["width"] == pytest.approx(375, abs=2)
    page.get_by_test_id("tab-text").click()
    page.get_by_test_id("tab-html").click()
    assert page.get_by_test_id("frame-box").get_attribute("data-width") == "mobile"
    page.get_by_test_id("width-desktop").click()
    assert page.get_by_test_id("frame-box").get_attribute("data-width") == "desktop"


def test_a_missing_variable_is_reported_for_the_sample_that_lacks_it(page: Any, running: Running) -> None:
    open_version(page, running, "notification", "v1", NO_MESSAGE)
    mine = page.locator("[data-testid=problem].this-sample")
    mine.first.wait_for()
    text = mine.first.inner_text()
    assert "`message`" in text and NO_MESSAGE in text and "templates/notification/v1/" in text
    assert "message" in page.get_by_test_id("rendering-failure").inner_text()
    assert "would dead-letter this event" in page.get_by_test_id("lane-check").inner_text()
    line = int(text.split(":")[1])
    mine.first.locator("a").click()
    marked = page.locator("[data-testid=files] .line.marked")
    assert marked.first.get_attribute("data-line") == str(line)


def test_an_edited_template_shows_on_reload_and_runs_no_script(page: Any, running: Running) -> None:
    version = running.templates / "script-check" / "v1"
    (version / "samples").mkdir(parents=True)
    (version / "subject.txt").write_text("Hello {{name}}")
    (version / "body.txt").write_text("Hello {{name}}")
    (version / "body.html").write_text('<p id="marker">static</p><script>document.getElementById("marker")'
                                       '.textContent = "a script ran"</script>')
    (version / "samples" / "a.json").write_text('{"name": "Ada"}')
    try:
        page.goto(running.url)
        page.reload()
        open_version(page, running, "script-check", "v1")
        assert page.frame_locator("[data-testid=html-frame]").locator("#marker").inner_text() == "static"
    finally:
        for path in sorted(version.parent.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        version.parent.rmdir()


def test_a_test_send_to_the_bounce_simulator_shows_the_bounce_in_its_timeline(page: Any, running: Running) -> None:
    open_version(page, running, "notification", "v1", "order-shipped.json")
    page.get_by_test_id("send-recipient").fill("bounce@simulator.amazonses.com")
    page.get_by_test_id("send-button").click()
    page.get_by_test_id("follow-test").click()
    row = page.get_by_test_id("message-row")
    row.first.wait_for()
    assert row.count() == 1
    row.first.locator("a").click()
    page.locator("[data-testid=timeline-step][data-status=bounced]").wait_for()
    steps = page.get_by_test_id("timeline-step")
    assert [steps.nth(i).get_attribute("data-status") for i in range(steps.count())] == ["sent", "bounced"]
    assert "Permanent" in page.get_by_test_id("timeline").inner_text()
    assert "bounce@simulator.amazonses.com: bounced" in page.get_by_test_id("recipient-status").first.inner_text()


def open_event(page: Any, row: Any) -> str:
    """Click a dead letter's "Show event" and return the event shown, or fail with what the page said instead."""
    row.get_by_test_id("show-event").click()
    page.locator("[data-testid=dead-letter-event], [data-testid=error]:not([hidden])").first.wait_for()
    error = page.get_by_test_id("error")
    if error.is_visible():
        pytest.fail(f"the page showed an error instead of the event: {error.inner_text()}")
    return str(page.get_by_test_id("dead-letter-event").inner_text())


def test_a_dead_letter_is_redriven_once_ses_sends_again(page: Any, running: Running) -> None:
    faults = running.local.system.ses.faults
    faults.paused = True
    try:
        status, sent = api(running, "send-test", {"template": "notification", "version": "v1",
                                                  "sample": "long-title.json",
                                                  "recipient": "success@simulator.amazonses.com"})
        assert status == 202, sent
        running.wait_for(lambda: api(running, "dead-letters")[1]["lanes"]["normal"]["by_code"].get(
            "SendingPausedException"), "the held email to reach the DLQ on its last receive")
    finally:
        faults.paused = False
    page.goto(f"{running.url}/#/dead-letters")
    letter = page.locator("[data-testid=dead-letter][data-code=SendingPausedException]")
    letter.first.wait_for()
    assert "success@simulator.amazonses.com" in open_event(page, letter.first)
    page.once("dialog", lambda dialog: dialog.accept(running.stack_name))
    page.get_by_test_id("redrive-normal-SendingPausedException").click()
    assert "moved 1 from the normal DLQ" in page.get_by_test_id("redrive-result").inner_text()
    running.wait_for(lambda: api(running, f"messages?key={sent['idempotency_key']}")[1]["messages"],
                     "the redriven email in the outbox")
    page.goto(f"{running.url}/#/messages?key={sent['idempotency_key']}")
    page.get_by_test_id("message-row").first.wait_for()


def test_an_event_opened_while_the_list_refreshes_stays_open(page: Any, running: Running) -> None:
    """The list's refresh that answers after the operator opened an event does not redraw the row under it.

    The browser holds the refresh's answer (Playwright's routing, below the page) until the event is
    shown, as a slow answer on a busy machine would arrive.
    """
    status, sent = api(running, "send-test", {"template": "notification", "version": "v1", "sample": NO_MESSAGE,
                                              "recipient": "success@simulator.amazonses.com"})
    assert status == 202, sent
    running.wait_for(lambda: any(m["event_id"] == sent["event_id"]
                                 for m in api(running, "dead-letters")[1]["lanes"]["normal"]["messages"]),
                     "the refused test send in the DLQ")
    held: list[Any] = []
    holding = False
    page.route("**/api/dead-letters", lambda route: held.append(route) if holding else route.continue_())
    page.goto(f"{running.url}/#/dead-letters")
    row = page.locator("[data-testid=dead-letter]", has_text=sent["event_id"])
    row.wait_for()
    holding = True
    for _ in range(100):  # the page reads the list again every 3 s
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the dead-letter list was not read again"
    assert sent["event_id"] in open_event(page, row)
    event = page.get_by_test_id("dead-letter-event")
    with page.expect_response("**/api/dead-letters"):
        held.pop().continue_()
    page.wait_for_timeout(1000)  # what the page does with the late answer (nothing, now: a negative check)
    assert event.count() == 1 and event.is_visible()


def test_a_suppressed_address_is_found_by_its_hash_looked_up_and_lifted(page: Any, running: Running) -> None:
    address = "held.mailbox@example.com"
    running.local.system.clients["sesv2"].put_suppressed_destination(EmailAddress=address, Reason="BOUNCE")
    key = json.loads(running.local.outputs.read_text())["recipientHashKey"].encode()
    page.goto(f"{running.url}/#/suppressions")
    row = page.locator(f"[data-testid=suppressed][data-hash='{recipient_hash(address, key)}']")
    row.wait_for()
    assert "BOUNCE" in row.inner_text() and "@example.com" in row.inner_text() and address not in row.inner_text()
    page.get_by_test_id("lookup-address").fill(address)
    page.get_by_test_id("lookup-button").click()
    entry = page.get_by_test_id("suppression-entry")
    assert "BOUNCE" in entry.inner_text()
    page.once("dialog", lambda dialog: dialog.accept(running.stack_name))
    entry.get_by_test_id("lift").click()
    assert "Lifted" in page.get_by_test_id("lift-result").inner_text()
    page.get_by_test_id("suppression-count").wait_for()  # the list as it is after the lift
    assert row.count() == 0
    assert api(running, f"suppressions/{address}")[0] == 404


def test_the_readmes_screenshot_is_this_page(page: Any, running: Running, tmp_path: Path) -> None:
    """The template page (order-shipped, its happy path, its check); CONSOLE_SCREENSHOT=docs/console.png rewrites it."""
    open_version(page, running, "order-shipped", "v1", "shipped.json")
    page.frame_locator("[data-testid=html-frame]").locator("li").first.wait_for()
    target = Path(os.environ.get("CONSOLE_SCREENSHOT") or tmp_path / "console.png")
    page.screenshot(path=str(target), full_page=True)
    made = _png_size(target)
    assert made[0] == 1280 and made[1] >= 900
    assert SCREENSHOT.is_file(), f"{SCREENSHOT} is missing: CONSOLE_SCREENSHOT=docs/console.png make test"
    assert _png_size(SCREENSHOT)[0] == made[0]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height
