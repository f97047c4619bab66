"""Charge points for the tests: the `ocpp` package's OCPP 1.6J charge point over real
websockets, the calls it answers recorded for assertions."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from ocpp.charge_point import ChargePoint as AnyChargePoint
from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import connect

if TYPE_CHECKING:
    from tests.ocpp_adapter.conftest import OcppCSE

Station = TypeVar("Station", bound=AnyChargePoint)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def now_iso(offset: float = 0.0) -> str:
    return iso(datetime.fromtimestamp(time.time() + offset, UTC))


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def listening(cp: Station) -> AsyncIterator[Station]:
    """The charge point reads its websocket (and answers calls) for the length of the block."""
    reader = asyncio.create_task(cp.start())
    try:
        yield cp
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


class TestChargePoint(ChargePoint):
    """The charge point side: answers the central system's calls and records them in
    `received` as (action, camelCase payload). `answers` overrides an answer's status."""

    __test__ = False

    def __init__(self, cp_id: str, connection: Any) -> None:
        super().__init__(cp_id, connection, response_timeout=15)
        self.remote_stops: asyncio.Queue[int] = asyncio.Queue()
        self.received: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self.answers: dict[str, str] = {}
        self.configuration = {"HeartbeatInterval": "300", "MeterValueSampleInterval": "60"}

    def _got(self, action: str, default: str, **payload: Any) -> str:
        self.received.put_nowait((action, snake_to_camel_case(payload)))
        return self.answers.get(action, default)

    def received_so_far(self) -> list[tuple[str, dict]]:
        """The calls received and not yet taken from `received`, in the order they came."""
        calls = []
        while not self.received.empty():
            calls.append(self.received.get_nowait())
        return calls

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        self.remote_stops.put_nowait(transaction_id)
        status = self._got("RemoteStopTransaction", "Accepted", transaction_id=transaction_id)
        return call_result.RemoteStopTransaction(status=status)

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **payload: Any) -> call_result.RemoteStartTransaction:
        status = self._got("RemoteStartTransaction", "Accepted", **payload)
        return call_result.RemoteStartTransaction(status=status)

    @on("ChangeAvailability")
    async def on_change_availability(self, **payload: Any) -> call_result.ChangeAvailability:
        return call_result.ChangeAvailability(
            self._got("ChangeAvailability", "Accepted", **payload)
        )

    @on("SetChargingProfile")
    async def on_set_charging_profile(self, **payload: Any) -> call_result.SetChargingProfile:
        return call_result.SetChargingProfile(
            self._got("SetChargingProfile", "Accepted", **payload)
        )

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **payload: Any) -> call_result.ClearChargingProfile:
        status = self._got("ClearChargingProfile", "Accepted", **payload)
        return call_result.ClearChargingProfile(status)

    @on("Reset")
    async def on_reset(self, **payload: Any) -> call_result.Reset:
        return call_result.Reset(self._got("Reset", "Accepted", **payload))

    @on("UnlockConnector")
    async def on_unlock_connector(self, **payload: Any) -> call_result.UnlockConnector:
        return call_result.UnlockConnector(self._got("UnlockConnector", "Unlocked", **payload))

    @on("TriggerMessage")
    async def on_trigger_message(self, **payload: Any) -> call_result.TriggerMessage:
        return call_result.TriggerMessage(self._got("TriggerMessage", "Accepted", **payload))

    @on("GetConfiguration")
    async def on_get_configuration(self, key: list | None = None) -> call_result.GetConfiguration:
        self._got("GetConfiguration", "", key=key)
        wanted = key or list(self.configuration)
        known = [
            {"key": k, "readonly": False, "value": self.configuration[k]}
            for k in wanted
            if k in self.configuration
        ]
        unknown = [k for k in wanted if k not in self.configuration]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeConfiguration")
    async def on_change_configuration(
        self, key: str, value: str
    ) -> call_result.ChangeConfiguration:
        status = self._got("ChangeConfiguration", "Accepted", key=key, value=value)
        if status == "Accepted":
            self.configuration[key] = value
        return call_result.ChangeConfiguration(status)

    async def send(self, payload: Any) -> Any:
        return await self.call(payload, suppress=False)

    async def boot(self) -> str:
        result = await self.send(
            call.BootNotification(charge_point_model="T1", charge_point_vendor="TestCo")
        )
        return result.status


class SimulatedCharger(TestChargePoint):
    """A charger of a site: obeys ChangeAvailability and reports its new status like a real
    charger, takes charging profiles, and runs sessions (start, meter values, stop).

    `availability` holds (connectorId, type) of each ChangeAvailability, `profiles` ("set",
    profile) or ("clear", payload) of each charging-profile call. Times of the session
    steps default to now; `at(minutes)` is a time that many minutes after the charger was
    made."""

    __test__ = False

    def __init__(self, cp_id: str, connection: Any) -> None:
        super().__init__(cp_id, connection)
        self.availability: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self.profiles: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self.reports: set[asyncio.Task] = set()
        self.started = datetime.now(UTC)

    def at(self, minutes: float) -> str:
        return iso(self.started + timedelta(minutes=minutes))

    @on("ChangeAvailability")
    async def on_change_availability(
        self, connector_id: int, type: str
    ) -> call_result.ChangeAvailability:
        self.availability.put_nowait((connector_id, type))
        status = self._got("ChangeAvailability", "Accepted", connector_id=connector_id, type=type)
        return call_result.ChangeAvailability(status=status)

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

    @on("SetChargingProfile")
    async def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict
    ) -> call_result.SetChargingProfile:
        self.profiles.put_nowait(("set", cs_charging_profiles))
        status = self._got(
            "SetChargingProfile", "Accepted",
            connector_id=connector_id, cs_charging_profiles=cs_charging_profiles,
        )  # fmt: skip
        return call_result.SetChargingProfile(status=status)

    @on("ClearChargingProfile")
    async def on_clear_charging_profile(self, **payload: Any) -> call_result.ClearChargingProfile:
        self.profiles.put_nowait(("clear", payload))
        status = self._got("ClearChargingProfile", "Accepted", **payload)
        return call_result.ClearChargingProfile(status=status)

    async def status(self, connector_id: int, status: str) -> None:
        await self.send(
            call.StatusNotification(connector_id=connector_id, error_code="NoError", status=status)
        )

    async def authorize(self, id_tag: str) -> str:
        result = await self.send(call.Authorize(id_tag=id_tag))
        return result.id_tag_info["status"]

    async def start_session(
        self, id_tag: str, meter_start: int = 0, at: str | None = None, connector_id: int = 1
    ) -> tuple[int, str]:
        """StartTransaction: the transaction id and the status of the id tag."""
        result = await self.send(
            call.StartTransaction(
                connector_id=connector_id, id_tag=id_tag, meter_start=meter_start,
                timestamp=at or now_iso(),
            )
        )  # fmt: skip
        return result.transaction_id, result.id_tag_info["status"]

    async def charge(self, id_tag: str, meter_start: int, connector_id: int = 1) -> int:
        """An accepted session from the time the charger was made, the connector Charging."""
        transaction_id, status = await self.start_session(
            id_tag, meter_start, self.at(0), connector_id
        )
        assert status == "Accepted", (transaction_id, status)
        await self.status(connector_id, "Charging")
        return transaction_id

    async def meter(self, transaction_id: int, wh: int, minutes: float, connector_id: int = 1):
        sampled = [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
        await self.send(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[{"timestamp": self.at(minutes), "sampled_value": sampled}],
            )
        )

    async def stop_session(self, transaction_id: int, meter_stop: int, at: str | None = None):
        await self.send(
            call.StopTransaction(
                meter_stop=meter_stop, timestamp=at or now_iso(),
                transaction_id=transaction_id, reason="Remote",
            )
        )  # fmt: skip


@contextlib.asynccontextmanager
async def charge_point(
    cse: OcppCSE,
    cp_id: str,
    password: str | None = None,
    ssl: Any = None,
    kind: type[TestChargePoint] | None = None,
) -> AsyncIterator[TestChargePoint]:
    """A charge point (a `TestChargePoint` unless `kind` says otherwise) connected to the
    CSE's central system over OCPP 1.6J."""
    headers = basic_auth(cp_id, password) if password is not None else None
    async with (
        connect(
            cse.ocpp_url(cp_id), subprotocols=["ocpp1.6"], additional_headers=headers, ssl=ssl
        ) as ws,
        listening((kind or TestChargePoint)(cp_id, ws)) as cp,
    ):
        yield cp


@contextlib.asynccontextmanager
async def simulated_charger(cse: OcppCSE, cp_id: str) -> AsyncIterator[SimulatedCharger]:
    async with charge_point(cse, cp_id, kind=SimulatedCharger) as cp:
        assert isinstance(cp, SimulatedCharger)
        yield cp
