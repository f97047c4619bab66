"""The OCPP 2.0.1 central system end to end: real citycse, real websockets, `ocpp.v201`
charge points; billing through the same e-wallet records as OCPP 1.6."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ocpp_adapter.calls import CommandRejected
from ocpp_adapter.central_system_v201 import CentralSystemChargePointV201
from ocpp_adapter.cse_client import HttpClient
from ocpp_adapter.server import AdapterConfig, OcppAdapter
from tests.ocpp_adapter.conftest import OcppCSE, launch_ocpp, shutdown_ocpp
from tests.ocpp_adapter.test_central_system import (
    add_user,
    balance,
    cp_name,
    instances,
    retrieve,
    tag,
)
from tests.ocpp_adapter.test_commands import command, result_of
from tests.support.chargers import basic_auth, listening
from tests.support.client import unique

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
V201 = "ocpp2.0.1"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def reading(minutes: float, value: str, unit: str | None = None, context: str | None = None):
    sampled: dict[str, Any] = {"value": float(value), "measurand": "Energy.Active.Import.Register"}
    if unit is not None:
        sampled["unit_of_measure"] = {"unit": unit}
    if context is not None:
        sampled["context"] = context
    return [{"timestamp": at(minutes), "sampled_value": [sampled]}]


def card(id_tag: str) -> dict[str, str]:
    return {"id_token": id_tag, "type": "ISO14443"}


class StationV201(ChargePoint):
    """The charging station side: answers the central system's calls and records them."""

    __test__ = False

    def __init__(self, cp_id: str, connection: Any) -> None:
        super().__init__(cp_id, connection, response_timeout=15)
        self.received: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self.seq = 0

    def _got(self, action: str, **payload: Any) -> None:
        self.received.put_nowait((action, payload))

    @on("RequestStopTransaction")
    async def on_request_stop(self, **payload: Any) -> call_result.RequestStopTransaction:
        self._got("RequestStopTransaction", **payload)
        return call_result.RequestStopTransaction(status="Accepted")

    @on("RequestStartTransaction")
    async def on_request_start(self, **payload: Any) -> call_result.RequestStartTransaction:
        self._got("RequestStartTransaction", **payload)
        return call_result.RequestStartTransaction(status="Accepted", transaction_id="rs-1")

    @on("ChangeAvailability")
    async def on_change_availability(self, **payload: Any) -> call_result.ChangeAvailability:
        self._got("ChangeAvailability", **payload)
        return call_result.ChangeAvailability(status="Scheduled")

    @on("Reset")
    async def on_reset(self, **payload: Any) -> call_result.Reset:
        self._got("Reset", **payload)
        return call_result.Reset(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger_message(self, **payload: Any) -> call_result.TriggerMessage:
        self._got("TriggerMessage", **payload)
        return call_result.TriggerMessage(status="Accepted")

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **payload: Any) -> call_result.SetChargingProfile:
        self._got("SetChargingProfile", **payload)
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **payload: Any) -> call_result.ClearChargingProfile:
        self._got("ClearChargingProfile", **payload)
        return call_result.ClearChargingProfile(status="Accepted")

    @on("ClearCache")
    async def on_clear_cache(self, **payload: Any) -> call_result.ClearCache:
        """A slow answer: later than the central system waits in the timeout test."""
        await asyncio.sleep(3)
        return call_result.ClearCache(status="Accepted")

    async def send(self, payload: Any) -> Any:
        return await self.call(payload, suppress=False)

    async def boot(self) -> str:
        result = await self.send(
            call.BootNotification(
                charging_station={"model": "T2", "vendor_name": "TestCo", "serial_number": "S1"},
                reason="PowerUp",
            )
        )
        return result.status

    async def event(
        self,
        event_type: str,
        transaction_id: str,
        minutes: float,
        meter_value: list | None = None,
        id_token: dict | None = None,
        trigger: str = "MeterValuePeriodic",
        seq_no: int | None = None,
        offline: bool | None = None,
        stopped_reason: str | None = None,
        evse: int = 1,
    ) -> call_result.TransactionEvent:
        """A TransactionEvent; without `seq_no` the next number of this station."""
        if seq_no is None:
            seq_no, self.seq = self.seq, self.seq + 1
        info: dict[str, Any] = {"transaction_id": transaction_id}
        if stopped_reason is not None:
            info["stopped_reason"] = stopped_reason
        return await self.send(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=at(minutes),
                trigger_reason=trigger,
                seq_no=seq_no,
                transaction_info=info,
                meter_value=meter_value,
                offline=offline,
                evse={"id": evse, "connector_id": 1},
                id_token=id_token,
            )
        )


@contextlib.asynccontextmanager
async def station(
    url: str,
    cp_id: str,
    subprotocols: tuple[str, ...] = (V201,),
    password: str | None = None,
) -> AsyncIterator[StationV201]:
    headers = basic_auth(cp_id, password) if password is not None else None
    async with connect(
        f"{url}/{cp_id}", subprotocols=list(subprotocols), additional_headers=headers
    ) as ws:
        assert ws.subprotocol == V201
        async with listening(StationV201(cp_id, ws)) as cp:
            yield cp


def ocpp_base(cse: OcppCSE) -> str:
    return f"ws://127.0.0.1:{cse.ocpp_port}/ocpp"


async def session_start(cp: StationV201, card_tag: str, tx: str, wh: str = "1000") -> Any:
    return await cp.event(
        "Started", tx, 0, reading(0, wh, context="Transaction.Begin"), card(card_tag),
        trigger="Authorized",
    )  # fmt: skip


async def session_end(cp: StationV201, tx: str, minutes: float, wh: str, **kw: Any) -> Any:
    return await cp.event(
        "Ended", tx, minutes, reading(minutes, wh, context="Transaction.End"),
        trigger="StopAuthorized", stopped_reason="Local", **kw,
    )  # fmt: skip


def wallet_reasons(cse: OcppCSE, id_tag: str) -> list[tuple[str, str]]:
    return [
        (w["con"]["reason"], w["con"]["change"])
        for w in instances(cse, f"cse-in/evcs/users/{id_tag}/wallet")
    ]


# -- connection and registration ------------------------------------------------------------


async def test_boot_registers_the_charger_and_status_is_recorded(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    # offering both versions, in 1.6-first order, still gets the newest
    async with station(ocpp_base(ocpp_cse), cp_id, ("ocpp1.6", V201)) as cp:
        assert await cp.boot() == "Accepted"
        assert (await cp.send(call.Heartbeat())).current_time.endswith("Z")
        await cp.send(
            call.StatusNotification(
                timestamp=at(0), connector_status="Available", evse_id=1, connector_id=1
            )
        )
        await cp.send(call.MeterValues(evse_id=1, meter_value=reading(1, "4200")))
        await cp.send(call.NotifyEvent(generated_at=at(1), seq_no=0, event_data=[{
            "event_id": 1, "timestamp": at(1), "trigger": "Alerting", "actual_value": "x",
            "event_notification_type": "HardWiredNotification",
            "component": {"name": "Connector"}, "variable": {"name": "Problem"},
        }]))  # fmt: skip
        await cp.send(call.NotifyReport(request_id=4, generated_at=at(2), seq_no=0, report_data=[{
            "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
            "variable_attribute": [{"value": "300"}],
        }]))  # fmt: skip
    rsc, body = retrieve(ocpp_cse, f"cse-in/cp-{cp_id}")
    assert rsc == 2000, body
    assert body["m2m:ae"]["aei"] == f"Ccp-{cp_id}"
    info = instances(ocpp_cse, f"cse-in/cp-{cp_id}/info")[-1]["con"]  # not the report
    assert (info["chargePointVendor"], info["chargePointModel"], info["ocppVersion"]) == (
        "TestCo",
        "T2",
        "2.0.1",
    )
    assert info["chargingStation"]["serialNumber"] == "S1" and info["reason"] == "PowerUp"
    status = instances(ocpp_cse, f"cse-in/cp-{cp_id}/status", lbl="evse:1")
    assert status[0]["con"]["connectorStatus"] == "Available"
    assert "connector:1" in status[0]["lbl"]
    events = instances(ocpp_cse, f"cse-in/cp-{cp_id}/status", lbl="notifyEvent")
    assert events[-1]["con"]["event"]["eventData"][0]["trigger"] == "Alerting"
    reports = instances(ocpp_cse, f"cse-in/cp-{cp_id}/status", lbl="report:4")
    assert reports[0]["con"]["report"]["reportData"][0]["variableAttribute"] == [{"value": "300"}]
    meter = instances(ocpp_cse, f"cse-in/cp-{cp_id}/meter")
    assert Decimal(meter[0]["con"]["energySamples"][0]["wh"]) == 4200
    listed = {c["chargePointId"]: c for c in ocpp_cse.cli_json("chargers", "list")}
    assert listed[cp_id]["vendor"] == "TestCo"


async def test_handshake_negotiates_the_version_the_charger_offers(ocpp_cse: OcppCSE):
    async with connect(f"{ocpp_base(ocpp_cse)}/{cp_name()}", subprotocols=["ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"
    async with connect(f"{ocpp_base(ocpp_cse)}/{cp_name()}", subprotocols=[V201]) as ws:
        assert ws.subprotocol == V201
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{ocpp_base(ocpp_cse)}/{cp_name()}", subprotocols=["ocpp2.1"]):
            pass
    assert refused.value.response.status_code == 400


# -- authorisation --------------------------------------------------------------------------


async def test_authorize_known_unknown_and_blocked_cards(ocpp_cse: OcppCSE):
    rich, poor, stranger = tag(), tag(), tag()
    add_user(ocpp_cse, rich, "10.00")
    add_user(ocpp_cse, poor, "0.50")
    async with station(ocpp_base(ocpp_cse), cp_name()) as cp:
        await cp.boot()
        answers = [
            (await cp.send(call.Authorize(id_token=token))).id_token_info["status"]
            for token in (card(rich.lower()), card(poor), card(stranger))
        ]
        anonymous = await cp.send(
            call.Authorize(id_token={"id_token": "", "type": "NoAuthorization"})
        )
    assert answers == ["Accepted", "Blocked", "Invalid"]
    assert anonymous.id_token_info["status"] == "Invalid"
    refusals = instances(ocpp_cse, "cse-in/evcs/authorizations", lbl=f"idTag:{poor}")
    assert refusals[-1]["con"]["reason"] == "insufficient balance"
    refusals = instances(ocpp_cse, "cse-in/evcs/authorizations", lbl=f"idTag:{stranger}")
    assert refusals[-1]["con"]["reason"] == "user not found"


async def test_a_blocked_card_starting_a_transaction_is_told_so(ocpp_cse: OcppCSE):
    poor, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, poor, "0.50")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        started = await session_start(cp, poor, tx)
        assert started.id_token_info["status"] == "Blocked"
        await session_end(cp, tx, 1, "1000")
    # no hold; the settlement charges what was delivered (nothing), as in 1.6
    assert wallet_reasons(ocpp_cse, poor) == [("initial", "0.50"), ("charge", "0.00")]
    assert balance(ocpp_cse, poor) == Decimal("0.50")


# -- billing --------------------------------------------------------------------------------


async def test_full_session_holds_settles_and_refunds(ocpp_cse: OcppCSE):
    await full_session(ocpp_cse)


@pytest.mark.postgresql
async def test_full_session_on_postgresql(postgresql_ocpp_cse: OcppCSE):
    await full_session(postgresql_ocpp_cse)


async def full_session(ocpp_cse: OcppCSE) -> None:
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "50.00", "--budget", "20.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        assert await cp.boot() == "Accepted"
        started = await session_start(cp, id_tag.lower(), tx)
        assert started.id_token_info["status"] == "Accepted"
        assert balance(ocpp_cse, id_tag) == Decimal("30.00")  # 20.00 held
        updated = await cp.event("Updated", tx, 30, reading(30, "6", unit="kWh"))
        assert updated.id_token_info is None
        ended = await session_end(cp, tx, 60, "11000", id_token=card(id_tag))
        assert ended.id_token_info["status"] == "Accepted"
    # 10 kWh at 0.30 = 3.00; 17.00 of the 20.00 hold refunded
    assert balance(ocpp_cse, id_tag) == Decimal("47.00")
    assert wallet_reasons(ocpp_cse, id_tag) == [
        ("initial", "50.00"),
        ("hold", "-20.00"),
        ("refund", "17.00"),
    ]
    for path in (f"cse-in/evcs/users/{id_tag}/transactions", f"cse-in/cp-{cp_id}/transactions"):
        records = instances(ocpp_cse, path)
        assert len(records) == 1, path
        record = records[0]["con"]
        assert (record["energyWh"], record["cost"], record["charged"], record["refund"]) == (
            10000,
            "3.00",
            "3.00",
            "17.00",
        )
        assert record["stationTransactionId"] == tx and record["idTag"] == id_tag
        assert records[0]["rn"] == f"tx-{record['transactionId']}"
    events = instances(ocpp_cse, f"cse-in/cp-{cp_id}/meter", lbl=f"stationTransaction:{tx}")
    assert [e["con"]["eventType"] for e in events] == ["Started", "Updated", "Ended"]
    assert Decimal(events[1]["con"]["energySamples"][0]["wh"]) == 6000
    assert {e["con"]["transactionId"] for e in events} == {record["transactionId"]}


async def test_fractional_wh_and_kwh_readings_are_billed_exactly(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "50.00", "--budget", "20.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        await cp.event("Started", tx, 0, reading(0, "1000.5", unit="Wh"), card(id_tag))
        await cp.event("Ended", tx, 60, reading(60, "11.001", unit="kWh"))
    record = instances(ocpp_cse, f"cse-in/evcs/users/{id_tag}/transactions")[0]["con"]
    # 10000.5 Wh at 0.30 per kWh = 3.00015, billed 3.00
    assert (record["meterStart"], record["meterStop"], record["energyWh"]) == (
        "1000.5",
        11001,
        "10000.5",
    )
    assert (record["cost"], record["charged"]) == ("3.00", "3.00")
    assert balance(ocpp_cse, id_tag) == Decimal("47.00")


async def test_budget_cut_off_sends_request_stop_transaction(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "50.00", "--budget", "1.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        await session_start(cp, id_tag, tx, wh="0")
        assert balance(ocpp_cse, id_tag) == Decimal("49.00")
        await cp.event("Updated", tx, 10, reading(10, "2000"))
        assert cp.received.empty()  # 0.60 < 1.00
        await cp.event("Updated", tx, 20, reading(20, "4000"))
        action, request = await asyncio.wait_for(cp.received.get(), 10)
        assert (action, request["transaction_id"]) == ("RequestStopTransaction", tx)
        await cp.event("Updated", tx, 20.5, reading(20.5, "4100"))  # no second stop
        await cp.event("Ended", tx, 21, reading(21, "4100"), stopped_reason="Remote",
                       trigger="RemoteStop")  # fmt: skip
        assert cp.received.empty()
    # cost 1.23, never more than the 1.00 held
    assert balance(ocpp_cse, id_tag) == Decimal("49.00")
    record = instances(ocpp_cse, f"cse-in/evcs/users/{id_tag}/transactions")[0]["con"]
    assert (record["cost"], record["charged"], record["refund"], record["reason"]) == (
        "1.23",
        "1.00",
        "0.00",
        "Remote",
    )
    results = instances(ocpp_cse, f"cse-in/cp-{cp_id}/results")
    assert [
        (r["con"]["action"], r["con"]["request"], r["con"]["status"], r["con"]["response"])
        for r in results
    ] == [("RequestStopTransaction", {"transactionId": tx}, "answered", {"status": "Accepted"})]


async def test_data_transfer_sets_the_budget_of_the_next_session(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "50.00", "--budget", "20.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        asked = [
            (await cp.send(call.DataTransfer(vendor_id=v, message_id=m, data=d))).status
            for v, m, d in (
                ("citycse", "SetBudget", {"idTag": id_tag, "amount": "2.50"}),
                ("citycse", "SetBudget", {"idTag": id_tag, "amount": "NaN"}),
                ("citycse", "SetBudget", "not json"),
                ("citycse", "Other", None),
                ("acme", "SetBudget", None),
            )
        ]
        assert asked == ["Accepted", "Rejected", "Rejected", "UnknownMessageId", "UnknownVendorId"]
        await session_start(cp, id_tag, tx)
        assert balance(ocpp_cse, id_tag) == Decimal("47.50")  # 2.50 held, not the 20.00 budget
        await session_end(cp, tx, 10, "2000")
    assert balance(ocpp_cse, id_tag) == Decimal("49.70")


async def test_retransmitted_started_and_ended_bill_once(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "20.00", "--budget", "5.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        first = await cp.event("Started", tx, 0, reading(0, "500"), card(id_tag), seq_no=0)
        again = await cp.event("Started", tx, 0, reading(0, "500"), card(id_tag), seq_no=0)
        assert first.id_token_info == again.id_token_info == {"status": "Accepted"}
        assert balance(ocpp_cse, id_tag) == Decimal("15.00")  # one hold
        await cp.event("Ended", tx, 60, reading(60, "3500"), seq_no=1)
    # the charger reconnects (it did not see the answer) and sends the Ended again, twice
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        for _ in range(2):
            await cp.event("Ended", tx, 60, reading(60, "3500"), seq_no=1)
    assert balance(ocpp_cse, id_tag) == Decimal("19.10")  # 3 kWh = 0.90
    assert wallet_reasons(ocpp_cse, id_tag) == [
        ("initial", "20.00"),
        ("hold", "-5.00"),
        ("refund", "4.10"),
    ]
    assert len(instances(ocpp_cse, f"cse-in/evcs/users/{id_tag}/transactions")) == 1
    assert len(instances(ocpp_cse, f"cse-in/cp-{cp_id}/transactions")) == 1
    events = instances(ocpp_cse, f"cse-in/cp-{cp_id}/meter", lbl=f"stationTransaction:{tx}")
    assert [e["con"]["seqNo"] for e in events] == [0, 1]


async def test_queued_offline_events_after_a_reconnect_bill_once(ocpp_cse: OcppCSE):
    id_tag, cp_id = tag(), cp_name()
    online, offline = unique("tx"), unique("tx")
    add_user(ocpp_cse, id_tag, "30.00", "--budget", "10.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        await session_start(cp, id_tag, online, wh="0")
    assert balance(ocpp_cse, id_tag) == Decimal("20.00")
    # while offline the station finished that session and ran a second one on its own;
    # after the reconnect it delivers the queued events, then (answers lost) all of them again
    queued = [
        ("Updated", online, 30, reading(30, "2000"), None, 1),
        ("Ended", online, 40, reading(40, "3000"), None, 2),
        ("Started", offline, 50, reading(50, "3000"), card(id_tag), 0),
        ("Updated", offline, 55, reading(55, "4000"), None, 1),
        ("Ended", offline, 60, reading(60, "5000"), None, 2),
    ]
    for _ in range(2):
        async with station(ocpp_base(ocpp_cse), cp_id) as cp:
            await cp.boot()
            for kind, tx, minutes, values, token, seq in queued:
                await cp.event(kind, tx, minutes, values, token, seq_no=seq, offline=True)
    # 3 kWh (0.90) and 2 kWh (0.60)
    assert balance(ocpp_cse, id_tag) == Decimal("28.50")
    reasons = [reason for reason, _ in wallet_reasons(ocpp_cse, id_tag)]
    assert reasons == ["initial", "hold", "refund", "hold", "refund"]
    records = instances(ocpp_cse, f"cse-in/evcs/users/{id_tag}/transactions")
    assert sorted((r["con"]["stationTransactionId"], r["con"]["charged"]) for r in records) == (
        sorted([(online, "0.90"), (offline, "0.60")])
    )
    events = instances(ocpp_cse, f"cse-in/cp-{cp_id}/meter", lbl=f"stationTransaction:{offline}")
    assert len(events) == 3 and all(e["con"]["offline"] for e in events)


async def test_plug_in_first_bills_from_the_first_reading(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "10.00", "--budget", "5.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        plugged = await cp.event("Started", tx, 0, reading(0, "7000"), trigger="CablePluggedIn")
        assert plugged.id_token_info is None
        assert balance(ocpp_cse, id_tag) == Decimal("10.00")  # nobody to bill yet
        authorized = await cp.event("Updated", tx, 1, None, card(id_tag), trigger="Authorized")
        assert authorized.id_token_info["status"] == "Accepted"
        assert balance(ocpp_cse, id_tag) == Decimal("5.00")
        await cp.event("Ended", tx, 30, reading(30, "9000"))
    record = instances(ocpp_cse, f"cse-in/evcs/users/{id_tag}/transactions")[0]["con"]
    assert (record["meterStart"], record["energyWh"], record["charged"]) == (7000, 2000, "0.60")
    assert balance(ocpp_cse, id_tag) == Decimal("9.40")


async def test_ended_for_an_unknown_transaction_is_stored_and_never_billed(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "10.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        ended = await cp.event("Ended", tx, 10, reading(10, "4200"), card(id_tag), seq_no=3)
        assert ended.id_token_info["status"] == "Accepted"
        # its start shows up late: no session, no hold
        await cp.event("Started", tx, 0, reading(0, "1000"), card(id_tag), seq_no=0)
        assert (await cp.send(call.Heartbeat())).current_time
    orphans = instances(ocpp_cse, "cse-in/evcs/orphans", lbl=f"chargePoint:{cp_id}")
    assert len(orphans) == 1
    assert (orphans[0]["con"]["transactionId"], orphans[0]["con"]["meterStop"]) == (tx, 4200)
    assert orphans[0]["con"]["status"] == "unreconciled"
    assert instances(ocpp_cse, f"cse-in/cp-{cp_id}/transactions")[0]["con"]["idTag"] == id_tag
    assert wallet_reasons(ocpp_cse, id_tag) == [("initial", "10.00")]


# -- calls to the charger -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def adapter_in_test(cse: OcppCSE, response_timeout: float = 30) -> AsyncIterator[OcppAdapter]:
    """An adapter in the test's own process (speaking HTTP to the CSE), so its charge point
    objects can be called directly."""
    client = HttpClient(cse.base_url)
    config = AdapterConfig(
        port=0, admin_originator=cse.server.admin, response_timeout=response_timeout
    )
    adapter = OcppAdapter(config, client)
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.stop()
        await client.close()


async def test_send_call_reaches_the_charger_and_returns_its_answer(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with adapter_in_test(ocpp_cse) as adapter:
        url = f"ws://127.0.0.1:{adapter.port}/ocpp"
        async with station(url, cp_id) as cp:
            await cp.boot()
            central = adapter.connections[cp_id]
            assert isinstance(central, CentralSystemChargePointV201)
            started = await central.send_call(
                "RequestStartTransaction",
                {"idToken": {"idToken": "ABC", "type": "Central"}, "remoteStartId": 7, "evseId": 1},
            )
            assert started == {"status": "Accepted", "transactionId": "rs-1"}
            assert await central.send_call(
                "ChangeAvailability", {"operationalStatus": "Inoperative"}
            ) == {"status": "Scheduled"}
            assert await central.send_call("Reset", {"type": "OnIdle"}) == {"status": "Accepted"}
            assert await central.send_call(
                "TriggerMessage", {"requestedMessage": "StatusNotification"}
            ) == {"status": "Accepted"}
            profile = {
                "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": [{"id": 1, "chargingRateUnit": "W", "startSchedule": at(0),
                                      "chargingSchedulePeriod": [{"startPeriod": 0,
                                                                  "limit": 3700.0}]}],
            }  # fmt: skip
            assert await central.send_call(
                "SetChargingProfile", {"evseId": 0, "chargingProfile": profile}
            ) == {"status": "Accepted"}
            assert await central.send_call("ClearChargingProfile", {"chargingProfileId": 1}) == {
                "status": "Accepted"
            }
            seen = [cp.received.get_nowait() for _ in range(cp.received.qsize())]
            assert [action for action, _ in seen] == [
                "RequestStartTransaction",
                "ChangeAvailability",
                "Reset",
                "TriggerMessage",
                "SetChargingProfile",
                "ClearChargingProfile",
            ]
            assert seen[0][1]["id_token"] == {"id_token": "ABC", "type": "Central"}
            assert seen[2][1]["type"] == "OnIdle"
            # a CALLERROR from the charger propagates (it does not implement UnlockConnector)
            with pytest.raises(OcppNotImplemented):
                await central.send_call("UnlockConnector", {"evseId": 1, "connectorId": 1})
            # invalid commands are rejected before anything is sent
            for action, request in (
                ("Reset", {"type": "Sometime"}),
                ("Reset", {"kind": "Immediate"}),
                ("RemoteStopTransaction", {"transactionId": 1}),
                ("TransactionEvent", {}),
            ):
                with pytest.raises(CommandRejected):
                    await central.send_call(action, request)
            assert cp.received.empty()
            assert (await cp.send(call.Heartbeat())).current_time


async def test_a_session_of_an_unknown_card_is_recorded_unbilled(ocpp_cse: OcppCSE):
    stranger, cp_id, tx = tag(), cp_name(), unique("tx")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        started = await session_start(cp, stranger, tx)
        assert started.id_token_info["status"] == "Invalid"
        for _ in range(2):
            ended = await session_end(cp, tx, 5, "1500", id_token=card(stranger))
            assert ended.id_token_info["status"] == "Invalid"
    records = instances(ocpp_cse, f"cse-in/cp-{cp_id}/transactions")
    assert len(records) == 1
    assert (records[0]["con"]["status"], records[0]["con"]["energyWh"]) == ("unbilled", 500)
    orphans = instances(ocpp_cse, "cse-in/evcs/orphans", lbl=f"idTag:{stranger}")
    assert [o["con"]["stationTransactionId"] for o in orphans] == [tx]


async def test_a_late_update_after_the_end_neither_stops_nor_bills(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "10.00", "--budget", "0.80")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        await cp.event("Started", tx, 0, reading(0, "0"), card(id_tag), seq_no=0)
        await cp.event("Ended", tx, 10, reading(10, "3000"), seq_no=2)
        # seqNo 1 arrives last; the running cost it shows (0.90) is past the hold
        late = await cp.event("Updated", tx, 5, reading(5, "2500"), seq_no=1)
        assert late.id_token_info is None
        assert (await cp.send(call.Heartbeat())).current_time
        assert cp.received.empty()
    assert balance(ocpp_cse, id_tag) == Decimal("9.20")  # 3 kWh = 0.90, capped at the hold
    assert wallet_reasons(ocpp_cse, id_tag)[1:] == [("hold", "-0.80"), ("refund", "0.00")]
    events = instances(ocpp_cse, f"cse-in/cp-{cp_id}/meter", lbl=f"stationTransaction:{tx}")
    assert sorted(e["con"]["seqNo"] for e in events) == [0, 1, 2]


async def test_a_start_waiting_for_its_card_survives_a_reconnect(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "10.00", "--budget", "4.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        await cp.event("Started", tx, 0, reading(0, "12000"), trigger="CablePluggedIn")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        authorized = await cp.event("Updated", tx, 2, None, card(id_tag), trigger="Authorized")
        assert authorized.id_token_info["status"] == "Accepted"
        await cp.event("Ended", tx, 32, reading(32, "15000"))
    record = instances(ocpp_cse, f"cse-in/evcs/users/{id_tag}/transactions")[0]["con"]
    assert (record["meterStart"], record["energyWh"], record["charged"]) == (12000, 3000, "0.90")
    assert balance(ocpp_cse, id_tag) == Decimal("9.10")


async def test_a_session_survives_a_restart_of_the_cse_and_adapter(fresh_ocpp_cse: OcppCSE):
    cse = fresh_ocpp_cse
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(cse, id_tag, "30.00", "--budget", "10.00")
    async with station(ocpp_base(cse), cp_id) as cp:
        await cp.boot()
        await cp.event("Started", tx, 0, reading(0, "2000"), card(id_tag), seq_no=0)
        await cp.event("Updated", tx, 20, reading(20, "4000"), seq_no=1)
    await asyncio.to_thread(cse.restart)
    assert balance(cse, id_tag) == Decimal("20.00")
    async with station(ocpp_base(cse), cp_id) as cp:
        await cp.boot()
        await cp.event("Updated", tx, 20, reading(20, "4000"), seq_no=1)  # resent
        await cp.event("Ended", tx, 40, reading(40, "7000"), seq_no=2)
    # 5 kWh = 1.50 from the 10.00 hold taken before the restart
    assert balance(cse, id_tag) == Decimal("28.50")
    records = instances(cse, f"cse-in/evcs/users/{id_tag}/transactions")
    assert [(r["con"]["energyWh"], r["con"]["charged"]) for r in records] == [(5000, "1.50")]


async def test_a_kwh_multiplier_scales_the_reading(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "50.00", "--budget", "20.00")

    def scaled(minutes: float, value: str) -> list[dict]:
        values = reading(minutes, value)
        values[0]["sampled_value"][0]["unit_of_measure"] = {"unit": "Wh", "multiplier": 3}
        return values

    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        await cp.event("Started", tx, 0, scaled(0, "1.25"), card(id_tag))
        await cp.event("Ended", tx, 60, scaled(60, "5.25"))
    record = instances(ocpp_cse, f"cse-in/evcs/users/{id_tag}/transactions")[0]["con"]
    assert (record["meterStart"], record["meterStop"], record["charged"]) == (1250, 5250, "1.20")


async def test_odd_id_tokens_are_refused_without_errors(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    long_token, slashed = "L" * 36, "A/B"
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        for token in (long_token, slashed):
            answer = await cp.send(call.Authorize(id_token=card(token)))
            assert answer.id_token_info["status"] == "Invalid"
        tx = unique("tx")
        started = await session_start(cp, long_token, tx)
        assert started.id_token_info["status"] == "Invalid"
        await session_end(cp, tx, 3, "1200")
    records = instances(ocpp_cse, f"cse-in/cp-{cp_id}/transactions")
    assert [(r["con"]["status"], r["con"]["idTag"]) for r in records] == [("unbilled", long_token)]


async def test_unknown_chargers_can_be_rejected():
    cse = await asyncio.to_thread(launch_ocpp, "sqlite", ["--ocpp-unknown-chargers", "reject"])
    try:
        cp_id = cp_name()
        async with station(ocpp_base(cse), cp_id) as cp:
            assert await cp.boot() == "Rejected"
        rsc, _ = retrieve(cse, f"cse-in/cp-{cp_id}")
        assert rsc == 4004
    finally:
        await asyncio.to_thread(shutdown_ocpp, cse)


async def test_an_ended_with_the_whole_series_bills_a_start_without_readings(ocpp_cse: OcppCSE):
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "10.00", "--budget", "5.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        started = await cp.event("Started", tx, 0, None, card(id_tag), trigger="Authorized")
        assert started.id_token_info["status"] == "Accepted"
        assert balance(ocpp_cse, id_tag) == Decimal("10.00")  # no reading yet: nothing held
        series = [*reading(0, "1000"), *reading(30, "2500"), *reading(60, "4000")]
        await cp.event("Ended", tx, 60, series, stopped_reason="EVDisconnected")
    record = instances(ocpp_cse, f"cse-in/evcs/users/{id_tag}/transactions")[0]["con"]
    assert (record["meterStart"], record["meterStop"], record["charged"]) == (1000, 4000, "0.90")
    assert record["reason"] == "EVDisconnected"
    assert balance(ocpp_cse, id_tag) == Decimal("9.10")
    assert instances(ocpp_cse, "cse-in/evcs/orphans", lbl=f"chargePoint:{cp_id}") == []


async def test_a_2_0_1_charger_with_a_password_needs_basic_auth(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    ocpp_cse.cli("chargers", "password", cp_id, "--set", "0123456789abcdef0123")
    with pytest.raises(InvalidStatus) as refused:
        async with station(ocpp_base(ocpp_cse), cp_id, password="wrong-password-000000"):
            pass
    assert refused.value.response.status_code == 401
    async with station(ocpp_base(ocpp_cse), cp_id, password="0123456789abcdef0123") as cp:
        assert await cp.boot() == "Accepted"


async def test_two_evses_of_one_charger_bill_their_own_sessions(ocpp_cse: OcppCSE):
    first, second, cp_id = tag(), tag(), cp_name()
    add_user(ocpp_cse, first, "10.00", "--budget", "5.00")
    add_user(ocpp_cse, second, "10.00", "--budget", "5.00")
    tx1, tx2 = unique("tx"), unique("tx")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        await cp.event("Started", tx1, 0, reading(0, "100"), card(first), seq_no=0, evse=1)
        await cp.event("Started", tx2, 1, reading(1, "50000"), card(second), seq_no=0, evse=2)
        await cp.event("Updated", tx1, 10, reading(10, "1100"), seq_no=1, evse=1)
        await cp.event("Updated", tx2, 11, reading(11, "52000"), seq_no=1, evse=2)
        await cp.event("Ended", tx2, 20, reading(20, "54000"), seq_no=2, evse=2)
        await cp.event("Ended", tx1, 30, reading(30, "2100"), seq_no=2, evse=1)
    assert balance(ocpp_cse, first) == Decimal("9.40")  # 2 kWh
    assert balance(ocpp_cse, second) == Decimal("8.80")  # 4 kWh
    records = instances(ocpp_cse, f"cse-in/cp-{cp_id}/transactions")
    assert sorted((r["con"]["connectorId"], r["con"]["energyWh"]) for r in records) == [
        (1, 2000),
        (2, 4000),
    ]


async def test_send_call_times_out_and_the_connection_goes_on(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with adapter_in_test(ocpp_cse, response_timeout=2) as adapter:
        url = f"ws://127.0.0.1:{adapter.port}/ocpp"
        async with station(url, cp_id) as cp:
            await cp.boot()
            central = adapter.connections[cp_id]
            with pytest.raises(asyncio.TimeoutError):
                await central.send_call("ClearCache", {})
            await asyncio.sleep(2)  # the late answer arrives and is dropped
            assert await central.send_call("Reset", {"type": "Immediate"}) == {"status": "Accepted"}


# -- the project's command vocabulary (OCPP 1.6 names) for a 2.0.1 charger ------------------


async def command_result(cse: OcppCSE, cp_id: str, action: str, request: dict) -> dict:
    ri = await command(cse, cp_id, {"action": action, "request": request, "reason": "test"})
    return (await result_of(cse, cp_id, ri))["con"]


async def test_commands_in_1_6_terms_reach_a_2_0_1_charger_translated(fresh_ocpp_cse: OcppCSE):
    """On a CSE of its own: an adapter of an earlier test in this module may still hold a
    long poll of the polling channel, which would take one of these commands."""
    ocpp_cse = fresh_ocpp_cse
    id_tag, cp_id, tx = tag(), cp_name(), unique("tx")
    add_user(ocpp_cse, id_tag, "50.00")
    async with station(ocpp_base(ocpp_cse), cp_id) as cp:
        await cp.boot()
        await session_start(cp, id_tag, tx)
        session = instances(ocpp_cse, "cse-in/evcs/sessions", lbl=f"idTag:{id_tag}")[0]["con"]
        csms_tx = session["transactionId"]

        stop = await command_result(
            ocpp_cse, cp_id, "RemoteStopTransaction", {"transactionId": csms_tx}
        )
        assert await asyncio.wait_for(cp.received.get(), 10) == (
            "RequestStopTransaction", {"transaction_id": tx},
        )  # fmt: skip
        assert stop["action"] == "RemoteStopTransaction"
        assert stop["request"] == {"transactionId": csms_tx}
        assert stop["sent"] == {
            "action": "RequestStopTransaction",
            "request": {"transactionId": tx},
        }
        assert (stop["status"], stop["response"]) == ("answered", {"status": "Accepted"})

        locked = await command_result(
            ocpp_cse, cp_id, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}
        )
        assert await asyncio.wait_for(cp.received.get(), 10) == (
            "ChangeAvailability", {"operational_status": "Inoperative"},
        )  # fmt: skip
        assert locked["sent"]["request"] == {"operationalStatus": "Inoperative"}
        assert locked["response"] == {"status": "Scheduled"}

        reset = await command_result(ocpp_cse, cp_id, "Reset", {"type": "Hard"})
        assert await asyncio.wait_for(cp.received.get(), 10) == ("Reset", {"type": "Immediate"})
        assert reset["sent"] == {"action": "Reset", "request": {"type": "Immediate"}}

        # a native 2.0.1 command goes as it is, and the result has nothing translated
        native = await command_result(ocpp_cse, cp_id, "Reset", {"type": "OnIdle"})
        assert await asyncio.wait_for(cp.received.get(), 10) == ("Reset", {"type": "OnIdle"})
        assert "sent" not in native and native["status"] == "answered"

        # no 2.0.1 equivalent, or no such 2.0.1 transaction: refused, nothing sent
        refused = await command_result(ocpp_cse, cp_id, "GetConfiguration", {"key": ["K"]})
        assert refused["status"] == "rejected"
        assert refused["error"].startswith(
            "GetConfiguration is an OCPP 1.6 call with no OCPP 2.0.1 equivalent"
        )
        unknown = await command_result(
            ocpp_cse, cp_id, "RemoteStopTransaction", {"transactionId": 999999}
        )
        assert unknown["status"] == "rejected"
        assert unknown["error"] == (
            "transaction 999999 is not an OCPP 2.0.1 transaction of this charger"
        )
        assert cp.received.empty()
        await session_end(cp, tx, 10, "2000")
