"""Operator actions from the page: each one is a oneM2M request with the operator's originator
(commands CINs for chargers; the same wallet requests as `citycse users add` / `topup`)."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import expect

from tests.dashboard.actions_support import wait_for_command
from tests.dashboard.conftest import open_dashboard
from tests.ocpp_adapter.test_v201 import ocpp_base, session_start, station
from tests.support.chargers import simulated_charger

TIMEOUT_MS = 15_000


async def test_stop_session_from_the_page_sends_remote_stop(city, browser):
    page = await open_dashboard(browser, city)
    async with simulated_charger(city, "CP2") as cp:
        await cp.boot()
        tx = await cp.charge("CARD1", meter_start=0)
        row = page.locator('tr[data-cp="CP2"]')
        stop = row.get_by_role("button", name="Stop session")
        await expect(stop).to_be_visible(timeout=TIMEOUT_MS)
        await stop.click()
        cin = await wait_for_command(city, "CP2", "RemoteStopTransaction")
        assert cin["con"]["request"] == {"transactionId": tx}
        assert "CAdmin" in cin["con"]["reason"]
        assert await asyncio.wait_for(cp.remote_stops.get(), 15) == tx
        await expect(page.locator("#notices li").first).to_contain_text(
            "RemoteStopTransaction on CP2: answered", timeout=TIMEOUT_MS
        )
    assert page.errors == []


async def test_set_unavailable_from_the_page_sends_change_availability(city, browser):
    page = await open_dashboard(browser, city)
    async with simulated_charger(city, "CP3") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        button = page.locator('tr[data-cp="CP3"]').get_by_role("button", name="Set unavailable")
        await expect(button).to_be_visible(timeout=TIMEOUT_MS)
        await button.click()
        cin = await wait_for_command(city, "CP3", "ChangeAvailability")
        assert cin["con"]["request"] == {"connectorId": 0, "type": "Inoperative"}
        assert await asyncio.wait_for(cp.availability.get(), 15) == (0, "Inoperative")
    assert page.errors == []


async def test_add_user_and_top_up_from_the_page(city, browser):
    page = await open_dashboard(browser, city, "sessions")
    form = page.locator("#add-user")
    await form.locator("[name=idTag]").fill("new42")
    await form.locator("[name=balance]").fill("12.50")
    await form.locator("[name=budget]").fill("5")
    await form.get_by_role("button").click()
    await expect(page.locator("#notices li").first).to_have_text("user NEW42 added")
    user = page.locator('#users tr[data-tag="NEW42"]')
    await expect(user.locator(".balance")).to_have_text("12.50", timeout=TIMEOUT_MS)

    topup = page.locator("#topup")
    await topup.locator("[name=idTag]").fill("NEW42")
    await topup.locator("[name=amount]").fill("0.10")
    await topup.get_by_role("button").click()
    await expect(user.locator(".balance")).to_have_text("12.60", timeout=TIMEOUT_MS)

    shown = city.cli_json("users", "show", "NEW42")
    assert shown["balance"] == "12.60"
    assert shown["budget"] == "5.00"
    assert [(w["reason"], w["change"], w["seq"]) for w in shown["wallet"]] == [
        ("initial", "12.50", 1),
        ("topup", "0.10", 2),
    ]
    await user.click()
    await expect(page.locator("#user-detail .balance")).to_have_text("12.60")
    await expect(page.locator("#user-detail tbody tr")).to_have_count(2)
    await topup.locator("[name=amount]").fill("1")
    await topup.get_by_role("button").click()
    await expect(page.locator("#user-detail .balance")).to_have_text("13.60")
    newest = page.locator("#user-detail tbody tr").first
    await expect(newest).to_contain_text("topup1.0013.60")
    await expect(newest.locator("td").first).to_have_text(re.compile(r"\d\d:\d\d:\d\d"))
    assert page.errors == []


@pytest.mark.parametrize(
    ("tag", "amount", "message"),
    [
        ("CARD1", "-5", "is not an amount"),
        ("CARD1", "1.005", "is not an amount"),
        ("CARD1", "0", "more than zero"),
        ("CARD1", "ten", "is not an amount"),
        ("NOSUCH", "5", "no user NOSUCH"),
        ("a/b", "5", "not a valid idTag"),
    ],
)
async def test_bad_top_up_is_refused_and_changes_nothing(city, browser, tag, amount, message):
    page = await open_dashboard(browser, city, "sessions")
    topup = page.locator("#topup")
    await topup.locator("[name=idTag]").fill(tag)
    await topup.locator("[name=amount]").fill(amount)
    await topup.get_by_role("button").click()
    await expect(page.locator("#notices li.error").first).to_contain_text(message)
    shown = city.cli_json("users", "show", "CARD1")
    assert shown["balance"] == "50.00"
    assert len(shown["wallet"]) == 1


async def test_adding_an_existing_user_is_refused_and_changes_nothing(city, browser):
    page = await open_dashboard(browser, city, "sessions")
    form = page.locator("#add-user")
    await form.locator("[name=idTag]").fill("card1")
    await form.locator("[name=balance]").fill("99")
    await form.get_by_role("button").click()
    await expect(page.locator("#notices li.error").first).to_contain_text(
        "user CARD1 already exists"
    )
    shown = city.cli_json("users", "show", "CARD1")
    assert shown["balance"] == "50.00"
    assert len(shown["wallet"]) == 1


async def test_page_shows_the_outcome_the_central_system_records(city, browser):
    """The outcome the central system records for a command from the page shows on the
    page's notice for the command and in the audit trail."""
    page = await open_dashboard(browser, city)
    async with simulated_charger(city, "CP4") as cp:
        await cp.boot()
        await cp.status(1, "Available")
        button = page.locator('tr[data-cp="CP4"]').get_by_role("button", name="Set unavailable")
        await expect(button).to_be_visible(timeout=TIMEOUT_MS)
        await button.click()
        command = await wait_for_command(city, "CP4", "ChangeAvailability")
        notice = page.locator(f'#notices li[data-command="{command["ri"]}"]')
        await expect(notice).to_have_text(
            'ChangeAvailability on CP4: answered {"status":"Accepted"}', timeout=TIMEOUT_MS
        )
    await expect(notice).to_have_class("ok")
    await page.get_by_role("button", name="Safety").click()
    row = page.locator("#audit tbody tr").first
    await expect(row).to_contain_text("ChangeAvailability")
    await expect(row).to_contain_text("answered")
    await expect(row).to_contain_text("CAdmin")
    await page.reload()
    await page.wait_for_selector("body[data-loaded]")
    await page.get_by_role("button", name="Safety").click()
    await expect(page.locator("#audit tbody")).to_contain_text("answered")
    assert page.errors == []


async def test_top_up_racing_the_billing_loses_no_money(city, browser):
    """A top-up from the page while the central system settles a session on the same wallet:
    both append the next wallet instance; whichever comes second retries, nothing is lost."""
    page = await open_dashboard(browser, city, "sessions")
    topup = page.locator("#topup")
    async with simulated_charger(city, "RACE") as cp:
        await cp.boot()
        for round_ in range(3):
            start = round_ * 2000  # a new session, not a retransmitted start
            tx = await cp.charge("CARD1", meter_start=start)
            await cp.meter(tx, start + 1000, minutes=5 + round_)
            await topup.locator("[name=idTag]").fill("CARD1")
            await topup.locator("[name=amount]").fill("5.05")
            await asyncio.gather(
                topup.get_by_role("button").click(),
                cp.stop_session(tx, start + 1000, at=cp.at(6 + round_)),
            )
            # This round's notice, not the one the round before left at the top.
            done = page.locator("#notices li", has_text="topped up CARD1")
            await expect(done).to_have_count(round_ + 1)
    shown = city.cli_json("users", "show", "CARD1")
    # 50.00 + 3 x 5.05 top-ups - 3 x 0.30 for 1 kWh each
    assert shown["balance"] == "64.25"
    seqs = [w["seq"] for w in shown["wallet"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert sorted(w["reason"] for w in shown["wallet"]).count("topup") == 3
    await expect(page.locator('#users tr[data-tag="CARD1"] .balance')).to_have_text("64.25")
    assert page.errors == []


async def test_users_and_chargers_made_elsewhere_appear_and_go_live(city, browser):
    page = await open_dashboard(browser, city, "sessions")
    city.cli("users", "add", "--id-tag", "CLI7", "--balance", "7.70")
    await expect(page.locator('#users tr[data-tag="CLI7"] .balance')).to_have_text("7.70")
    await page.get_by_role("button", name="Chargers").click()
    async with simulated_charger(city, "GONE") as cp:
        await cp.boot()
        await expect(page.locator('tr[data-cp="GONE"]')).to_be_visible(timeout=TIMEOUT_MS)
    reply = city.admin().delete("cse-in/cp-GONE")
    assert reply.status == 200, reply
    await expect(page.locator('tr[data-cp="GONE"]')).to_have_count(0, timeout=TIMEOUT_MS)
    assert page.errors == []


async def test_stop_and_set_unavailable_from_the_page_reach_a_2_0_1_charger(city, browser):
    page = await open_dashboard(browser, city)
    async with station(ocpp_base(city), "V201") as cp:
        await cp.boot()
        await session_start(cp, "CARD1", "station-tx-9")
        row = page.locator('tr[data-cp="V201"]')
        stop = row.get_by_role("button", name="Stop session")
        await expect(stop).to_be_visible(timeout=TIMEOUT_MS)
        await stop.click()
        assert await asyncio.wait_for(cp.received.get(), 15) == (
            "RequestStopTransaction", {"transaction_id": "station-tx-9"},
        )  # fmt: skip
        await expect(page.locator("#notices li").first).to_contain_text(
            "RemoteStopTransaction on V201: answered", timeout=TIMEOUT_MS
        )
        await row.get_by_role("button", name="Set unavailable").click()
        assert await asyncio.wait_for(cp.received.get(), 15) == (
            "ChangeAvailability", {"operational_status": "Inoperative"},
        )  # fmt: skip
        cin = await wait_for_command(city, "V201", "ChangeAvailability")
        assert cin["con"]["request"] == {"connectorId": 0, "type": "Inoperative"}
    assert page.errors == []
