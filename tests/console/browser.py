"""A real headless Chromium for the console's browser tests: Debian's `chromium`, driven by Playwright.

Playwright's own browser download is out of reach here and on many CI runners, so it drives the
system's Chromium (`executable_path`; `.ci/run` installs Debian's package). Without one, or
without Playwright, the tests fail with one line saying what to install: never skipped.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

#: Where Debian's package puts it; `CHROMIUM` names another.
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
#: Flags that work as root in a container without a GPU or network (the profile is a new, empty folder).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}


@contextmanager
def chromium() -> Iterator[Any]:
    """A browser context of a fresh profile; fails the test with one line when no browser can be had."""
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium, as .ci/run "
                    "does) or set CHROMIUM to a Chromium binary", pytrace=False)
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install -r requirements-dev.txt (make test does)", pytrace=False)
    with tempfile.TemporaryDirectory(prefix="console-profile-") as profile, sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS, viewport=VIEWPORT)
        except Error as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            pytest.fail(f"Chromium at {CHROMIUM} did not start ({first}): check that it runs "
                        f"(`{CHROMIUM} --headless --no-sandbox --version`)", pytrace=False)
        context.set_default_timeout(20_000)
        try:
            yield context
        finally:
            context.close()
