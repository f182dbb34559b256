"""Headless Chromium for the report tests: Debian's chromium driven through Playwright's driver.

Playwright's wheel ships its driver (node); the browser is the system's `/usr/bin/chromium`
(`.ci/run` installs it), so nothing is downloaded. `open_page()` yields a page plus the console
errors it logged; tests skip with a reason when either piece is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1400, "height": 900}


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("RUNDIFF_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def require_browser() -> str:
    """The chromium path, or skip the test saying what is missing."""
    path = chromium_path()
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright; it is in the test extra)")
    return path


@contextmanager
def open_page(html_file: Path) -> Iterator[tuple[object, list[str]]]:
    """Load a report file in headless chromium at 1400x900; yields (page, console errors)."""
    from playwright.sync_api import sync_playwright

    executable = require_browser()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html_file.resolve().as_uri())
            page.wait_for_load_state("load")
            yield page, errors
        finally:
            browser.close()
