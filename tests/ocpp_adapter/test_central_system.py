"""The OCPP 1.6J central system end to end: real citycse, real websockets, `ocpp` charge points."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from ocpp.v16 import call
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.ocpp_adapter.conftest import OcppCSE
from tests.support.chargers import charge_point
from tests.support.client import unique

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def energy(minutes: float, wh: int) -> list[dict]:
    return [
        {
            "timestamp": at(minutes),
            "sampledValue": [{"value": str(wh), "measurand": "Energy.Active.Import.Register"}],
        }
    ]


def tag() -> str:
    return unique("T")[:12].upper()


def cp_name() -> str:
    return unique("cp")


def add_user(cse: OcppCSE, id_tag: str, balance: str, *extra: str) -> None:
    cse.cli("users", "add", "--id-tag", id_tag, "--balance", balance, *extra)


def balance(cse: OcppCSE, id_tag: str) -> Decimal:
    return Decimal(cse.cli_json("users", "show", id_tag)["balance"])


def instances(cse: OcppCSE, path: str, **query: str) -> list[dict]:
    client = cse.admin()
    try:
        reply = client.retrieve(path, params={"rcn": "8", "ty": "4", **query})
        assert reply.rsc == 2000, reply
        return sorted(reply.body["m2m:cnt"].get("m2m:cin", []), key=lambda c: c["st"])
    finally:
        client.close()


def retrieve(cse: OcppCSE, path: str) -> tuple[int | None, dict | None]:
    client = cse.admin()
    try:
        reply = client.retrieve(path)
        return reply.rsc, reply.body
    finally:
        client.close()


async def start(cp, id_tag: str, meter_start: int = 1000, minutes: float = 0, connector=1):
    return await cp.send(
        call.StartTransaction(
            connector_id=connector, id_tag=id_tag, meter_start=meter_start, timestamp=at(minutes)
        )
    )


async def stop(cp, transaction_id: int, meter_stop: int, minutes: float = 60, id_tag=None):
    return await cp.send(
        call.StopTransaction(
            meter_stop=meter_stop,
            timestamp=at(minutes),
            transaction_id=transaction_id,
            id_tag=id_tag,
            reason="Local",
        )
    )


# -- registration ---------------------------------------------------------------------------


async def test_boot_registers_the_charger_as_an_ae(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        assert await cp.boot() == "Accepted"
        beat = await cp.send(call.Heartbeat())
        assert beat.current_time.endswith("Z")
        await cp.send(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        firmware = await cp.send(call.FirmwareStatusNotification(status="Installed"))
        assert firmware is not None
    rsc, body = retrieve(ocpp_cse, f"cse-in/cp-{cp_id}")
    assert rsc == 2000, body
    assert body["m2m:ae"]["aei"] == f"Ccp-{cp_id}"
    assert f"chargePoint:{cp_id}" in body["m2m:ae"]["lbl"]
    info = instances(ocpp_cse, f"cse-in/cp-{cp_id}/info")
    assert info[-1]["con"]["chargePointVendor"] == "TestCo"
    status = instances(ocpp_cse, f"cse-in/cp-{cp_id}/status")
    assert {"connectorId": 1, "errorCode": "NoError", "status": "Available"}.items() <= status[0][
        "con"
    ].items()
    listed = {c["chargePointId"]: c for c in ocpp_cse.cli_json("chargers", "list")}
    assert listed[cp_id]["vendor"] == "TestCo"


# -- authorisation --------------------------------------------------------------------------


async def test_unknown_card_is_invalid_and_recorded(ocpp_cse: OcppCSE):
    cp_id, card = cp_name(), tag()
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        result = await cp.send(call.Authorize(id_tag=card))
    assert result.id_tag_info["status"] == "Invalid"
    refusals = instances(ocpp_cse, "cse-in/evcs/authorizations", lbl=f"idTag:{card}")
    assert [r["con"]["reason"] for r in refusals] == ["user not found"]
    assert refusals[0]["con"]["chargePointId"] == cp_id


async def test_low_balance_is_blocked_and_idtag_is_case_insensitive(ocpp_cse: OcppCSE):
    poor, rich = tag(), tag()
    add_user(ocpp_cse, poor, "0.50")
    add_user(ocpp_cse, rich.lower(), "10.00")
    async with charge_point(ocpp_cse, cp_name()) as cp:
        await cp.boot()
        blocked = await cp.send(call.Authorize(id_tag=poor))
        accepted = await cp.send(call.Authorize(id_tag=rich.lower().capitalize()))
    assert blocked.id_tag_info["status"] == "Blocked"
    assert accepted.id_tag_info["status"] == "Accepted"
    refusals = instances(ocpp_cse, "cse-in/evcs/authorizations", lbl=f"idTag:{poor}")
    assert refusals[-1]["con"]["reason"] == "insufficient balance"


# -- billing --------------------------------------------------------------------------------


async def full_session(cse: OcppCSE) -> None:
    card, cp_id = tag(), cp_name()
    add_user(cse, card, "50.00", "--budget", "20.00")
    async with charge_point(cse, cp_id) as cp:
        assert await cp.boot() == "Accepted"
        assert (await cp.send(call.Authorize(id_tag=card))).id_tag_info["status"] == "Accepted"
        started = await start(cp, card.lower(), meter_start=1000)
        assert started.id_tag_info["status"] == "Accepted"
        txid = started.transaction_id
        assert balance(cse, card) == Decimal("30.00")  # 20.00 held
        await cp.send(call.MeterValues(connector_id=1, transaction_id=txid,
                                       meter_value=energy(30, 6000)))  # fmt: skip
        done = await stop(cp, txid, 11000, id_tag=card)
        assert done.id_tag_info["status"] == "Accepted"
    # 10 kWh at 0.30 = 3.00; 17.00 of the 20.00 hold refunded
    shown = cse.cli_json("users", "show", card)
    assert shown["idTag"] == card
    assert Decimal(shown["balance"]) == Decimal("47.00")
    wallet = instances(cse, f"cse-in/evcs/users/{card}/wallet")
    assert [(w["con"]["reason"], w["con"]["change"], w["con"]["balance"]) for w in wallet] == [
        ("initial", "50.00", "50.00"),
        ("hold", "-20.00", "30.00"),
        ("refund", "17.00", "47.00"),
    ]
    assert wallet[-1]["con"]["transactionId"] == txid
    for path in (f"cse-in/evcs/users/{card}/transactions", f"cse-in/cp-{cp_id}/transactions"):
        records = instances(cse, path)
        assert len(records) == 1, path
        record = records[0]["con"]
        assert (record["energyWh"], record["cost"], record["refund"], record["charged"]) == (
            10000,
            "3.00",
            "17.00",
            "3.00",
        )
        assert record["transactionId"] == txid and record["idTag"] == card


async def test_full_session_holds_settles_and_refunds(ocpp_cse: OcppCSE):
    await full_session(ocpp_cse)


@pytest.mark.postgresql
async def test_full_session_on_postgresql(postgresql_ocpp_cse: OcppCSE):
    await full_session(postgresql_ocpp_cse)


async def test_tariff_change_during_a_session_prices_each_part_at_its_tariff(ocpp_cse: OcppCSE):
    # Tariffs that take effect in 2030 do not touch the other tests' sessions (March 2026).
    later = datetime(2030, 1, 1, tzinfo=UTC)
    for minutes, price in ((0, "0.40"), (30, "0.60")):
        valid_from = (later + timedelta(minutes=minutes)).isoformat()
        ocpp_cse.cli("tariff", "set", "--price-per-kwh", price, "--valid-from", valid_from)
    await asyncio.sleep(2.5)  # the adapter re-reads the tariffs at most every 2 s
    card, cp_id = tag(), cp_name()
    add_user(ocpp_cse, card, "50.00", "--budget", "20.00")
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        started = await cp.send(
            call.StartTransaction(connector_id=1, id_tag=card, meter_start=0,
                                  timestamp=later.isoformat())
        )  # fmt: skip
        end = (later + timedelta(minutes=60)).isoformat()
        await cp.send(
            call.StopTransaction(meter_stop=10000, timestamp=end,
                                 transaction_id=started.transaction_id)
        )  # fmt: skip
    # 10 kWh evenly over the hour: 5 kWh at 0.40 + 5 kWh at 0.60
    record = instances(ocpp_cse, f"cse-in/evcs/users/{card}/transactions")[0]["con"]
    assert (record["cost"], record["pricePerKwh"], record["refund"]) == ("5.00", "0.40", "15.00")
    assert balance(ocpp_cse, card) == Decimal("45.00")


async def test_budget_cut_off_sends_remote_stop(ocpp_cse: OcppCSE):
    card, cp_id = tag(), cp_name()
    add_user(ocpp_cse, card, "50.00")
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        asked = await cp.send(
            call.DataTransfer(
                vendor_id="citycse",
                message_id="SetBudget",
                data=json.dumps({"idTag": card, "amount": "1.00"}),
            )
        )
        assert asked.status == "Accepted"
        other = await cp.send(call.DataTransfer(vendor_id="acme", message_id="x"))
        assert other.status == "UnknownVendorId"
        txid = (await start(cp, card, meter_start=0)).transaction_id
        assert balance(ocpp_cse, card) == Decimal("49.00")
        await cp.send(call.MeterValues(connector_id=1, transaction_id=txid,
                                       meter_value=energy(10, 2000)))  # fmt: skip
        assert cp.remote_stops.empty()  # 0.60 < 1.00
        await cp.send(call.MeterValues(connector_id=1, transaction_id=txid,
                                       meter_value=energy(20, 4000)))  # fmt: skip
        stopped = await asyncio.wait_for(cp.remote_stops.get(), 10)
        assert stopped == txid
        await stop(cp, txid, 4000, minutes=21)
    # cost 1.20 but never more than the 1.00 held
    assert balance(ocpp_cse, card) == Decimal("49.00")
    record = instances(ocpp_cse, f"cse-in/evcs/users/{card}/transactions")[0]["con"]
    assert (record["cost"], record["charged"], record["refund"]) == ("1.20", "1.00", "0.00")
    results = [c["con"] for c in instances(ocpp_cse, f"cse-in/cp-{cp_id}/results")]
    assert [(r["action"], r["status"], r["response"], r["reason"]) for r in results] == [
        ("RemoteStopTransaction", "answered", {"status": "Accepted"}, "budget exhausted")
    ]
    assert results[0]["request"] == {"transactionId": txid}
    assert results[0]["requestedBy"] == "Cevcs" and results[0]["command"] is None


async def test_retransmits_reconnect_and_duplicate_stop_bill_once(ocpp_cse: OcppCSE):
    card, cp_id = tag(), cp_name()
    add_user(ocpp_cse, card, "20.00", "--budget", "5.00")
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        first = await start(cp, card, meter_start=500)
        again = await start(cp, card, meter_start=500)  # retransmitted: same id, one hold
        assert again.transaction_id == first.transaction_id
        txid = first.transaction_id
        assert balance(ocpp_cse, card) == Decimal("15.00")
        await stop(cp, txid, 3500)
    # the charger reconnects (it did not see the answer) and sends the stop again, twice
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        await stop(cp, txid, 3500)
        await stop(cp, txid, 3500)
    assert balance(ocpp_cse, card) == Decimal("19.10")  # 3 kWh = 0.90
    wallet = instances(ocpp_cse, f"cse-in/evcs/users/{card}/wallet")
    assert [w["con"]["reason"] for w in wallet] == ["initial", "hold", "refund"]
    assert len(instances(ocpp_cse, f"cse-in/evcs/users/{card}/transactions")) == 1
    assert len(instances(ocpp_cse, f"cse-in/cp-{cp_id}/transactions")) == 1


async def test_a_reconnect_replaces_the_stale_socket(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with (
        connect(ocpp_cse.ocpp_url(cp_id), subprotocols=["ocpp1.6"]) as old,
        charge_point(ocpp_cse, cp_id) as cp,
    ):
        assert await cp.boot() == "Accepted"
        await asyncio.wait_for(old.wait_closed(), 5)
        assert old.close_code == 1001
        assert (await cp.send(call.Heartbeat())).current_time


async def test_one_card_on_two_chargers_never_goes_negative(ocpp_cse: OcppCSE):
    card = tag()
    add_user(ocpp_cse, card, "10.00", "--budget", "6.00")
    async with charge_point(ocpp_cse, cp_name()) as a, charge_point(ocpp_cse, cp_name()) as b:
        await asyncio.gather(a.boot(), b.boot())
        sa, sb = await asyncio.gather(start(a, card), start(b, card))
        assert {sa.id_tag_info["status"], sb.id_tag_info["status"]} == {"Accepted"}
        assert balance(ocpp_cse, card) == Decimal("0.00")  # 6.00 + 4.00 held
        third = await start(a, card, connector=2)
        assert third.id_tag_info["status"] == "Blocked"
        # 30 kWh each = 9.00 each, far beyond both holds
        await asyncio.gather(stop(a, sa.transaction_id, 31000), stop(b, sb.transaction_id, 31000))
        await stop(a, third.transaction_id, 1000)
    wallet = instances(ocpp_cse, f"cse-in/evcs/users/{card}/wallet")
    assert all(Decimal(w["con"]["balance"]) >= 0 for w in wallet)
    charged = [
        Decimal(t["con"]["charged"])
        for t in instances(ocpp_cse, f"cse-in/evcs/users/{card}/transactions")
    ]
    assert sum(charged) == Decimal("10.00")
    assert balance(ocpp_cse, card) == Decimal("0.00")


async def test_stop_of_unknown_transaction_is_answered_and_stored(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        answer = await stop(cp, 987654, 4200)
        assert answer is not None
        assert (await cp.send(call.Heartbeat())).current_time
    orphans = instances(ocpp_cse, "cse-in/evcs/orphans", lbl=f"chargePoint:{cp_id}")
    assert len(orphans) == 1
    assert orphans[0]["con"]["transactionId"] == 987654
    assert orphans[0]["con"]["status"] == "unreconciled"
    assert instances(ocpp_cse, f"cse-in/cp-{cp_id}/transactions")[0]["con"]["meterStop"] == 4200


# -- connection -----------------------------------------------------------------------------


async def test_handshake_needs_the_ocpp16_subprotocol_and_a_charger_path(ocpp_cse: OcppCSE):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ocpp_cse.ocpp_url(cp_name())):
            pass
    assert refused.value.response.status_code == 400
    with pytest.raises(InvalidStatus) as refused:
        other = f"ws://127.0.0.1:{ocpp_cse.ocpp_port}/other/x"
        async with connect(other, subprotocols=["ocpp1.6"]):
            pass
    assert refused.value.response.status_code == 404


async def test_basic_auth_with_a_configured_password(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    ocpp_cse.cli("chargers", "password", cp_id, "--set", "0123456789abcdef0123")
    for password in (None, "wrong-password-000000"):
        with pytest.raises(InvalidStatus) as refused:
            async with charge_point(ocpp_cse, cp_id, password):
                pass
        assert refused.value.response.status_code == 401
    async with charge_point(ocpp_cse, cp_id, "0123456789abcdef0123") as cp:
        assert await cp.boot() == "Accepted"
    credentials = instances(ocpp_cse, f"cse-in/evcs/credentials/{cp_id}")
    assert "0123456789abcdef0123" not in json.dumps(credentials)


# -- restart --------------------------------------------------------------------------------


async def test_a_session_survives_a_restart_of_the_cse_and_adapter(fresh_ocpp_cse: OcppCSE):
    cse = fresh_ocpp_cse
    card, cp_id = tag(), cp_name()
    add_user(cse, card, "30.00", "--budget", "10.00")
    async with charge_point(cse, cp_id) as cp:
        await cp.boot()
        txid = (await start(cp, card, meter_start=2000)).transaction_id
        await cp.send(call.MeterValues(connector_id=1, transaction_id=txid,
                                       meter_value=energy(20, 4000)))  # fmt: skip
    await asyncio.to_thread(cse.restart)
    assert balance(cse, card) == Decimal("20.00")
    async with charge_point(cse, cp_id) as cp:
        await cp.boot()
        await stop(cp, txid, 7000)
        other = await start(cp, card, meter_start=7000, minutes=70)
        assert other.transaction_id > txid
        await stop(cp, other.transaction_id, 7000, minutes=71)
    # 5 kWh = 1.50 charged from the 10.00 hold taken before the restart
    assert balance(cse, card) == Decimal("28.50")
    record = instances(cse, f"cse-in/evcs/users/{card}/transactions")[0]["con"]
    assert (record["transactionId"], record["energyWh"], record["charged"]) == (txid, 5000, "1.50")


async def test_an_asked_budget_survives_a_restart_and_serves_one_session(fresh_ocpp_cse: OcppCSE):
    cse = fresh_ocpp_cse
    card, cp_id = tag(), cp_name()
    add_user(cse, card, "30.00", "--budget", "10.00")
    async with charge_point(cse, cp_id) as cp:
        await cp.boot()
        for amount in ("4.00", "2.50"):
            asked = await cp.send(
                call.DataTransfer(
                    vendor_id="citycse",
                    message_id="SetBudget",
                    data=json.dumps({"idTag": card.lower(), "amount": amount}),
                )
            )
            assert asked.status == "Accepted"
    await asyncio.to_thread(cse.restart)
    async with charge_point(cse, cp_id) as cp:
        await cp.boot()
        first = (await start(cp, card, meter_start=0)).transaction_id
        assert balance(cse, card) == Decimal("27.50"), "the newest asked amount is held"
        await stop(cp, first, 0, minutes=1)
        second = (await start(cp, card, meter_start=0, minutes=2)).transaction_id
        assert balance(cse, card) == Decimal("20.00"), "the next session holds the default"
        await stop(cp, second, 0, minutes=3)
    assert balance(cse, card) == Decimal("30.00")
    assert instances(cse, "cse-in/evcs/budgets") == []


# -- the adapter as its own process ---------------------------------------------------------


async def test_standalone_adapter_speaks_http_to_the_cse(ocpp_cse: OcppCSE):
    import subprocess
    import sys

    from tests.support.server import clean_env, free_port, port_open

    ocpp_command = [sys.executable, "-m", "cse", "ocpp"]
    accept_unknown = ["--unknown-chargers", "accept"]

    port = free_port()
    process = subprocess.Popen(
        [*ocpp_command, "--cse-url", ocpp_cse.base_url, "--port", str(port), *accept_unknown],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    try:
        for _ in range(100):
            if port_open("127.0.0.1", port):
                break
            await asyncio.sleep(0.1)
        card, cp_id = tag(), cp_name()
        add_user(ocpp_cse, card, "5.00")
        standalone = OcppCSE(ocpp_cse.server, ocpp_cse.db, port)
        async with charge_point(standalone, cp_id) as cp:
            assert await cp.boot() == "Accepted"
            txid = (await start(cp, card, meter_start=0)).transaction_id
            await stop(cp, txid, 1000)
        assert balance(ocpp_cse, card) == Decimal("4.70")
        rsc, body = retrieve(ocpp_cse, f"cse-in/cp-{cp_id}")
        assert rsc == 2000 and body["m2m:ae"]["aei"] == f"Ccp-{cp_id}"
    finally:
        process.terminate()
        process.wait(timeout=10)
