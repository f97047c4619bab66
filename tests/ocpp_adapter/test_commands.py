"""Commands through the tree: a CIN in `cp-<id>/commands` becomes an OCPP call to a real
`ocpp` charge point, and the outcome a CIN in `cp-<id>/results`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import call, call_result

from tests.ocpp_adapter.conftest import OcppCSE, launch_ocpp, shutdown_ocpp
from tests.support.chargers import TestChargePoint, charge_point
from tests.support.client import M2M, TY_CIN, unique
from tests.support.server import (
    clean_env,
    free_port,
    make_database,
    port_open,
    start_server,
    tmpdir,
)

CHARGING_PROFILE = {
    "chargingProfileId": 7,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}],
    },
}
# (action, request, the charger's answer as the result must show it)
EVERY_ACTION: list[tuple[str, dict, dict]] = [
    ("RemoteStartTransaction", {"idTag": "CARD1", "connectorId": 1}, {"status": "Accepted"}),
    ("RemoteStopTransaction", {"transactionId": 42}, {"status": "Accepted"}),
    ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}, {"status": "Accepted"}),
    (
        "SetChargingProfile",
        {"connectorId": 1, "csChargingProfiles": CHARGING_PROFILE},
        {"status": "Accepted"},
    ),
    ("ClearChargingProfile", {"id": 7}, {"status": "Accepted"}),
    ("Reset", {"type": "Soft"}, {"status": "Accepted"}),
    ("UnlockConnector", {"connectorId": 1}, {"status": "Unlocked"}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Accepted"}),
    (
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "NoSuchKey"]},
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["NoSuchKey"],
        },
    ),
    (
        "ChangeConfiguration",
        {"key": "MeterValueSampleInterval", "value": "10"},
        {"status": "Accepted"},
    ),
]


def cp_name() -> str:
    return unique("cp")


def _create_command(base_url: str, cp_id: str, con: Any, origin: str) -> tuple[int | None, str]:
    client = M2M(base_url, origin=origin)
    try:
        reply = client.create(f"cse-in/cp-{cp_id}/commands", TY_CIN, {"con": con, "cr": None})
        ri = reply.res("m2m:cin")["ri"] if reply.rsc == 2001 else ""
        return reply.rsc, ri
    finally:
        client.close()


async def command(cse: OcppCSE, cp_id: str, con: Any, origin: str = "CAdmin") -> str:
    """Create a command CIN (off the event loop, so the charge point keeps answering)."""
    rsc, ri = await asyncio.to_thread(_create_command, cse.base_url, cp_id, con, origin)
    assert rsc == 2001, f"command not created: rsc {rsc}"
    return ri


def _results(base_url: str, cp_id: str, label: str) -> list[dict]:
    client = M2M(base_url)
    try:
        params = {"rcn": "8", "ty": "4", "lbl": label}
        reply = client.retrieve(f"cse-in/cp-{cp_id}/results", params=params)
        assert reply.rsc == 2000, reply
        return reply.body["m2m:cnt"].get("m2m:cin", [])
    finally:
        client.close()


async def result_of(cse: OcppCSE, cp_id: str, command_ri: str, timeout: float = 20) -> dict:
    """The result CIN written for a command; waits for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(_results, cse.base_url, cp_id, f"command:{command_ri}")
        if found:
            assert len(found) == 1, found
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no result for command {command_ri} within {timeout}s")


async def received(cp: TestChargePoint) -> tuple[str, dict]:
    return await asyncio.wait_for(cp.received.get(), 10)


async def test_every_action_is_sent_and_the_answer_written_back(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        assert await cp.boot() == "Accepted"
        for action, request, answer in EVERY_ACTION:
            ri = await command(ocpp_cse, cp_id, {"action": action, "request": request,
                                                 "reason": f"test {action}"})  # fmt: skip
            got_action, got_request = await received(cp)
            assert got_action == action
            if action == "SetChargingProfile":
                period = got_request["csChargingProfiles"]["chargingSchedule"]
                assert period["chargingSchedulePeriod"][0]["limit"] == Decimal("16.5")
            else:
                assert {k: v for k, v in got_request.items() if v is not None} == request
            result = await result_of(ocpp_cse, cp_id, ri)
            assert set(result["lbl"]) == {f"command:{ri}", f"action:{action}"}
            assert result["con"] == {
                "command": ri,
                "action": action,
                "request": request,
                "reason": f"test {action}",
                "requestedBy": "CAdmin",
                "status": "answered",
                "response": answer,
            }
        assert cp.configuration["MeterValueSampleInterval"] == "10"
        assert cp.received.empty()


async def test_refusals_and_callerrors_of_the_charger_are_recorded(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        cp.answers["Reset"] = "Rejected"
        ri = await command(ocpp_cse, cp_id, {"action": "Reset", "request": {"type": "Hard"}})
        result = (await result_of(ocpp_cse, cp_id, ri))["con"]
        assert (result["status"], result["response"]) == ("answered", {"status": "Rejected"})
        # the test charge point has no ClearCache handler: it answers with a CALLERROR
        ri = await command(ocpp_cse, cp_id, {"action": "ClearCache"})
        result = (await result_of(ocpp_cse, cp_id, ri))["con"]
        assert result["status"] == "failed" and "response" not in result
        assert result["error"].startswith("NotImplemented")
        assert result["request"] == {} and result["reason"] is None
        # the connection still works for the next command
        ri = await command(ocpp_cse, cp_id, {"action": "UnlockConnector",
                                             "request": {"connectorId": 2}})  # fmt: skip
        assert (await result_of(ocpp_cse, cp_id, ri))["con"]["status"] == "answered"


@pytest.mark.parametrize(
    ("con", "why"),
    [
        ({"action": "SelfDestruct", "request": {}}, "not a call"),
        ({"action": "BootNotification", "request": {}}, "not a call"),
        ({"action": "Reset", "request": {"type": "Sideways"}}, "bad Reset request"),
        ({"action": "Reset", "request": {}}, "bad Reset request"),
        ({"action": "Reset", "request": {"type": "Soft", "extra": 1}}, "bad Reset request"),
        ({"action": "Reset", "request": ["Soft"]}, "request must be a JSON object"),
        ({"request": {"type": "Soft"}}, "needs an action"),
        ("reset please", "must be a JSON object"),
        ({"action": "Reset", "request": {"type": "Soft"}, "reason": 5}, "reason must be"),
    ],
)
async def test_invalid_commands_are_rejected_and_never_sent(ocpp_cse: OcppCSE, con, why):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        ri = await command(ocpp_cse, cp_id, con)
        result = (await result_of(ocpp_cse, cp_id, ri))["con"]
        assert result["status"] == "rejected" and why in result["error"], result
        assert result["command"] == ri and result["requestedBy"] == "CAdmin"
        # nothing reached the charger; a valid command right after still does
        ri = await command(ocpp_cse, cp_id, {"action": "Reset", "request": {"type": "Soft"}})
        assert (await received(cp))[0] == "Reset"
        assert (await result_of(ocpp_cse, cp_id, ri))["con"]["status"] == "answered"
        assert cp.received.empty()


async def test_a_command_to_an_offline_charger_is_recorded_as_offline():
    cse = await asyncio.to_thread(launch_ocpp, "sqlite", ["--ocpp-command-max-age-seconds", "1"])
    try:
        cp_id = cp_name()
        async with charge_point(cse, cp_id) as cp:
            await cp.boot()
        await asyncio.sleep(1.2)  # past the adapter's startup grace (the age limit)
        ri = await command(cse, cp_id, {"action": "UnlockConnector",
                                        "request": {"connectorId": 1}})  # fmt: skip
        result = (await result_of(cse, cp_id, ri))["con"]
        assert result["status"] == "offline" and cp_id in result["error"]
        assert result["request"] == {"connectorId": 1}
        # the charger comes back: a command that has its result is not sent again
        async with charge_point(cse, cp_id) as cp:
            await cp.boot()
            fresh = await command(cse, cp_id, {"action": "Reset", "request": {"type": "Soft"}})
            assert await received(cp) == ("Reset", {"type": "Soft"})
            assert (await result_of(cse, cp_id, fresh))["con"]["status"] == "answered"
            assert cp.received.empty()
        assert len(await asyncio.to_thread(_results, cse.base_url, cp_id, f"command:{ri}")) == 1
    finally:
        await asyncio.to_thread(shutdown_ocpp, cse)


async def test_commands_on_postgresql():
    cse = await asyncio.to_thread(launch_ocpp, "postgresql")
    try:
        cp_id = cp_name()
        async with charge_point(cse, cp_id) as cp:
            await cp.boot()
            ri = await command(cse, cp_id, {"action": "GetConfiguration", "request": {}})
            assert (await received(cp))[0] == "GetConfiguration"
            result = (await result_of(cse, cp_id, ri))["con"]
            assert result["status"] == "answered"
            assert {k["key"] for k in result["response"]["configurationKey"]} == {
                "HeartbeatInterval",
                "MeterValueSampleInterval",
            }
    finally:
        await asyncio.to_thread(shutdown_ocpp, cse)


async def test_who_may_command_a_charger(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        con = {"action": "Reset", "request": {"type": "Soft"}}
        rsc, _ = await asyncio.to_thread(_create_command, ocpp_cse.base_url, cp_id, con, "CMallory")
        assert rsc == 4103
        ri = await command(ocpp_cse, cp_id, con, origin="Cevcs")
        result = (await result_of(ocpp_cse, cp_id, ri))["con"]
        assert (result["status"], result["requestedBy"]) == ("answered", "Cevcs")
        assert await received(cp) == ("Reset", {"type": "Soft"})
        assert cp.received.empty()  # the forbidden command never reached the charger


async def test_several_chargers_get_their_own_commands(ocpp_cse: OcppCSE):
    ids = [cp_name() for _ in range(3)]
    async with (
        charge_point(ocpp_cse, ids[0]) as a,
        charge_point(ocpp_cse, ids[1]) as b,
        charge_point(ocpp_cse, ids[2]) as c,
    ):
        for cp in (a, b, c):
            await cp.boot()
        commands = await asyncio.gather(
            *(
                command(
                    ocpp_cse,
                    cp_id,
                    {"action": "UnlockConnector", "request": {"connectorId": n + 1}},
                )  # fmt: skip
                for n, cp_id in enumerate(ids)
            )
        )
        for n, cp in enumerate((a, b, c)):
            assert await received(cp) == ("UnlockConnector", {"connectorId": n + 1})
        for cp_id, ri in zip(ids, commands, strict=True):
            assert (await result_of(ocpp_cse, cp_id, ri))["con"]["status"] == "answered"


# -- the standalone adapter: commands queued while it is down ----------------------------


STANDALONE = [sys.executable, "-m", "cse", "ocpp", "--unknown-chargers", "accept"]


def _start_standalone(base_url: str, port: int, max_age: float = 2) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            *STANDALONE,
            "--cse-url",
            base_url,
            "--port",
            str(port),
            "--command-max-age-seconds",
            str(max_age),
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
    )
    for _ in range(150):
        if port_open("127.0.0.1", port):
            return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("the standalone adapter did not start")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=15)


async def test_standalone_adapter_runs_fresh_commands_and_expires_stale_ones():
    workdir = tmpdir()
    db = make_database("sqlite", workdir)
    server = await asyncio.to_thread(start_server, db)
    port = free_port()
    adapter = await asyncio.to_thread(_start_standalone, server.base_url, port)
    cse = OcppCSE(server, db, port)
    cp_id = cp_name()
    try:
        async with charge_point(cse, cp_id) as cp:
            assert await cp.boot() == "Accepted"
            ri = await command(cse, cp_id, {"action": "Reset", "request": {"type": "Soft"}})
            assert await received(cp) == ("Reset", {"type": "Soft"})
            assert (await result_of(cse, cp_id, ri))["con"]["status"] == "answered"
        await asyncio.to_thread(_stop, adapter)
        stale = await command(cse, cp_id, {"action": "RemoteStartTransaction",
                                           "request": {"idTag": "CARD1"}})  # fmt: skip
        await asyncio.sleep(2.5)  # older than --command-max-age-seconds 2
        adapter = await asyncio.to_thread(_start_standalone, server.base_url, port)
        async with charge_point(cse, cp_id) as cp:
            await cp.boot()
            result = (await result_of(cse, cp_id, stale))["con"]
            assert result["status"] == "expired" and "not sent" in result["error"]
            fresh = await command(cse, cp_id, {"action": "Reset", "request": {"type": "Hard"}})
            assert await received(cp) == ("Reset", {"type": "Hard"})  # not the stale start
            assert (await result_of(cse, cp_id, fresh))["con"]["status"] == "answered"
    finally:
        await asyncio.to_thread(_stop, adapter)
        server.stop()


class CrossingChargePoint(TestChargePoint):
    """Starts the transaction before it answers the RemoteStartTransaction, as real chargers
    do: the central system gets a CALL while its own CALL is outstanding."""

    __test__ = False

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, **payload: Any) -> Any:
        self._got("RemoteStartTransaction", "Accepted", id_tag=id_tag, **payload)
        start = call.StartTransaction(
            connector_id=payload.get("connector_id", 1),
            id_tag=id_tag,
            meter_start=0,
            timestamp="2026-03-02T10:00:00Z",
        )
        self.started = asyncio.ensure_future(self.send(start))
        await asyncio.sleep(0.3)  # the StartTransaction goes out before this answer
        return call_result.RemoteStartTransaction(status="Accepted")


async def test_a_remote_start_crossed_by_the_chargers_start_transaction(ocpp_cse: OcppCSE):
    card, cp_id = unique("T")[:12].upper(), cp_name()
    await asyncio.to_thread(ocpp_cse.cli, "users", "add", "--id-tag", card, "--balance", "10.00")
    async with charge_point(ocpp_cse, cp_id, kind=CrossingChargePoint) as cp:
        await cp.boot()
        start = {"action": "RemoteStartTransaction", "request": {"idTag": card, "connectorId": 1}}
        ri = await command(ocpp_cse, cp_id, start)
        assert (await result_of(ocpp_cse, cp_id, ri))["con"]["status"] == "answered"
        started = await asyncio.wait_for(cp.started, 10)
        assert started.id_tag_info["status"] == "Accepted" and started.transaction_id > 0


class SlowChargePoint(TestChargePoint):
    """Takes 3 s to answer a Reset."""

    __test__ = False

    @on("Reset")
    async def on_reset(self, **payload: Any) -> Any:
        self._got("Reset", "Accepted", **payload)
        await asyncio.sleep(3)
        return call_result.Reset(status="Accepted")


async def test_a_charger_that_answers_too_late_fails_the_command_and_stays_usable():
    cse = await asyncio.to_thread(launch_ocpp, "sqlite", ["--ocpp-response-timeout-seconds", "1"])
    try:
        cp_id = cp_name()
        async with charge_point(cse, cp_id, kind=SlowChargePoint) as cp:
            await cp.boot()
            ri = await command(cse, cp_id, {"action": "Reset", "request": {"type": "Soft"}})
            result = (await result_of(cse, cp_id, ri))["con"]
            assert result["status"] == "failed" and "in time" in result["error"]
            await asyncio.sleep(2.5)  # the late answer arrives and is dropped
            ri = await command(cse, cp_id, {"action": "UnlockConnector",
                                            "request": {"connectorId": 1}})  # fmt: skip
            result = (await result_of(cse, cp_id, ri))["con"]
            assert (result["status"], result["response"]) == ("answered", {"status": "Unlocked"})
    finally:
        await asyncio.to_thread(shutdown_ocpp, cse)


async def test_a_charger_that_disconnects_before_answering_fails_the_command_at_once(
    ocpp_cse: OcppCSE,
):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id, kind=SlowChargePoint) as cp:
        await cp.boot()
        ri = await command(ocpp_cse, cp_id, {"action": "Reset", "request": {"type": "Soft"}})
        assert (await asyncio.wait_for(cp.received.get(), 15))[0] == "Reset"
    started = time.monotonic()
    result = (await result_of(ocpp_cse, cp_id, ri))["con"]
    assert result["status"] == "failed" and "disconnected" in result["error"]
    assert time.monotonic() - started < 10, "not the 30 s response timeout"


async def test_a_charger_gets_its_commands_in_the_order_they_were_created(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        values = [str(n) for n in range(1, 9)]
        commands = [
            await command(
                ocpp_cse,
                cp_id,
                {"action": "ChangeConfiguration", "request": {"key": "Order", "value": value}},
            )  # fmt: skip
            for value in values
        ]
        got = [(await received(cp))[1]["value"] for _ in values]
        assert got == values and cp.configuration["Order"] == "8"
        for ri in commands:
            assert (await result_of(ocpp_cse, cp_id, ri))["con"]["status"] == "answered"


class SloppyChargePoint(TestChargePoint):
    """Answers Reset with a status OCPP 1.6 does not define."""

    __test__ = False

    @on("Reset", skip_schema_validation=True)
    async def on_reset(self, **payload: Any) -> Any:
        self._got("Reset", "Maybe", **payload)
        return call_result.Reset(status="Maybe")


async def test_an_answer_that_fails_the_schema_fails_the_command(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id, kind=SloppyChargePoint) as cp:
        await cp.boot()
        ri = await command(ocpp_cse, cp_id, {"action": "Reset", "request": {"type": "Soft"}})
        result = (await result_of(ocpp_cse, cp_id, ri))["con"]
        assert result["status"] == "failed" and "Maybe" in result["error"], result
        assert "response" not in result
        trigger = {"action": "TriggerMessage", "request": {"requestedMessage": "Heartbeat"}}
        ri = await command(ocpp_cse, cp_id, trigger)
        assert (await result_of(ocpp_cse, cp_id, ri))["con"]["status"] == "answered"


def _grant(base_url: str, cp_id: str, originator: str) -> int | None:
    """Add `originator` to the charger's ACP with all rights (as the admin)."""
    client = M2M(base_url)
    try:
        path = f"cse-in/cp-{cp_id}/acp"
        rules = client.retrieve(path).res("m2m:acp")["pv"]["acr"]
        rules.append({"acor": [originator], "acop": 63})
        return client.update(path, 1, {"pv": {"acr": rules}}).rsc
    finally:
        client.close()


async def test_an_originator_the_charger_acp_grants_may_command_it(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        con = {"action": "UnlockConnector", "request": {"connectorId": 1}}
        rsc, _ = await asyncio.to_thread(_create_command, ocpp_cse.base_url, cp_id, con, "COps")
        assert rsc == 4103
        assert await asyncio.to_thread(_grant, ocpp_cse.base_url, cp_id, "COps") == 2004
        # a command given as JSON text is taken too
        ri = await command(ocpp_cse, cp_id, json.dumps(con), origin="COps")
        assert await received(cp) == ("UnlockConnector", {"connectorId": 1})
        result = (await result_of(ocpp_cse, cp_id, ri))["con"]
        assert (result["status"], result["requestedBy"]) == ("answered", "COps")


async def test_the_command_cli_sends_and_prints_the_result(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        args = ["chargers", "command", cp_id, "ChangeAvailability", "--request",
                '{"connectorId": 1, "type": "Inoperative"}', "--reason", "maintenance"]  # fmt: skip
        result = await asyncio.to_thread(ocpp_cse.cli_json, *args)
        assert (result["status"], result["response"]) == ("answered", {"status": "Accepted"})
        assert (result["reason"], result["requestedBy"]) == ("maintenance", "CAdmin")
        assert await received(cp) == (
            "ChangeAvailability",
            {"connectorId": 1, "type": "Inoperative"},
        )
    bad = await asyncio.to_thread(
        ocpp_cse.cli, "chargers", "command", cp_id, "Reset", "--request", "{oops", check=False
    )
    assert bad.returncode == 1 and "--request must be JSON" in bad.stderr
    missing = await asyncio.to_thread(
        ocpp_cse.cli, "chargers", "command", cp_name(), "Reset", check=False
    )
    assert missing.returncode == 1 and "no charger" in missing.stderr


async def test_a_young_command_queued_while_the_adapter_was_down_reaches_its_charger():
    workdir = tmpdir()
    db = make_database("sqlite", workdir)
    server = await asyncio.to_thread(start_server, db)
    port = free_port()
    adapter = await asyncio.to_thread(_start_standalone, server.base_url, port, 20)
    cse = OcppCSE(server, db, port)
    cp_id = cp_name()
    try:
        async with charge_point(cse, cp_id) as cp:
            assert await cp.boot() == "Accepted"
        await asyncio.to_thread(_stop, adapter)
        queued = await command(cse, cp_id, {"action": "Reset", "request": {"type": "Hard"}})
        adapter = await asyncio.to_thread(_start_standalone, server.base_url, port, 20)
        await asyncio.sleep(1.0)  # the adapter sees the command before the charger is back
        async with charge_point(cse, cp_id) as cp:
            await cp.boot()
            assert await received(cp) == ("Reset", {"type": "Hard"})
            result = (await result_of(cse, cp_id, queued))["con"]
            assert (result["status"], result["response"]) == ("answered", {"status": "Accepted"})
        # a charger that does not come back in time: offline once the grace is over
        other = cp_name()
        async with charge_point(cse, other) as cp:
            await cp.boot()
        ri = await command(cse, other, {"action": "Reset", "request": {"type": "Soft"}})
        result = (await result_of(cse, other, ri, timeout=40))["con"]
        assert result["status"] == "offline"
    finally:
        await asyncio.to_thread(_stop, adapter)
        server.stop()
