"""Simulated charge points for the dashboard tests: the `ocpp` package over real websockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from websockets.asyncio.client import connect

from tests.ocpp_adapter.conftest import OcppCSE, TestChargePoint


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SimulatedCharger(TestChargePoint):
    """A charger that also obeys ChangeAvailability, and the steps of a session."""

    __test__ = False

    def __init__(self, cp_id: str, connection: Any) -> None:
        super().__init__(cp_id, connection)
        self.availability: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self.reports: set[asyncio.Task] = set()
        self.started = datetime.now(UTC)

    @on("ChangeAvailability")
    async def on_change_availability(
        self, connector_id: int, type: str
    ) -> call_result.ChangeAvailability:
        self.availability.put_nowait((connector_id, type))
        return call_result.ChangeAvailability(status="Accepted")

    @after("ChangeAvailability")
    async def report_availability(self, connector_id: int, type: str) -> None:
        """Like a real charger, report the new status; as its own task, since the answer to
        a call is read by the task that runs this handler."""
        status = "Unavailable" if type == "Inoperative" else "Available"
        connectors = [0, 1] if connector_id == 0 else [connector_id]
        task = asyncio.get_running_loop().create_task(self._report(connectors, status))
        self.reports.add(task)
        task.add_done_callback(self.reports.discard)

    async def _report(self, connectors: list[int], status: str) -> None:
        for connector in connectors:
            await self.status(connector, status)

    async def status(self, connector_id: int, status: str) -> None:
        await self.send(
            call.StatusNotification(connector_id=connector_id, error_code="NoError", status=status)
        )

    async def start_session(self, id_tag: str, meter_start: int, connector_id: int = 1) -> int:
        result = await self.send(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=meter_start,
                timestamp=iso(self.started),
            )
        )
        assert result.id_tag_info["status"] == "Accepted", result
        await self.status(connector_id, "Charging")
        return result.transaction_id

    async def meter(self, transaction_id: int, wh: int, minutes: float, connector_id: int = 1):
        moment = self.started + timedelta(minutes=minutes)
        sampled = [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
        await self.send(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[{"timestamp": iso(moment), "sampled_value": sampled}],
            )
        )

    async def stop_session(self, transaction_id: int, meter_stop: int, minutes: float) -> None:
        await self.send(
            call.StopTransaction(
                meter_stop=meter_stop,
                timestamp=iso(self.started + timedelta(minutes=minutes)),
                transaction_id=transaction_id,
                reason="Remote",
            )
        )


@contextlib.asynccontextmanager
async def simulated_charger(cse: OcppCSE, cp_id: str) -> AsyncIterator[SimulatedCharger]:
    async with connect(cse.ocpp_url(cp_id), subprotocols=["ocpp1.6"]) as ws:
        cp = SimulatedCharger(cp_id, ws)
        reader = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
