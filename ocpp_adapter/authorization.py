"""RFID authorisation against the user records: Accepted, Invalid or Blocked, with why.

Refusals are recorded in `evcs/authorizations` so an operator (or any AE with rights)
can see who was turned away, where and for what reason."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from ocpp_adapter.billing import money
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.tree import (
    AUTHORIZATIONS,
    EVCS_AEI,
    OK,
    add_instance,
    normalize_id_tag,
    user_path,
)
from ocpp_adapter.wallet import current

ACCEPTED, BLOCKED, INVALID = "Accepted", "Blocked", "Invalid"
USER_NOT_FOUND = "user not found"
INSUFFICIENT_BALANCE = "insufficient balance"


@dataclass(frozen=True, slots=True)
class Decision:
    status: str
    tag: str | None
    balance: Decimal
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED


async def decide(client: CSEClient, id_tag: str, min_balance: Decimal) -> Decision:
    """The status of a card now. Balance below `min_balance` blocks it."""
    tag = normalize_id_tag(id_tag)
    if tag is None:
        return Decision(INVALID, None, money(0), USER_NOT_FOUND)
    entry = await current(client, EVCS_AEI, tag)
    if entry is None:
        user = await client.retrieve(user_path(tag), EVCS_AEI)
        if user.rsc != OK:
            return Decision(INVALID, tag, money(0), USER_NOT_FOUND)
    balance = entry.balance if entry is not None else money(0)
    if balance < min_balance or balance <= 0:
        return Decision(BLOCKED, tag, balance, INSUFFICIENT_BALANCE)
    return Decision(ACCEPTED, tag, balance)


async def record_refusal(
    client: CSEClient, decision: Decision, id_tag: str, cp_id: str, action: str
) -> None:
    con = {
        "idTag": decision.tag or id_tag,
        "chargePointId": cp_id,
        "action": action,
        "status": decision.status,
        "reason": decision.reason,
        "balance": str(decision.balance),
        "at": time.time(),
    }
    labels = [f"chargePoint:{cp_id}", f"status:{decision.status}"]
    if decision.tag:
        labels.append(f"idTag:{decision.tag}")
    await add_instance(client, AUTHORIZATIONS, EVCS_AEI, con, labels=labels)
