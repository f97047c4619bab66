"""E-wallets: one content instance per balance change; the latest one holds the balance.

Each wallet instance is named `w<seq>` with `seq` one more than the latest instance's, so
two writers that read the same balance cannot both append: the second create is refused
with 4105 (the name is taken) and it re-reads and retries. That makes balance changes safe
across processes too (the adapter, `citycse users topup`, another adapter process).

Decisions that read the balance and then change it (a hold) are serialised per idTag with
an asyncio lock (`WalletLocks`). That guarantee holds within one adapter process; across
processes only the optimistic append above protects the balance itself."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from ocpp_adapter.billing import money
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.tree import add_instance, instances, latest, user_path

APPEND_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class WalletEntry:
    seq: int
    balance: Decimal
    change: Decimal
    reason: str
    transaction_id: int | None
    con: dict


def _entry(cin: dict) -> WalletEntry:
    con = cin["con"]
    return WalletEntry(
        seq=int(con.get("seq", 0)),
        balance=money(con["balance"]),
        change=money(con.get("change", "0")),
        reason=str(con.get("reason", "")),
        transaction_id=con.get("transactionId"),
        con=con,
    )


def wallet_path(tag: str) -> str:
    return f"{user_path(tag)}/wallet"


async def current(client: CSEClient, origin: str, tag: str) -> WalletEntry | None:
    cin = await latest(client, wallet_path(tag), origin)
    return _entry(cin) if cin is not None else None


async def balance(client: CSEClient, origin: str, tag: str) -> Decimal:
    entry = await current(client, origin, tag)
    return entry.balance if entry is not None else money(0)


async def find(client: CSEClient, origin: str, tag: str, label: str) -> WalletEntry | None:
    """The wallet entry carrying `label` (e.g. `hold:17`), if any."""
    found = await instances(client, wallet_path(tag), origin, label)
    return _entry(found[-1]) if found else None


async def append(
    client: CSEClient,
    origin: str,
    tag: str,
    change: Decimal,
    reason: str,
    transaction_id: int | None = None,
    labels: list[str] | None = None,
    extra: dict | None = None,
    floor: Decimal | None = Decimal(0),
) -> WalletEntry:
    """Add `change` to the balance. Refused with `InsufficientFunds` when the new balance
    would fall below `floor` (None: no floor)."""
    change = money(change)
    for _ in range(APPEND_ATTEMPTS):
        previous = await current(client, origin, tag)
        seq = previous.seq + 1 if previous is not None else 1
        old = previous.balance if previous is not None else money(0)
        new = old + change
        if floor is not None and change < 0 and new < floor:
            raise InsufficientFunds(f"balance {old} cannot pay {-change}")
        con = {
            **(extra or {}),
            "seq": seq,
            "balance": str(new),
            "change": str(change),
            "reason": reason,
            "transactionId": transaction_id,
        }
        cin = await add_instance(client, wallet_path(tag), origin, con, f"w{seq:012d}", labels)
        if cin is not None:
            return _entry(cin)
        await asyncio.sleep(0)
    raise WalletBusy(f"wallet of {tag} kept changing under {APPEND_ATTEMPTS} attempts")


class InsufficientFunds(Exception):
    pass


class WalletBusy(Exception):
    pass


class WalletLocks:
    """One asyncio lock per idTag: a read-decide-write on one wallet runs alone."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def __call__(self, tag: str) -> asyncio.Lock:
        lock = self._locks.get(tag)
        if lock is None:
            lock = self._locks[tag] = asyncio.Lock()
        return lock
