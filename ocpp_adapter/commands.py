"""OCPP calls to chargers, each recorded in the charger's `results` container.

`CommandService.send` sends one call to a connected charger and writes the outcome as a
content instance of `cp-<cpId>/results` (labels `command:<ri>`, `action:<action>`), so
every call the central system makes is audited the same way, whoever asked for it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp_adapter.calls import CommandRejected
from ocpp_adapter.tree import TY_CNT, add_instance, charger_aei, charger_path

if TYPE_CHECKING:
    from ocpp_adapter.server import OcppAdapter

log = logging.getLogger("citycse.ocpp.commands")

RESULTS = "results"


class CommandService:
    def __init__(self, adapter: OcppAdapter) -> None:
        self.adapter = adapter
        self._results_ready: set[str] = set()

    async def send(
        self, cp_id: str, action: str, request: dict, reason: str, requested_by: str
    ) -> dict[str, Any]:
        """Send `action` to the charger and record the outcome; returns the record."""
        record: dict[str, Any] = {
            "command": None,
            "action": action,
            "request": request,
            "reason": reason,
            "requestedBy": requested_by,
        }
        cp = self.adapter.connections.get(cp_id)
        if cp is None:
            record.update(status="offline", error="the charger is not connected")
        else:
            try:
                record.update(status="answered", response=await cp.send_call(action, request))
            except CommandRejected as exc:
                record.update(status="rejected", error=str(exc))
            except Exception as exc:  # noqa: BLE001 - CALLERROR or timeout, recorded
                record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        log.info("event=command cp=%s action=%s status=%s", cp_id, action, record["status"])
        await self._record(cp_id, record)
        return record

    async def _record(self, cp_id: str, record: dict[str, Any]) -> None:
        path = f"{charger_path(cp_id)}/{RESULTS}"
        origin = charger_aei(cp_id)
        try:
            if cp_id not in self._results_ready:
                reply = await self.adapter.client.create(
                    charger_path(cp_id), origin, TY_CNT, "m2m:cnt", {"rn": RESULTS, "mni": 10000}
                )
                if reply.rsc in (2001, 4105):
                    self._results_ready.add(cp_id)
            await add_instance(
                self.adapter.client, path, origin, record,
                labels=[f"action:{record['action']}"],
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - the call was made; a lost record is logged
            log.exception("event=command_not_recorded cp=%s", cp_id)
