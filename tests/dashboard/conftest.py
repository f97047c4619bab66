"""Fixtures for the dashboard: a real citycse with the OCPP adapter (the OCPP fixtures),
and the page open in Debian's headless chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.ocpp_adapter.conftest import OcppCSE, launch_ocpp, shutdown_ocpp

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
# The README's screenshots are refreshed with DASHBOARD_SCREENSHOTS=docs; otherwise they go
# to a temporary directory, so a test run leaves the checkout as it was.
SCREENSHOTS = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tempfile.gettempdir())


def chromium_path() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed (apt-get install chromium; .ci/run does it)")


@pytest.fixture
def city() -> Iterator[OcppCSE]:
    """A citycse of its own with the adapter; tariff 0.30 per kWh, one user with 50.00."""
    cse = launch_ocpp("sqlite")
    cse.cli("tariff", "set", "--price-per-kwh", "0.30")
    cse.cli("users", "add", "--id-tag", "CARD1", "--balance", "50.00", "--budget", "20.00")
    yield cse
    shutdown_ocpp(cse)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            await browser.close()


class PageErrors(list):
    """JavaScript errors, console errors and 5xx answers seen by the page. oneM2M 4xx
    answers are expected (an empty container's `la` is 4004), and Chromium logs each
    one as a console error "Failed to load resource", so those are not counted."""

    def console(self, message) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.append(message.text)

    def response(self, response) -> None:
        if response.status >= 500:
            self.append(f"HTTP {response.status} for {response.url}")


async def open_dashboard(browser: Browser, cse: OcppCSE, view: str = "chargers") -> Page:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    errors = PageErrors()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", errors.console)
    page.on("response", errors.response)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{cse.base_url}/dashboard#{view}")
    await page.wait_for_selector("body[data-loaded]")
    return page


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"dashboard-{name}.png"
