"""Interlocks end to end: a real citycse with the adapter, chargers on the `ocpp` package,
fire alarms and grid feeds that are real AEs writing over HTTP (the `citycse sim` CLI or
plain oneM2M requests). Assertions on what the chargers received, on the balances and on
the audit records in the tree."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v201 import call as call_v201

from tests.ocpp_adapter.conftest import OcppCSE, launch_ocpp, shutdown_ocpp
from tests.ocpp_adapter.test_v201 import (
    StationV201,
    card,
    ocpp_base,
    session_end,
    session_start,
    station,
)
from tests.support.chargers import SimulatedCharger, charge_point, now_iso, simulated_charger
from tests.support.server import clean_env

WAIT = 10.0


def sim(cse: OcppCSE, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "cse", "sim", *args, "--json", "--cse-url", cse.base_url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=clean_env())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


async def next_item(queue: asyncio.Queue, timeout: float = WAIT) -> Any:
    return await asyncio.wait_for(queue.get(), timeout)


async def nothing_in(queue: asyncio.Queue, seconds: float = 1.0) -> bool:
    try:
        await asyncio.wait_for(queue.get(), seconds)
    except TimeoutError:
        return True
    return False


def actions(cse: OcppCSE, action: str) -> list[dict[str, Any]]:
    found = cse.admin().retrieve(
        f"/{cse.server.cse_rn}/interlocks/actions",
        params={"rcn": "8", "ty": "4", "lbl": f"action:{action}"},
    )
    assert found.status == 200, found.http.text
    return [c["con"] for c in found.body.get("m2m:cnt", {}).get("m2m:cin", [])]


async def eventually(probe: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(probe)
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


def balance(cse: OcppCSE, tag: str) -> Decimal:
    return Decimal(cse.cli_json("users", "show", tag)["balance"])


def refusals(cse: OcppCSE, cp_id: str) -> list[dict[str, Any]]:
    found = cse.admin().retrieve(
        f"/{cse.server.cse_rn}/evcs/authorizations",
        params={"rcn": "8", "ty": "4", "lbl": f"chargePoint:{cp_id}"},
    )
    return [c["con"] for c in found.body.get("m2m:cnt", {}).get("m2m:cin", [])]


@pytest.fixture
def cse(request: pytest.FixtureRequest) -> Any:
    """A citycse with the adapter of its own (SQLite unless the test asks for another)."""
    cse = launch_ocpp(getattr(request, "param", "sqlite"))
    cse.cli("tariff", "set", "--price-per-kwh", "0.30")
    yield cse
    shutdown_ocpp(cse)


async def boot_in(
    cse: OcppCSE, cp: SimulatedCharger | StationV201, site: str, feeder: str | None = None
) -> None:
    assert await cp.boot() == "Accepted"
    args = ["chargers", "assign", cp.id, "--site", site]
    if feeder:
        args += ["--feeder", feeder]
    await asyncio.to_thread(cse.cli, *args)


@pytest.mark.parametrize("cse", ["sqlite", "postgresql"], indirect=True)
async def test_fire_alarm_stops_locks_refuses_and_clears_only_its_site(cse: OcppCSE) -> None:
    cse.cli("users", "add", "--id-tag", "CARDA", "--balance", "50.00", "--budget", "20.00")
    cse.cli("users", "add", "--id-tag", "CARDB", "--balance", "50.00", "--budget", "20.00")
    async with simulated_charger(cse, "ia1") as a1, simulated_charger(cse, "ib1") as b1:
        await boot_in(cse, a1, "A")
        await boot_in(cse, b1, "B")
        tx_a, status_a = await a1.start_session("CARDA", 1000)
        tx_b, status_b = await b1.start_session("CARDB", 1000)
        assert (status_a, status_b) == ("Accepted", "Accepted")

        alarm = await asyncio.to_thread(sim, cse, "fire-alarm", "--site", "A", "--state", "active")
        assert alarm["aei"] == "Cfirealarm-A"
        assert alarm["container"] == f"{cse.server.cse_rn}/firealarm-A/alarm"

        assert await next_item(a1.remote_stops) == tx_a
        assert await next_item(a1.availability) == (0, "Inoperative")
        calls = [(action, payload.get("type")) for action, payload in a1.received_so_far()]
        locked = ("ChangeAvailability", "Inoperative")
        assert calls.index(("RemoteStopTransaction", None)) < calls.index(locked)
        assert await nothing_in(b1.remote_stops) and b1.availability.empty()

        # The stopped session settles with its refund: 2 kWh at 0.30 of a 20.00 hold.
        await a1.stop_session(tx_a, 3000)
        assert await asyncio.to_thread(balance, cse, "CARDA") == Decimal("49.40")

        assert await a1.authorize("CARDA") == "Blocked"
        assert (await a1.start_session("CARDA", 3000))[1] == "Blocked"
        assert await b1.authorize("CARDB") == "Accepted"
        reasons = {r["reason"] for r in await asyncio.to_thread(refusals, cse, "ia1")}
        assert reasons == {"fire alarm in site A"}

        locks = await eventually(lambda: actions(cse, "fire-alarm-lock"))
        assert len(locks) == 1
        lock = locks[0]
        assert lock["site"] == "A" and lock["trigger"]["resource"] == alarm["reading"]
        assert lock["trigger"]["device"] == "Cfirealarm-A"
        outcome = lock["chargers"]["ia1"]
        assert outcome["remoteStops"][0]["transactionId"] == tx_a
        assert outcome["remoteStops"][0]["response"] == {"status": "Accepted"}
        assert outcome["availability"]["response"] == {"status": "Accepted"}
        assert "ib1" not in lock["chargers"]

        await asyncio.to_thread(sim, cse, "fire-alarm", "--site", "A", "--state", "clear")
        assert await next_item(a1.availability) == (0, "Operative")
        assert await a1.authorize("CARDA") == "Accepted"
        clears = await eventually(lambda: actions(cse, "fire-alarm-clear"))
        assert clears[-1]["chargers"]["ia1"]["availability"]["status"] == "answered"
        await b1.stop_session(tx_b, 1000)


@pytest.mark.parametrize("cse", ["sqlite", "postgresql"], indirect=True)
async def test_alarm_stays_enforced_after_a_restart(cse: OcppCSE) -> None:
    cse.cli("users", "add", "--id-tag", "CARDR", "--balance", "50.00")
    async with simulated_charger(cse, "ir1") as cp:
        await boot_in(cse, cp, "R")
    await asyncio.to_thread(sim, cse, "fire-alarm", "--site", "R", "--state", "active")
    await eventually(lambda: actions(cse, "fire-alarm-lock"))
    await asyncio.to_thread(cse.restart)
    async with simulated_charger(cse, "ir1") as cp:
        assert await next_item(cp.availability) == (0, "Inoperative")
        assert await cp.authorize("CARDR") == "Blocked"
        await asyncio.to_thread(sim, cse, "fire-alarm", "--site", "R", "--state", "clear")
        assert await next_item(cp.availability) == (0, "Operative")
        assert await cp.authorize("CARDR") == "Accepted"
    assert await eventually(lambda: actions(cse, "recovered-lock"))


async def test_malformed_alarm_reading_is_recorded_and_not_acted_on(cse: OcppCSE) -> None:
    async with simulated_charger(cse, "im1") as cp:
        await boot_in(cse, cp, "M")
        alarm = await asyncio.to_thread(sim, cse, "fire-alarm", "--site", "M", "--state", "clear")
        device = cse.admin().as_(alarm["aei"])
        bad = {"con": json.dumps({"active": "yes"})}
        reply = await asyncio.to_thread(device.create, "/" + alarm["container"], 4, bad)
        assert reply.status == 201
        ignored = await eventually(lambda: actions(cse, "ignored-reading"))
        assert ignored[-1]["why"] == '"active" must be true or false'
        assert await nothing_in(cp.availability)
        assert await cp.authorize("NOSUCH") == "Invalid"


def at(offset: float) -> str:
    return now_iso(offset)


async def test_overload_window_blocks_sessions_on_its_feeder_for_the_window(cse: OcppCSE) -> None:
    cse.cli("users", "add", "--id-tag", "CARDG", "--balance", "50.00")
    async with simulated_charger(cse, "ig1") as f1, simulated_charger(cse, "ig2") as g1:
        await boot_in(cse, f1, "S", feeder="F")
        await boot_in(cse, g1, "S", feeder="G")
        await asyncio.to_thread(
            sim, cse, "grid", "--feeder", "F", "--overload", at(-1), at(8), "11000"
        )
        await eventually(lambda: actions(cse, "overload-block"))
        assert await f1.authorize("CARDG") == "Blocked"
        assert await g1.authorize("CARDG") == "Accepted"
        reasons = {r["reason"] for r in await asyncio.to_thread(refusals, cse, "ig1")}
        assert reasons == {"grid overload on feeder F"}
        await eventually(lambda: actions(cse, "overload-unblock"), timeout=20)
        assert await f1.authorize("CARDG") == "Accepted"


async def test_overload_window_limits_power_with_policy_limit() -> None:
    cse = launch_ocpp("sqlite", extra=["--ocpp-overload-policy", "limit"])
    try:
        async with simulated_charger(cse, "il1") as l1, simulated_charger(cse, "il2") as other:
            await boot_in(cse, l1, "S", feeder="L")
            await boot_in(cse, other, "S", feeder="M")
            await asyncio.to_thread(
                sim, cse, "grid", "--feeder", "L", "--overload", at(-1), at(6), "7400"
            )
            kind, profile = await next_item(l1.profiles)
            assert kind == "set"
            assert profile["charging_profile_purpose"] == "TxDefaultProfile"
            period = profile["charging_schedule"]["charging_schedule_period"][0]
            assert profile["charging_schedule"]["charging_rate_unit"] == "W"
            assert Decimal(str(period["limit"])) == Decimal(7400)
            async with simulated_charger(cse, "il3") as joiner:  # joins during the window
                await boot_in(cse, joiner, "S", feeder="L")
                kind, joined = await next_item(joiner.profiles)
                assert kind == "set" and joined == profile
                kind, cleared = await next_item(l1.profiles, timeout=15)
                assert kind == "clear" and cleared["id"] == profile["charging_profile_id"]
                assert (await next_item(joiner.profiles))[0] == "clear"
            assert other.profiles.empty()
            assert await l1.authorize("NOSUCH") == "Invalid"
        limits = await eventually(lambda: actions(cse, "overload-limit"))
        by_trigger = next(entry for entry in limits if "trigger" in entry)
        assert by_trigger["chargers"]["il1"]["profile"]["response"] == {"status": "Accepted"}
        assert "il2" not in by_trigger["chargers"]
        assert any(set(entry["chargers"]) == {"il3"} for entry in limits)
        assert await eventually(lambda: actions(cse, "overload-clear"))
    finally:
        shutdown_ocpp(cse)


async def test_surge_window_of_a_feeder_prices_its_energy_at_tariff_times_factor(
    cse: OcppCSE,
) -> None:
    cse.cli("users", "add", "--id-tag", "CARDS", "--balance", "50.00", "--budget", "20.00")
    cse.cli("users", "add", "--id-tag", "CARDT", "--balance", "50.00", "--budget", "20.00")
    async with simulated_charger(cse, "is1") as s1, simulated_charger(cse, "is2") as t1:
        await boot_in(cse, s1, "S", feeder="SURGE")
        await boot_in(cse, t1, "S", feeder="CALM")
        start, middle, end = at(-3600), at(-1800), at(0)
        await asyncio.to_thread(sim, cse, "grid", "--feeder", "SURGE", "--surge", middle, end, "2")
        await eventually(lambda: actions(cse, "forecast-taken"))
        # 10 kWh evenly over the last hour; the second half inside the surge window.
        tx_s, _ = await s1.start_session("CARDS", 0, at=start)
        tx_t, _ = await t1.start_session("CARDT", 0, at=start)
        await s1.stop_session(tx_s, 10000, at=end)
        await t1.stop_session(tx_t, 10000, at=end)
    assert await asyncio.to_thread(balance, cse, "CARDS") == Decimal("45.50")  # 1.50 + 3.00
    assert await asyncio.to_thread(balance, cse, "CARDT") == Decimal("47.00")  # 3.00 flat


class SilentCharger(SimulatedCharger):
    """A charger whose firmware hangs on RemoteStopTransaction: it never answers."""

    __test__ = False

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        self.remote_stops.put_nowait(transaction_id)
        await asyncio.sleep(3600)
        return call_result.RemoteStopTransaction(status="Accepted")


async def test_a_charger_that_does_not_answer_delays_no_other(cse: OcppCSE) -> None:
    cse.cli("users", "add", "--id-tag", "CARDH", "--balance", "50.00", "--budget", "5.00")
    async with (
        charge_point(cse, "ih-silent", kind=SilentCharger) as silent,
        simulated_charger(cse, "ih-ok") as ok,
    ):
        assert isinstance(silent, SilentCharger)
        await boot_in(cse, silent, "H")
        await boot_in(cse, ok, "H")
        tx_silent, _ = await silent.start_session("CARDH", 0)
        tx_ok, _ = await ok.start_session("CARDH", 0)
        started = time.monotonic()
        await asyncio.to_thread(sim, cse, "fire-alarm", "--site", "H", "--state", "active")
        assert await next_item(silent.remote_stops) == tx_silent
        assert await next_item(ok.remote_stops) == tx_ok
        assert await next_item(ok.availability) == (0, "Inoperative")
        # Far below the 30 s the central system waits for the silent charger.
        assert time.monotonic() - started < 15
        assert await ok.authorize("CARDH") == "Blocked"


async def test_malformed_forecast_is_recorded_and_not_acted_on(cse: OcppCSE) -> None:
    async with simulated_charger(cse, "ix1") as cp:
        await boot_in(cse, cp, "X", feeder="XF")
        feed = await asyncio.to_thread(sim, cse, "grid", "--feeder", "XF")
        device = cse.admin().as_(feed["aei"])
        bad = {"con": {"overloads": [{"start": at(-1), "end": at(-5), "limitW": 1000}]}}
        reply = await asyncio.to_thread(device.create, "/" + feed["container"], 4, bad)
        assert reply.status == 201
        ignored = await eventually(lambda: actions(cse, "ignored-reading"))
        assert ignored[-1]["why"] == "overload window ends before it starts"
        assert ignored[-1]["trigger"]["resource"] == reply.body["m2m:cin"]["ri"]
        assert not actions(cse, "overload-block")
        assert await cp.authorize("NOSUCH") == "Invalid"  # refused as unknown, not blocked


async def test_session_of_an_offline_charger_is_stopped_when_it_returns_after_a_restart(
    cse: OcppCSE,
) -> None:
    cse.cli("users", "add", "--id-tag", "CARDO", "--balance", "40.00", "--budget", "10.00")
    async with simulated_charger(cse, "io1") as cp:
        await boot_in(cse, cp, "O")
        tx, status = await cp.start_session("CARDO", 500, at=at(-600))
        assert status == "Accepted"
    await asyncio.to_thread(sim, cse, "fire-alarm", "--site", "O", "--state", "active")
    locks = await eventually(lambda: actions(cse, "fire-alarm-lock"))
    assert locks[-1]["chargers"]["io1"]["remoteStops"][0]["status"] == "offline"
    await asyncio.to_thread(cse.restart)
    async with simulated_charger(cse, "io1") as cp:
        assert await next_item(cp.remote_stops) == tx
        assert await next_item(cp.availability) == (0, "Inoperative")
        await cp.stop_session(tx, 1500)
    assert await asyncio.to_thread(balance, cse, "CARDO") == Decimal("39.70")  # 1 kWh


async def test_feeder_surge_windows_survive_a_restart(cse: OcppCSE) -> None:
    cse.cli("users", "add", "--id-tag", "CARDU", "--balance", "50.00", "--budget", "20.00")
    async with simulated_charger(cse, "iu1") as cp:
        await boot_in(cse, cp, "U", feeder="UF")
    start, middle, end = at(-3600), at(-1800), at(0)  # fixed: the restart takes a while
    await asyncio.to_thread(sim, cse, "grid", "--feeder", "UF", "--surge", middle, end, "3")
    await eventually(lambda: actions(cse, "forecast-taken"))
    await asyncio.to_thread(cse.restart)
    async with simulated_charger(cse, "iu1") as cp:
        tx, _ = await cp.start_session("CARDU", 0, at=start)
        await cp.stop_session(tx, 10000, at=end)
    assert await asyncio.to_thread(balance, cse, "CARDU") == Decimal("44.00")  # 1.50 + 4.50


# -- OCPP 2.0.1 chargers: the same interlocks, in 2.0.1 calls ---------------------------------


async def authorize_v201(cp: StationV201, id_tag: str) -> str:
    result = await cp.send(call_v201.Authorize(id_token=card(id_tag)))
    return result.id_token_info["status"]


async def test_fire_alarm_stops_and_locks_a_2_0_1_charger_like_a_1_6_one(cse: OcppCSE) -> None:
    cse.cli("users", "add", "--id-tag", "CARDV", "--balance", "50.00", "--budget", "20.00")
    async with station(ocpp_base(cse), "iv1") as v1, simulated_charger(cse, "iv2") as v2:
        await boot_in(cse, v1, "V")
        await boot_in(cse, v2, "V")
        await session_start(v1, "CARDV", "station-tx-1")
        await asyncio.to_thread(sim, cse, "fire-alarm", "--site", "V", "--state", "active")

        assert await next_item(v1.received) == (
            "RequestStopTransaction", {"transaction_id": "station-tx-1"},
        )  # fmt: skip
        assert await next_item(v1.received) == (
            "ChangeAvailability", {"operational_status": "Inoperative"},
        )  # fmt: skip
        assert await next_item(v2.availability) == (0, "Inoperative")  # the 1.6 charger of the site
        assert await authorize_v201(v1, "CARDV") == "Blocked"

        # The stopped session settles with its refund: 2 kWh at 0.30 of a 20.00 hold.
        await session_end(v1, "station-tx-1", 10, "3000")
        assert await asyncio.to_thread(balance, cse, "CARDV") == Decimal("49.40")

        locks = await eventually(lambda: actions(cse, "fire-alarm-lock"))
        outcome = locks[-1]["chargers"]["iv1"]
        assert outcome["remoteStops"][0]["response"] == {"status": "Accepted"}
        assert outcome["availability"]["response"] == {"status": "Scheduled"}

        await asyncio.to_thread(sim, cse, "fire-alarm", "--site", "V", "--state", "clear")
        assert await next_item(v1.received) == (
            "ChangeAvailability", {"operational_status": "Operative"},
        )  # fmt: skip
        assert await authorize_v201(v1, "CARDV") == "Accepted"
        assert v1.received.empty()


async def test_overload_window_limits_a_2_0_1_charger_with_policy_limit() -> None:
    cse = launch_ocpp("sqlite", extra=["--ocpp-overload-policy", "limit"])
    try:
        async with station(ocpp_base(cse), "iw1") as w1:
            await boot_in(cse, w1, "S", feeder="W")
            await asyncio.to_thread(
                sim, cse, "grid", "--feeder", "W", "--overload", at(-1), at(6), "7400"
            )
            action, request = await next_item(w1.received)
            assert (action, request["evse_id"]) == ("SetChargingProfile", 0)
            profile = request["charging_profile"]
            assert profile["charging_profile_purpose"] == "TxDefaultProfile"
            schedule = profile["charging_schedule"][0]
            assert schedule["charging_rate_unit"] == "W"
            assert schedule["charging_schedule_period"][0]["limit"] == 7400
            assert await next_item(w1.received, timeout=15) == (
                "ClearChargingProfile", {"charging_profile_id": profile["id"]},
            )  # fmt: skip
        limits = await eventually(lambda: actions(cse, "overload-limit"))
        assert limits[-1]["chargers"]["iw1"]["profile"]["response"] == {"status": "Accepted"}
        clears = await eventually(lambda: actions(cse, "overload-clear"))
        assert clears[-1]["chargers"]["iw1"]["profile"]["status"] == "answered"
    finally:
        shutdown_ocpp(cse)
