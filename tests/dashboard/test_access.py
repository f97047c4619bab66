"""What the page shows and allows follows the access control policies of its originator."""

from __future__ import annotations

from playwright.async_api import expect

from tests.dashboard.actions_support import command_instances
from tests.dashboard.conftest import open_dashboard
from tests.support.chargers import simulated_charger
from tests.support.client import TY_ACP

TIMEOUT_MS = 15_000
RETRIEVE_AND_DISCOVER = 2 + 32


def grant(city, cp_id: str, originator: str, acop: int) -> None:
    """Add a rule for `originator` to the charger's own policy (as the admin)."""
    admin = city.admin()
    path = f"cse-in/cp-{cp_id}/acp"
    rules = admin.get(path, TY_ACP)["pv"]["acr"]
    reply = admin.update(
        path, TY_ACP, {"pv": {"acr": [*rules, {"acor": [originator], "acop": acop}]}}
    )
    assert reply.status == 200, reply


async def test_operator_sees_only_what_its_policies_allow(city, browser):
    async with simulated_charger(city, "SEEN") as seen, simulated_charger(city, "HIDDEN") as hid:
        for cp in (seen, hid):
            await cp.boot()
            await cp.status(1, "Available")
        grant(city, "SEEN", "Cwatcher", RETRIEVE_AND_DISCOVER)
        page = await open_dashboard(browser, city)
        await expect(page.locator('tr[data-cp="HIDDEN"]')).to_be_visible()

        await page.fill("#origin", "Cwatcher")
        await page.click("#origin-form button")
        await expect(page.locator("body")).to_have_attribute("data-loaded", "2")
        assert await page.evaluate("localStorage.getItem('citycse.dashboard.origin')") == "Cwatcher"
        row = page.locator('tr[data-cp="SEEN"]')
        await expect(row.locator(".status")).to_contain_text("1: Available")
        await expect(page.locator('tr[data-cp="HIDDEN"]')).to_have_count(0)

        await seen.status(1, "Preparing")
        await hid.status(1, "Faulted")
        await expect(row.locator(".status")).to_contain_text("1: Preparing", timeout=TIMEOUT_MS)
        await expect(page.locator('tr[data-cp="HIDDEN"]')).to_have_count(0)

        await row.get_by_role("button", name="Set unavailable").click()
        await expect(page.locator("#notices li.error").first).to_contain_text("4103")
        assert command_instances(city, "SEEN") == []

        await page.get_by_role("button", name="Sessions & money").click()
        await expect(page.locator("#users tbody")).to_have_text("no users")
        topup = page.locator("#topup")
        await topup.locator("[name=idTag]").fill("CARD1")
        await topup.locator("[name=amount]").fill("5")
        await topup.get_by_role("button").click()
        await expect(page.locator("#notices li.error").first).to_contain_text("top up")
        assert city.cli_json("users", "show", "CARD1")["balance"] == "50.00"
        assert page.errors == []


async def test_originator_refused_the_cse_gets_an_answer_not_an_empty_page(city, browser):
    admin = city.admin()
    reply = admin.update(
        "cse-in/acpCSEBaseAccess", TY_ACP, {"pv": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}
    )
    assert reply.status == 200, reply
    page = await browser.new_page()
    await page.add_init_script("localStorage.setItem('citycse.dashboard.origin', 'Cstranger')")
    await page.goto(f"{city.base_url}/dashboard")
    await expect(page.locator("#live-state")).to_have_text("reconnecting", timeout=TIMEOUT_MS)
    await expect(page.locator("#notices li.error").first).to_contain_text(
        "loading the city failed", timeout=TIMEOUT_MS
    )
    await expect(page.locator("#notices li.error").first).to_contain_text("4103")
    await expect(page.locator("#chargers tbody tr")).to_have_count(0)
