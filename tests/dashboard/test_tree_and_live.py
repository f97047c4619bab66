"""The resource-tree browser, the sessions view after a session, the activity chart, and
the page recovering by itself when the CSE restarts."""

from __future__ import annotations

from playwright.async_api import expect

from tests.dashboard.conftest import open_dashboard, screenshot_path
from tests.support.chargers import simulated_charger
from tests.support.server import start_server

TIMEOUT_MS = 15_000


async def test_tree_browser_expands_and_shows_latest_instances(city, browser):
    async with simulated_charger(city, "T1") as cp:
        await cp.boot()
        for status in ("Available", "Preparing", "Available"):
            await cp.status(1, status)
    page = await open_dashboard(browser, city, "tree")
    root = page.locator('#tree li[data-path="cse-in"]')
    await root.locator(".toggle").first.click()
    charger = page.locator('#tree li[data-path="cse-in/cp-T1"]')
    await expect(charger).to_contain_text("AE")
    await expect(page.locator('#tree li[data-path="cse-in/evcs"]')).to_be_visible()
    await charger.locator(".toggle").first.click()
    status = page.locator('#tree li[data-path="cse-in/cp-T1/status"]')
    await status.locator(".res").click()
    detail = page.locator("#tree-detail")
    await expect(detail.locator("h4")).to_have_text("Latest instances (3 in all)")
    await expect(detail.locator(".cin")).to_have_count(3)
    await expect(detail.locator(".cin pre").first).to_contain_text('"status": "Available"')
    await expect(detail.locator(".attributes")).to_contain_text('"cni": 3')
    await page.screenshot(path=str(screenshot_path("tree")))
    assert page.errors == []


async def test_finished_session_shows_cost_charged_and_refund(city, browser):
    page = await open_dashboard(browser, city, "sessions")
    async with simulated_charger(city, "S1") as cp:
        await cp.boot()
        tx = await cp.charge("CARD1", meter_start=500)
        running = page.locator(f'#running tr[data-tx="{tx}"]')
        await expect(running).to_contain_text("CARD1", timeout=TIMEOUT_MS)
        await cp.meter(tx, 2500, minutes=5)
        await expect(running.locator(".cost")).to_have_text("0.60", timeout=TIMEOUT_MS)
        await expect(page.locator('#users tr[data-tag="CARD1"] .balance')).to_have_text("30.00")
        await cp.stop_session(tx, 3500, at=cp.at(8))
    recent = page.locator(f'#recent tr[data-tx="{tx}"]')
    await expect(recent).to_contain_text("3.000 kWh", timeout=TIMEOUT_MS)
    await expect(recent).to_contain_text("0.90")
    await expect(recent.locator(".refund")).to_have_text("19.10")
    await expect(running).to_have_count(0)
    await expect(page.locator('#users tr[data-tag="CARD1"] .balance')).to_have_text("49.10")
    await page.screenshot(path=str(screenshot_path("sessions")))

    await page.get_by_role("button", name="Activity").click()
    await expect(page.locator("#activity-totals")).to_contain_text("kWh delivered")
    energy = await page.evaluate(
        "[...window.citycseDashboard.model.energyByMinute.values()].reduce((a, b) => a + b, 0)"
    )
    assert energy == 2000  # the live meter sample: 500 -> 2500 Wh
    await page.screenshot(path=str(screenshot_path("activity")))
    assert page.errors == []


async def test_page_recovers_by_itself_after_the_cse_restarts(city, browser):
    page = await open_dashboard(browser, city)
    await expect(page.locator("#live-state")).to_have_text("live")
    city.server.stop()
    await expect(page.locator("#live-state")).to_have_text("reconnecting", timeout=TIMEOUT_MS)
    # The same address, as after a service restart: the page must find it again by itself.
    city.server = start_server(city.db, extra_args=city._args(), port=city.server.port)
    await expect(page.locator("#live-state")).to_have_text("live", timeout=30_000)
    await expect(page.locator("body")).to_have_attribute("data-loaded", "2", timeout=TIMEOUT_MS)
    async with simulated_charger(city, "R1") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        await expect(page.locator('tr[data-cp="R1"] .status')).to_contain_text(
            "1: Available", timeout=TIMEOUT_MS
        )
    assert page.errors == []
