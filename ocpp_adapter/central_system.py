"""The OCPP 1.6J central system: one `ChargePoint` per charger socket, one handler per action.

Handlers translate between OCPP and the oneM2M side (`chargers`, `sessions`) and answer.
Calls to the charger go through the command service (`commands.send`, which records them)
and are never awaited inside a handler: the package reads the charger's answers in the same
task that runs the handler, so the call would wait for an answer nobody reads. They run on
their own tasks instead.

Every frame is answered: frames the package cannot unpack get the CALLERROR OCPP-J 1.6
asks for (`frames`), and nothing a charger sends ends the connection. Incoming payloads
are validated here rather than by the package, so that a charger marked lenient
(`ocpp:lenient` on its AE) has a message that fails the schema still handled when its
required fields are usable; the violation is logged and recorded in its `violations`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError, SecurityError
from ocpp.messages import Call, validate_payload
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from websockets.exceptions import ConnectionClosed

from ocpp_adapter.calls import CommandRejected, answer_payload, build_call
from ocpp_adapter.chargers import Chargers
from ocpp_adapter.connection_tasks import ConnectionTasks
from ocpp_adapter.frames import (
    CALL,
    BadFrame,
    CallErrorReply,
    call_error,
    known_fields,
    parse_frame,
    schema_violation,
    structure_violation,
    unknown_action_error,
)
from ocpp_adapter.sessions import SessionService, energy_samples
from ocpp_adapter.tree import EVCS_AEI

if TYPE_CHECKING:
    from ocpp_adapter.commands import CommandService

log = logging.getLogger("citycse.ocpp")

SUBPROTOCOL = "ocpp1.6"
VERSION = "1.6"
VENDOR_ID = "citycse"
SET_BUDGET = "SetBudget"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class CentralSystemChargePoint(ConnectionTasks, ChargePoint):
    """The central system's side of one charger connection."""

    subprotocol = SUBPROTOCOL

    def __init__(
        self,
        cp_id: str,
        connection: Any,
        chargers: Chargers,
        sessions: SessionService,
        heartbeat_interval: int,
        response_timeout: float = 30,
        commands: CommandService | None = None,
    ) -> None:
        super().__init__(cp_id, connection, response_timeout=response_timeout)
        self.chargers = chargers
        self.sessions = sessions
        self.commands = commands
        self.heartbeat_interval = heartbeat_interval
        self.init_tasks()
        self._lenient: bool | None = None  # read from the tree at the first violation
        for handlers in self.route_map.values():
            handlers["_skip_schema_validation"] = True  # validated in _handle_call

    # -- calls to the charger -------------------------------------------------------------

    async def send_call(self, action: str, payload: dict) -> dict:
        """Send one call; the charger's answer as a camelCase payload. CommandRejected when
        the call is not valid OCPP 1.6 (nothing is sent); CALLERRORs and timeouts raise."""
        request = build_call(SUBPROTOCOL, action, payload)
        wire = Call("check", action, remove_nones(snake_to_camel_case(serialize_as_dict(request))))
        try:
            await validate_payload(wire, VERSION)
        except OCPPError as exc:
            cause = exc.details.get("cause") if isinstance(exc.details, dict) else None
            raise CommandRejected(f"bad {action} request: {cause or exc.description}") from None
        return answer_payload(await self.until_closed(self.call(request, suppress=False)))

    def remote_stop(self, transaction_id: int, why: str) -> None:
        """RemoteStopTransaction on its own task, recorded by the command service."""
        request = {"transactionId": transaction_id}
        assert self.commands is not None
        self.spawn(self.commands.send(self.id, "RemoteStopTransaction", request, why, EVCS_AEI))

    # -- frames -----------------------------------------------------------------------------

    async def route_message(self, raw_msg: str | bytes) -> None:
        frame = parse_frame(raw_msg)
        if isinstance(frame, BadFrame):
            log.warning("event=bad_frame cp=%s code=%s why=%r", self.id, frame.code,
                        frame.description)  # fmt: skip
            if frame.unique_id is not None:
                await self._send(call_error(frame.unique_id, frame.code, frame.description))
            return
        if frame[0] != CALL and not self._call_lock.locked():
            # Nothing is waiting for it: queued, it would only be skipped by the next call.
            log.warning("event=unexpected_answer cp=%s id=%s", self.id, frame[1])
            return
        try:
            await super().route_message(raw_msg)
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("event=frame_failed cp=%s", self.id)
            if frame[0] == CALL:
                await self._send(call_error(frame[1], "InternalError", "unexpected error"))

    async def _handle_call(self, msg: Call) -> Any:
        refusal = await self._refusal(msg)
        if refusal is not None:
            # Answered here: the package would log each refusal as an error with a traceback.
            log.warning("event=call_refused cp=%s action=%s id=%s code=%s why=%r", self.id,
                        msg.action, msg.unique_id, refusal.code, refusal.description)  # fmt: skip
            await self._send(msg.create_call_error(refusal).to_json())
            return None
        return await super()._handle_call(msg)

    async def _refusal(self, msg: Call) -> OCPPError | None:
        """Why a CALL is not handled, or None; makes a lenient charger's payload usable."""
        handlers = self.route_map.get(msg.action, {})
        if "_on_action" not in handlers:
            return unknown_action_error(msg.action)
        if msg.action != "BootNotification" and not await self.chargers.ready(self.id):
            return SecurityError(description="the charge point is not accepted (boot first)")
        violation = schema_violation(msg.action, msg.payload)
        if violation is None or not await self._is_lenient():
            return violation
        unusable = structure_violation(msg.action, msg.payload)
        if unusable is not None:
            return unusable
        await self._record_violation(msg, violation)
        msg.payload = known_fields(msg.action, msg.payload)
        return None

    async def _is_lenient(self) -> bool:
        if self._lenient is None:
            self._lenient = await self.chargers.lenient(self.id)
        return self._lenient

    async def _record_violation(self, msg: Call, violation: CallErrorReply) -> None:
        log.warning("event=schema_violation_tolerated cp=%s action=%s code=%s why=%r",
                    self.id, msg.action, violation.code, violation.description)  # fmt: skip
        record = {
            "action": msg.action,
            "uniqueId": msg.unique_id,
            "code": violation.code,
            "violation": violation.description,
            "payload": msg.payload,
        }
        await self.chargers.record(self.id, "violations", record, [f"action:{msg.action}"])

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
            self.remote_stop(transaction_id, "budget exhausted")
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
            accepted = amount.is_finite() and await self.sessions.set_budget(
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
