"""Connection state in the tree: one record per connect and per disconnect of a charger in
`cp-<id>/connection`, with a real citycse and real OCPP websockets of both versions."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.v16 import call

from tests.ocpp_adapter.conftest import OcppCSE
from tests.ocpp_adapter.test_central_system import cp_name, instances
from tests.ocpp_adapter.test_interlocks import eventually
from tests.ocpp_adapter.test_v201 import ocpp_base, station
from tests.support.chargers import charge_point


def records(cse: OcppCSE, cp_id: str) -> list[dict[str, Any]]:
    return [cin["con"] for cin in instances(cse, f"cse-in/cp-{cp_id}/connection")]


async def records_when(cse: OcppCSE, cp_id: str, count: int) -> list[dict[str, Any]]:
    """The charger's connection records once there are `count` of them."""
    found = await eventually(lambda: len(records(cse, cp_id)) >= count and records(cse, cp_id))
    assert found, f"fewer than {count} connection records for {cp_id}"
    return found


async def test_connect_and_disconnect_are_recorded_once_each(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with charge_point(ocpp_cse, cp_id) as cp:
        await cp.boot()
        connected = await records_when(ocpp_cse, cp_id, 1)
        assert [r["state"] for r in connected] == ["connected"]
        assert connected[0]["protocol"] == "ocpp1.6"
        assert connected[0]["remote"].startswith("127.0.0.1:")
        for _ in range(3):  # messages write no connection records
            await cp.send(call.Heartbeat())
    found = await records_when(ocpp_cse, cp_id, 2)
    assert [r["state"] for r in found] == ["connected", "disconnected"]
    assert (found[1]["code"], found[1]["reason"]) == (1000, "closed normally")
    assert found[1]["protocol"] == "ocpp1.6" and found[1]["at"] >= found[0]["at"]


async def test_a_2_0_1_charger_and_a_replaced_socket(ocpp_cse: OcppCSE):
    cp_id = cp_name()
    async with station(ocpp_base(ocpp_cse), cp_id) as first:
        await first.boot()
        await records_when(ocpp_cse, cp_id, 1)
        async with station(ocpp_base(ocpp_cse), cp_id) as second:  # replaces the first
            await second.boot()
            found = await records_when(ocpp_cse, cp_id, 2)
            await asyncio.sleep(0.5)  # the replaced socket's end writes nothing
            assert [r["state"] for r in records(ocpp_cse, cp_id)] == ["connected", "connected"]
            assert {r["protocol"] for r in found} == {"ocpp2.0.1"}
    found = await records_when(ocpp_cse, cp_id, 3)
    assert [r["state"] for r in found] == ["connected", "connected", "disconnected"]


async def test_chargers_connected_when_the_adapter_died_are_disconnected_at_its_start(
    fresh_ocpp_cse: OcppCSE,
):
    cse = fresh_ocpp_cse
    cp_id = cp_name()
    async with charge_point(cse, cp_id) as cp:
        await cp.boot()
        await records_when(cse, cp_id, 1)
        cse.server.process.kill()  # no chance to close its sockets or write anything
        await asyncio.to_thread(cse.server.process.wait, 10)
    await asyncio.to_thread(cse.restart)
    found = await records_when(cse, cp_id, 2)
    assert [r["state"] for r in found] == ["connected", "disconnected"]
    assert (found[1]["reason"], found[1]["protocol"]) == ("adapter restarted", "ocpp1.6")
    async with charge_point(cse, cp_id) as cp:
        await cp.boot()
        found = await records_when(cse, cp_id, 3)
        assert found[-1]["state"] == "connected"
