"""A simulated OCPP 1.6J charge point on the `ocpp` package, for the demo and the benchmark.

It answers what the central system asks (RemoteStopTransaction, ChangeAvailability,
charging profiles), keeps a log of it, and, like a real charger, ends its running session
with StopTransaction (reason Remote) after accepting a RemoteStopTransaction."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import connect


def iso_at(offset_seconds: float = 0.0) -> str:
    moment = datetime.fromtimestamp(time.time() + offset_seconds, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class SimulatedCharger(ChargePoint):
    def __init__(
        self, cp_id: str, connection: Any, on_call: Callable[[str, str], None] | None = None
    ) -> None:
        super().__init__(cp_id, connection, response_timeout=30)
        self.on_call = on_call or (lambda cp_id, what: None)
        self.calls: list[tuple[float, str]] = []
        self.events: asyncio.Queue[str] = asyncio.Queue()
        self.running: dict[int, int] = {}  # transaction id -> meter now (Wh)
        self.stopped: asyncio.Queue[int] = asyncio.Queue()
        self._tasks: set[asyncio.Task] = set()
        self.auto_stop = True
        """End a session with StopTransaction after accepting its RemoteStopTransaction."""

    def _note(self, what: str) -> None:
        self.calls.append((time.monotonic(), what))
        self.events.put_nowait(what)
        self.on_call(self.id, what)

    async def request(self, payload: Any) -> Any:
        return await self.call(payload, suppress=False)

    async def boot(self) -> str:
        result = await self.request(
            call.BootNotification(charge_point_model="Sim-1", charge_point_vendor="citycse")
        )
        return result.status

    async def authorize(self, id_tag: str) -> str:
        return (await self.request(call.Authorize(id_tag=id_tag))).id_tag_info["status"]

    async def start_session(
        self, id_tag: str, meter_start: int = 0, at: str | None = None
    ) -> tuple[int, str]:
        result = await self.request(
            call.StartTransaction(
                connector_id=1, id_tag=id_tag, meter_start=meter_start, timestamp=at or iso_at()
            )
        )
        status = result.id_tag_info["status"]
        if status == "Accepted":
            self.running[result.transaction_id] = meter_start
        return result.transaction_id, status

    async def stop_session(
        self, transaction_id: int, meter_stop: int, reason: str = "Local", at: str | None = None
    ) -> None:
        self.running.pop(transaction_id, None)
        await self.request(
            call.StopTransaction(
                meter_stop=meter_stop, timestamp=at or iso_at(),
                transaction_id=transaction_id, reason=reason,
            )
        )  # fmt: skip
        self.stopped.put_nowait(transaction_id)

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        self._note(f"RemoteStopTransaction(tx={transaction_id})")
        known = transaction_id in self.running
        return call_result.RemoteStopTransaction(status="Accepted" if known else "Rejected")

    @after("RemoteStopTransaction")
    async def after_remote_stop(self, transaction_id: int) -> None:
        meter = self.running.get(transaction_id)
        if meter is not None and self.auto_stop:
            task = asyncio.ensure_future(self.stop_session(transaction_id, meter, "Remote"))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @on("ChangeAvailability")
    async def on_change_availability(
        self, connector_id: int, type: str
    ) -> call_result.ChangeAvailability:
        self._note(f"ChangeAvailability({type})")
        return call_result.ChangeAvailability(status="Accepted")

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict
    ) -> call_result.SetChargingProfile:
        period = cs_charging_profiles["charging_schedule"]["charging_schedule_period"][0]
        unit = cs_charging_profiles["charging_schedule"]["charging_rate_unit"]
        self._note(f"SetChargingProfile(limit={period['limit']} {unit})")
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **payload: Any) -> call_result.ClearChargingProfile:
        self._note("ClearChargingProfile")
        return call_result.ClearChargingProfile(status="Accepted")


@contextlib.asynccontextmanager
async def connected_charger(
    url: str, cp_id: str, on_call: Callable[[str, str], None] | None = None
) -> AsyncIterator[SimulatedCharger]:
    async with connect(f"{url}/{cp_id}", subprotocols=["ocpp1.6"], open_timeout=30) as ws:
        charger = SimulatedCharger(cp_id, ws, on_call)
        reader = asyncio.ensure_future(charger.start())
        try:
            yield charger
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
