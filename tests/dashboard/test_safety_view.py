"""Fire alarms on the page: the alarm of a site shows, with the chargers it affects; with the
interlocks in place, those chargers go unavailable."""

from __future__ import annotations

from playwright.async_api import expect

from ocpp_adapter.devices import ALARM_CONTAINER, FIRE_ALARM_API, FIRE_ALARM_LABEL
from ocpp_adapter.interlocks import INTERLOCKS_AEI
from tests.dashboard.conftest import open_dashboard, screenshot_path
from tests.support.chargers import simulated_charger
from tests.support.client import TY_ACP, TY_AE, TY_CIN, TY_CNT

TIMEOUT_MS = 15_000


def label_charger(city, cp_id: str, site: str, feeder: str) -> None:
    """What the charger registry does for a charger placed in a site and on a feeder."""
    admin = city.admin()
    path = f"cse-in/cp-{cp_id}"
    labels = admin.get(path, TY_AE).get("lbl", [])
    kept = [lbl for lbl in labels if not lbl.startswith(("site:", "feeder:"))]
    reply = admin.update(path, TY_AE, {"lbl": [*kept, f"site:{site}", f"feeder:{feeder}"]})
    assert reply.status == 200, reply


def raise_fire_alarm(city, name: str, site: str, active: bool) -> None:
    """A fire alarm registered as the interlocks find it (api, labels, a policy letting
    `Cinterlocks` discover and read it), then one reading."""
    admin = city.admin()
    device = f"C{name}"
    if admin.retrieve(f"cse-in/{name}").status == 404:
        labels = [FIRE_ALARM_LABEL, f"site:{site}"]
        ae = {"rn": name, "api": FIRE_ALARM_API, "rr": False, "srv": ["3"], "lbl": labels}
        admin.make("cse-in", TY_AE, ae, origin=device)
        rules = [{"acor": [device], "acop": 63}, {"acor": [INTERLOCKS_AEI], "acop": 34}]
        policy = {"rn": "acp", "pv": {"acr": rules}, "pvs": {"acr": rules[:1]}}
        acp_ri = admin.make(f"cse-in/{name}", TY_ACP, policy, origin=device)["ri"]
        reply = admin.update(f"cse-in/{name}", TY_AE, {"acpi": [acp_ri]}, origin=device)
        assert reply.status == 200, reply
        alarm = {"rn": ALARM_CONTAINER, "acpi": [acp_ri]}
        admin.make(f"cse-in/{name}", TY_CNT, alarm, origin=device)
    admin.make(
        f"cse-in/{name}/{ALARM_CONTAINER}",
        TY_CIN,
        {"cnf": "application/json:0", "con": {"active": active}},
        origin=device,
    )


async def test_fire_alarm_shows_and_its_site_goes_unavailable(city, browser):
    page = await open_dashboard(browser, city)
    async with (
        simulated_charger(city, "A1") as a1,
        simulated_charger(city, "A2") as a2,
        simulated_charger(city, "B1") as b1,
    ):
        for cp in (a1, a2, b1):
            await cp.boot()
            await cp.status(1, "Available")
        label_charger(city, "A1", "A", "F1")
        label_charger(city, "A2", "A", "F2")
        label_charger(city, "B1", "B", "F1")
        await expect(page.locator('tr[data-cp="A2"] .site')).to_have_text("A", timeout=TIMEOUT_MS)

        await page.select_option("#filter-site", "A")
        await expect(page.locator("#chargers tbody tr")).to_have_count(2)
        await page.select_option("#filter-site", "")
        await page.select_option("#filter-feeder", "F1")
        await expect(page.locator("#chargers tbody tr")).to_have_count(2)
        await expect(page.locator('tr[data-cp="A2"]')).to_have_count(0)
        await page.select_option("#filter-feeder", "")

        raise_fire_alarm(city, "fire-a", "A", active=True)
        await expect(page.locator('tr[data-cp="A1"] .alarm')).to_have_text("fire alarm")
        await expect(page.locator('tr[data-cp="B1"] .alarm')).to_have_count(0)
        await page.get_by_role("button", name="Safety").click()
        alarm = page.locator('#alarms tr[data-alarm="fire-a"]')
        await expect(alarm).to_contain_text("ACTIVE", timeout=TIMEOUT_MS)
        await expect(alarm.locator(".affected")).to_have_text("A1, A2")
        await page.screenshot(path=str(screenshot_path("safety")))

        await page.get_by_role("button", name="Chargers").click()
        for cp_id in ("A1", "A2"):
            await expect(page.locator(f'tr[data-cp="{cp_id}"] .status')).to_contain_text(
                "Unavailable", timeout=TIMEOUT_MS
            )
        await expect(page.locator('tr[data-cp="B1"] .status')).to_contain_text("Available")
    assert page.errors == []


async def test_cleared_alarm_shows_clear(city, browser):
    raise_fire_alarm(city, "fire-b", "B", active=True)
    page = await open_dashboard(browser, city, "safety")
    alarm = page.locator('#alarms tr[data-alarm="fire-b"]')
    await expect(alarm).to_contain_text("ACTIVE")
    raise_fire_alarm(city, "fire-b", "B", active=False)
    await expect(alarm).to_contain_text("clear", timeout=TIMEOUT_MS)
    assert page.errors == []
