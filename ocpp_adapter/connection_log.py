"""Connection state of the chargers in the tree: `cp-<id>/connection`.

One content instance per connect and one per disconnect, nothing per message:

    {"state": "connected", "at": "2026-11-24T10:22:29Z", "protocol": "ocpp2.0.1",
     "remote": "127.0.0.1:50312"}
    {"state": "disconnected", "at": ..., "protocol": "ocpp1.6", "code": 1006,
     "reason": "connection lost"}

labelled `state:<state>`. The latest instance (`connection/la`) is the charger's state now;
a page or any AE subscribes to the container to follow it. The writes of one charger are
made in the order of the events (each waits for the one before), and a socket replaced by
the charger's new connection writes no disconnect (the new one's connect says it all).

An adapter that stopped without closing its sockets (killed, crashed) could not write the
disconnects: on start, before any charger can be connected to it, every charger last
recorded `connected` is recorded `disconnected` with the reason "adapter restarted"."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ocpp_adapter.chargers import Chargers
from ocpp_adapter.devices import label_value
from ocpp_adapter.per_charger_order import PerChargerOrder
from ocpp_adapter.tree import BASE, CHARGER_API, EVCS_AEI, TY_AE, charger_path, latest

log = logging.getLogger("citycse.ocpp.connections")

CONNECTION_CONTAINER = "connection"
CONNECTED, DISCONNECTED = "connected", "disconnected"
ADAPTER_RESTARTED = "adapter restarted"
CHARGER_PREFIX = "chargePoint:"
RESTART_CONCURRENCY = 16
# Said when the closing side gave no reason (RFC 6455 codes; None: no close frame at all).
CLOSE_CODE_MEANINGS = {
    None: "connection lost",
    1000: "closed normally",
    1001: "going away",
    1006: "connection lost",
    1011: "internal error",
}


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _address(remote: Any) -> str | None:
    if isinstance(remote, tuple) and len(remote) >= 2:
        return f"{remote[0]}:{remote[1]}"
    return None


class ConnectionLog:
    """Writes the connection records of the chargers, in order, off the socket's path."""

    def __init__(self, chargers: Chargers) -> None:
        self.chargers = chargers
        self._order = PerChargerOrder()

    def connected(self, cp_id: str, protocol: str, remote: Any) -> None:
        con = {"state": CONNECTED, "at": utc_now(), "protocol": protocol}
        address = _address(remote)
        if address is not None:
            con["remote"] = address
        self._in_order(cp_id, lambda: self._write(cp_id, con))

    def disconnected(self, cp_id: str, protocol: str, code: int | None, reason: str | None) -> None:
        con: dict[str, Any] = {"state": DISCONNECTED, "at": utc_now(), "protocol": protocol}
        if code is not None:
            con["code"] = code
        con["reason"] = reason or CLOSE_CODE_MEANINGS.get(code, "connection closed")
        self._in_order(cp_id, lambda: self._write(cp_id, con))

    async def close_stale(self, connected_now: Callable[[str], bool]) -> None:
        """Record as disconnected the chargers last recorded connected that have no socket
        here (the adapter restarted); each write waits its turn among the charger's own."""
        reply = await self.chargers.client.retrieve(
            BASE, EVCS_AEI, rcn=8, query={"ty": TY_AE, "api": CHARGER_API}
        )
        if not reply.ok:
            log.warning("event=connection_check_failed rsc=%s", reply.rsc)
            return
        limit = asyncio.Semaphore(RESTART_CONCURRENCY)
        for ae in reply.children("m2m:cb", "m2m:ae"):
            cp_id = label_value(ae.get("lbl"), CHARGER_PREFIX)
            if cp_id is not None:
                self._in_order(cp_id, lambda c=cp_id: self._close_if_stale(c, connected_now, limit))

    async def _close_if_stale(
        self, cp_id: str, connected_now: Callable[[str], bool], limit: asyncio.Semaphore
    ) -> None:
        async with limit:
            if connected_now(cp_id):
                return
            last = await latest(
                self.chargers.client, f"{charger_path(cp_id)}/{CONNECTION_CONTAINER}", EVCS_AEI
            )
            if last is None or (last.get("con") or {}).get("state") != CONNECTED:
                return
            protocol = last["con"].get("protocol")
            con = {"state": DISCONNECTED, "at": utc_now(), "protocol": protocol,
                   "reason": ADAPTER_RESTARTED}  # fmt: skip
            await self._write(cp_id, con)

    async def drain(self) -> None:
        """Wait for the writes under way (the adapter is stopping)."""
        pending = self._order.pending()
        if pending:
            await asyncio.wait(pending)

    def _in_order(self, cp_id: str, job: Callable[[], Awaitable[None]]) -> None:
        async def logged() -> None:
            try:
                await job()
            except Exception:  # noqa: BLE001 - a lost record is logged, the socket goes on
                log.exception("event=connection_not_recorded cp=%s", cp_id)

        self._order.run(cp_id, logged)

    async def _write(self, cp_id: str, con: dict[str, Any]) -> None:
        log.info("event=connection_recorded cp=%s state=%s", cp_id, con["state"])
        await self.chargers.record(
            cp_id, CONNECTION_CONTAINER, con, labels=[f"state:{con['state']}"]
        )
