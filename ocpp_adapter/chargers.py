"""Charge points on the oneM2M side: their AE, boot data, status, meter values, commands.

The adapter writes a charger's data as that charger (originator `Ccp-<id>`), so the tree
shows which charger said what, and the charger's own policy governs who may read it."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ocpp_adapter.billing import MeterSample
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.passwords import verify_password
from ocpp_adapter.tree import (
    CREDENTIALS,
    EVCS_AEI,
    LENIENT_LABEL,
    EvcsTree,
    add_instance,
    charger_aei,
    charger_exists,
    charger_path,
    ensure_charger,
    latest,
)

log = logging.getLogger("citycse.ocpp.chargers")

UNKNOWN_CHARGER_POLICIES = ("accept", "pending", "reject")
BOOT_STATUS = {"accept": "Accepted", "pending": "Pending", "reject": "Rejected"}


class Chargers:
    """Registration policy and the charger containers.

    Unknown chargers (no AE and no password configured) are kept `pending` by default: they
    stay connected and out of the tree, and every message they send beyond the boot is
    refused (SecurityError), until the operator admits them by setting their password
    (`citycse chargers password`). `accept` would let any device that reaches the port
    register an AE and report transactions against any user's idTag (idTags are printed on
    cards, not secret), so it is for closed networks and tests only; `reject` answers their
    boot Rejected."""

    def __init__(self, client: CSEClient, tree: EvcsTree, unknown_policy: str) -> None:
        if unknown_policy not in UNKNOWN_CHARGER_POLICIES:
            raise ValueError(f"unknown-chargers policy must be one of {UNKNOWN_CHARGER_POLICIES}")
        self.client = client
        self.tree = tree
        self.unknown_policy = unknown_policy
        self._ready: set[str] = set()
        self._readying: dict[str, asyncio.Future[bool]] = {}

    async def password_record(self, cp_id: str) -> dict | None:
        cin = await latest(self.client, f"{CREDENTIALS}/{cp_id}", EVCS_AEI)
        return cin["con"] if cin is not None else None

    async def check_password(self, cp_id: str, password: str | None) -> bool | None:
        """None when no password is configured for the charger; else whether it matches."""
        record = await self.password_record(cp_id)
        if record is None:
            return None
        return password is not None and verify_password(password, record)

    async def known(self, cp_id: str) -> bool:
        return (
            cp_id in self._ready
            or await charger_exists(self.client, cp_id)
            or await self.password_record(cp_id) is not None
        )

    async def lenient(self, cp_id: str) -> bool:
        """Whether the charger's AE carries the `ocpp:lenient` label."""
        reply = await self.client.retrieve(charger_path(cp_id), EVCS_AEI)
        if not reply.ok:
            return False
        return LENIENT_LABEL in (reply.pc.get("m2m:ae", {}).get("lbl") or [])

    async def ready(self, cp_id: str) -> bool:
        """Whether the charger's containers exist (created when policy allows). Calls that
        come while the first is still at work (the connection record and the boot of a
        charger that just connected) wait for it instead of making them again."""
        if cp_id in self._ready:
            return True
        pending = self._readying.get(cp_id)
        if pending is None:
            pending = asyncio.ensure_future(self._make_ready(cp_id))
            self._readying[cp_id] = pending
            pending.add_done_callback(lambda _: self._readying.pop(cp_id, None))
        return await asyncio.shield(pending)

    async def _make_ready(self, cp_id: str) -> bool:
        if self.unknown_policy != "accept" and not await self.known(cp_id):
            return False
        await ensure_charger(self.client, cp_id, self.tree)
        self._ready.add(cp_id)
        return True

    async def boot(self, cp_id: str, boot: dict[str, Any]) -> str:
        """Registration status for a BootNotification; registers the AE when accepted."""
        if self.unknown_policy != "accept" and not await self.known(cp_id):
            log.warning("event=unknown_charger cp=%s policy=%s", cp_id, self.unknown_policy)
            return BOOT_STATUS[self.unknown_policy]
        await self.ready(cp_id)
        await self.record(cp_id, "info", {**boot, "bootedAt": time.time()})
        return "Accepted"

    async def record(
        self, cp_id: str, container: str, con: dict[str, Any], labels: list[str] | None = None
    ) -> None:
        if not await self.ready(cp_id):
            return
        await add_instance(
            self.client, f"{charger_path(cp_id)}/{container}", charger_aei(cp_id), con,
            labels=labels, answer=False,
        )  # fmt: skip

    async def record_meter(
        self,
        cp_id: str,
        connector_id: int,
        transaction_id: int | None,
        meter_value: list[dict[str, Any]],
        samples: list[MeterSample],
    ) -> None:
        con = {
            "connectorId": connector_id,
            "transactionId": transaction_id,
            "meterValue": meter_value,
            "energySamples": [{"t": s.timestamp, "wh": str(s.wh)} for s in samples],
        }
        labels = [f"connector:{connector_id}"]
        if transaction_id is not None:
            labels.append(f"transaction:{transaction_id}")
        await self.record(cp_id, "meter", con, labels)
