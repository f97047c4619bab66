"""The OCPP 1.6J central system: one `ChargePoint` per charger socket, one handler per action.

Handlers translate between OCPP and the oneM2M side (`chargers`, `sessions`) and answer.
Calls to the charger (RemoteStopTransaction) are never awaited inside a handler: the
package reads the charger's answers in the same task that runs the handler, so the call
would wait for an answer nobody reads. They run on their own tasks instead."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, validate_payload
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from ocpp_adapter.calls import CommandRejected, answer_payload, build_call
from ocpp_adapter.chargers import Chargers
from ocpp_adapter.sessions import SessionService, energy_samples

log = logging.getLogger("citycse.ocpp")

VENDOR_ID = "citycse"
# Message ids of our calls: a per-process prefix and a counter, unique for the process and
# cheaper than a uuid4 per call when a fire alarm sends hundreds of calls at once.
CALL_IDS = map(f"{uuid.uuid4().hex[:12]}-{{}}".format, itertools.count(1))
SET_BUDGET = "SetBudget"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CentralSystemChargePoint(ChargePoint):
    """The central system's side of one charger connection."""

    def __init__(
        self,
        cp_id: str,
        connection: Any,
        chargers: Chargers,
        sessions: SessionService,
        heartbeat_interval: int,
        response_timeout: float = 30,
    ) -> None:
        super().__init__(cp_id, connection, response_timeout=response_timeout)
        self.chargers = chargers
        self.sessions = sessions
        self.heartbeat_interval = heartbeat_interval
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- calls to the charger -------------------------------------------------------------

    async def send_call(self, action: str, payload: dict) -> dict:
        """One call built from its action name and wire payload; the answer's payload."""
        message = build_call("ocpp1.6", action, payload)
        try:
            await validate_payload(Call("", action, payload), self._ocpp_version)
        except OCPPError as exc:
            raise CommandRejected(f"bad {action} request: {exc}") from None
        # Validated once above; the answer is checked by building its dataclass.
        result = await self.call(
            message, suppress=False, unique_id=next(CALL_IDS), skip_schema_validation=True
        )
        return answer_payload(result)

    async def remote_stop(self, transaction_id: int, why: str) -> None:
        """RemoteStopTransaction; the request and the charger's answer are recorded."""
        status: str
        try:
            result = await self.call(
                call.RemoteStopTransaction(transaction_id=transaction_id), suppress=False
            )
            status = result.status
        except Exception as exc:  # noqa: BLE001 - recorded, the session goes on
            status = f"failed: {type(exc).__name__}: {exc}"
        log.info("event=remote_stop cp=%s tx=%s why=%r result=%s", self.id, transaction_id,
                 why, status)  # fmt: skip
        await self.chargers.record(
            self.id,
            "commands",
            {
                "action": "RemoteStopTransaction",
                "request": {"transactionId": transaction_id},
                "reason": why,
                "result": status,
            },
            labels=[f"transaction:{transaction_id}"],
        )

    # -- Core profile ---------------------------------------------------------------------

    @on("BootNotification")
    async def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        status = await self.chargers.boot(self.id, snake_to_camel_case(payload))
        return call_result.BootNotification(
            current_time=utc_now(), interval=self.heartbeat_interval, status=status
        )

    @on("Heartbeat")
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=utc_now())

    @on("StatusNotification")
    async def on_status_notification(self, **payload: Any) -> call_result.StatusNotification:
        con = snake_to_camel_case(payload)
        await self.chargers.record(
            self.id, "status", con, labels=[f"connector:{payload['connector_id']}"]
        )
        return call_result.StatusNotification()

    @on("Authorize")
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        decision = await self.sessions.authorize(self.id, id_tag)
        return call_result.Authorize(id_tag_info={"status": decision.status})

    @on("StartTransaction")
    async def on_start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        reservation_id: int | None = None,
    ) -> call_result.StartTransaction:
        result = await self.sessions.start(self.id, connector_id, id_tag, meter_start, timestamp)
        return call_result.StartTransaction(
            transaction_id=result.transaction_id, id_tag_info={"status": result.status}
        )

    @on("MeterValues")
    async def on_meter_values(
        self, connector_id: int, meter_value: list, transaction_id: int | None = None
    ) -> call_result.MeterValues:
        values = snake_to_camel_case(meter_value)
        samples = energy_samples(values)
        await self.chargers.record_meter(self.id, connector_id, transaction_id, values, samples)
        if await self.sessions.meter_values(self.id, transaction_id, samples):
            self.spawn(self.remote_stop(transaction_id, "budget exhausted"))
        return call_result.MeterValues()

    @on("StopTransaction")
    async def on_stop_transaction(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        reason: str | None = None,
        id_tag: str | None = None,
        transaction_data: list | None = None,
    ) -> call_result.StopTransaction:
        await self.sessions.stop(
            self.id,
            transaction_id,
            meter_stop,
            timestamp,
            reason,
            id_tag,
            snake_to_camel_case(transaction_data) if transaction_data else None,
        )
        status = await self.sessions.stop_id_tag_status(id_tag)
        return call_result.StopTransaction(
            id_tag_info={"status": status} if status is not None else None
        )

    @on("DataTransfer")
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id != SET_BUDGET:
            return call_result.DataTransfer(status="UnknownMessageId")
        try:
            request = json.loads(data or "")
            amount = Decimal(str(request["amount"]))
            accepted = amount.is_finite() and self.sessions.set_budget(
                str(request["idTag"]), amount
            )
        except (ValueError, KeyError, TypeError, InvalidOperation):
            accepted = False
        return call_result.DataTransfer(status="Accepted" if accepted else "Rejected")

    # -- Firmware management --------------------------------------------------------------

    @on("FirmwareStatusNotification")
    async def on_firmware_status_notification(
        self, status: str
    ) -> call_result.FirmwareStatusNotification:
        await self.chargers.record(self.id, "status", {"firmwareStatus": status})
        return call_result.FirmwareStatusNotification()

    @on("DiagnosticsStatusNotification")
    async def on_diagnostics_status_notification(
        self, status: str
    ) -> call_result.DiagnosticsStatusNotification:
        await self.chargers.record(self.id, "status", {"diagnosticsStatus": status})
        return call_result.DiagnosticsStatusNotification()
