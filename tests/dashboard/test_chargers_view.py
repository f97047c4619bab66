"""The chargers view in a real browser: chargers appear live, sessions show energy and cost."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import expect

from tests.dashboard.conftest import open_dashboard, screenshot_path
from tests.support.chargers import iso, simulated_charger

TIMEOUT_MS = 15_000


async def test_charger_appears_and_session_energy_and_cost_rise(city, browser):
    page = await open_dashboard(browser, city)
    async with simulated_charger(city, "CP1") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        row = page.locator('tr[data-cp="CP1"]')
        await expect(row.locator(".status")).to_contain_text("1: Available", timeout=TIMEOUT_MS)
        await expect(row.locator(".id")).to_contain_text("TestCo T1")

        tx = await cp.charge("CARD1", meter_start=1000)
        await expect(row.locator(".status")).to_contain_text("1: Charging", timeout=TIMEOUT_MS)
        await expect(row.locator(".session .tag")).to_have_text("CARD1", timeout=TIMEOUT_MS)
        await expect(row.locator(".session .hold")).to_have_text("20.00")

        await cp.meter(tx, 2000, minutes=5)
        await expect(row.locator(".energy")).to_have_text("1.000 kWh", timeout=TIMEOUT_MS)
        await expect(row.locator(".cost")).to_have_text("0.30")
        await cp.meter(tx, 4500, minutes=10)
        await expect(row.locator(".energy")).to_have_text("3.500 kWh", timeout=TIMEOUT_MS)
        await expect(row.locator(".cost")).to_have_text("1.05")
        await page.screenshot(path=str(screenshot_path("chargers")))

        await cp.stop_session(tx, 5000, at=cp.at(12))
        await expect(row.locator(".session")).to_have_text("–", timeout=TIMEOUT_MS)
    assert page.errors == []


async def test_page_opened_during_a_session_shows_it_with_energy_and_cost(city, browser):
    async with (
        simulated_charger(city, "CP5") as cp,
        simulated_charger(city, "CP6") as other,
    ):
        await cp.boot()
        await other.boot()
        done = await other.charge("CARD1", meter_start=0)
        await other.meter(done, 1000, minutes=3)
        await other.stop_session(done, 1000, at=other.at(4))
        tx = await cp.charge("CARD1", meter_start=100)
        await cp.meter(tx, 1100, minutes=5)
        await cp.meter(tx, 2100, minutes=10)

        page = await open_dashboard(browser, city)
        row = page.locator('tr[data-cp="CP5"]')
        await expect(row.locator(".session .tag")).to_have_text("CARD1")
        await expect(row.locator(".energy")).to_have_text("2.000 kWh")
        await expect(row.locator(".cost")).to_have_text("0.60")
        await expect(page.locator('tr[data-cp="CP6"] .session')).to_have_text("–")
        await expect(row.locator(".status")).to_contain_text("1: Charging")

        await cp.meter(tx, 3100, minutes=12)
        await expect(row.locator(".cost")).to_have_text("0.90", timeout=TIMEOUT_MS)
    assert page.errors == []


async def test_cost_so_far_follows_the_surge_window(city, browser):
    now = datetime.now(UTC)
    city.cli(
        "tariff", "set", "--price-per-kwh", "0.30",
        "--surge", iso(now - timedelta(hours=1)), iso(now + timedelta(hours=1)), "1.5",
    )  # fmt: skip
    page = await open_dashboard(browser, city)
    async with simulated_charger(city, "SURGE") as cp:
        await cp.boot()
        tx = await cp.charge("CARD1", meter_start=0)
        await cp.meter(tx, 1000, minutes=5)
        row = page.locator('tr[data-cp="SURGE"]')
        await expect(row.locator(".cost")).to_have_text("0.45", timeout=TIMEOUT_MS)
        await page.get_by_role("button", name="Safety").click()
        await expect(page.locator("#grid tbody tr").first).to_contain_text("surge ×1.5")
        await expect(page.locator("#grid tbody tr").first).to_contain_text("in force")
        await cp.stop_session(tx, 1000, at=cp.at(6))
    record = city.cli_json("users", "show", "CARD1")["transactions"][-1]
    assert record["cost"] == "0.45"
    assert page.errors == []


async def test_connection_state_follows_the_chargers_socket(city, browser):
    page = await open_dashboard(browser, city)
    async with simulated_charger(city, "LINK") as cp:
        await cp.boot()
        badge = page.locator('tr[data-cp="LINK"] .conn .badge')
        await expect(badge).to_have_text("connected", timeout=TIMEOUT_MS)
        await expect(badge).to_have_attribute("title", re.compile(r"^ocpp1\.6, since "))
    await expect(badge).to_have_text("disconnected", timeout=TIMEOUT_MS)
    await expect(badge).to_have_attribute("title", re.compile(r"closed normally, 1000"))

    reloaded = await open_dashboard(browser, city)  # read back from the tree at load
    await expect(reloaded.locator('tr[data-cp="LINK"] .conn .badge')).to_have_text("disconnected")
    assert page.errors == [] and reloaded.errors == []
