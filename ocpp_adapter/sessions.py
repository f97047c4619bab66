"""Charging sessions on the oneM2M side: start with a hold, running cost, settle with refund.

No socket here: the OCPP handlers call these methods and answer with what they return.
What settling needs is written to the tree when the session starts (`evcs/sessions/tx-<id>`:
idTag, charger, connector, meterStart, timestamp, hold), so a session started before an
adapter restart settles correctly after it. Transaction ids come from the state tag of
`evcs/txids`, which the CSE increments in the transaction of each create: they never
repeat, also across restarts and adapter processes.

Exactly-once billing: a retransmitted StartTransaction (same charger, connector, idTag,
timestamp, meterStart) is found by its `startKey:` label and gets the same transaction id;
the hold and the settlement are wallet instances labelled `hold:<id>` and `settle:<id>`,
looked up before they are written, under the per-idTag lock. These checks are exact within
one adapter process (the lock); a charger's messages reach only the process holding its
socket, so one transaction is not settled by two processes at once.

OCPP 2.0.1 chargers choose their own (string) transaction ids: such a session is started
with a `key` derived from the charger and its id instead of the 1.6 start key, so every
later event of it finds the same CSMS transaction. Register readings may be fractional Wh
(a kWh register): meter readings are ints when whole, else exact Decimals."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from ocpp_adapter import wallet
from ocpp_adapter.authorization import (
    ACCEPTED,
    BLOCKED,
    INVALID,
    Decision,
    decide,
    record_refusal,
)
from ocpp_adapter.billing import (
    MeterSample,
    RunningCost,
    hold_amount,
    money,
    session_cost,
    settle,
)
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.tariffs import TariffSource, parse_time
from ocpp_adapter.tree import (
    BUDGETS,
    EVCS_AEI,
    ORPHANS,
    SESSIONS,
    TXIDS,
    add_instance,
    charger_aei,
    charger_path,
    instances,
    latest,
    normalize_id_tag,
    user_path,
)

log = logging.getLogger("citycse.ocpp.sessions")

ENERGY_REGISTER = "Energy.Active.Import.Register"


Wh = int | Decimal
"""A register reading in Wh: an int when whole (always in OCPP 1.6), else an exact Decimal."""


def wh_reading(value: Any) -> Wh:
    """A reading as stored: int when whole, else Decimal (raises InvalidOperation)."""
    reading = Decimal(str(value))
    return int(reading) if reading == reading.to_integral_value() else reading


def wh_json(value: Wh) -> int | str:
    """A reading for JSON content: an int when whole, else its exact decimal string."""
    reading = wh_reading(value)
    return reading if isinstance(reading, int) else str(reading)


@dataclass(slots=True)
class Session:
    transaction_id: int
    cp_id: str
    connector_id: int
    tag: str
    meter_start: Wh
    timestamp: str
    hold: Decimal
    status: str
    samples: list[MeterSample] = field(default_factory=list)
    stop_requested: bool = False
    station_transaction_id: str | None = None
    """The charger's own transaction id (OCPP 2.0.1)."""
    key: str | None = None
    """The start key it was found by."""
    running: RunningCost = field(default_factory=RunningCost)

    @property
    def start_sample(self) -> MeterSample:
        return MeterSample(parse_time(self.timestamp), Decimal(self.meter_start))

    def content(self, start_key: str) -> dict[str, Any]:
        con = {
            "transactionId": self.transaction_id,
            "chargePointId": self.cp_id,
            "connectorId": self.connector_id,
            "idTag": self.tag,
            "meterStart": wh_json(self.meter_start),
            "timestamp": self.timestamp,
            "hold": str(self.hold),
            "status": self.status,
            "startKey": start_key,
        }
        if self.station_transaction_id is not None:
            con["stationTransactionId"] = self.station_transaction_id
        return con

    @classmethod
    def from_content(cls, con: dict[str, Any]) -> Session:
        return cls(
            transaction_id=int(con["transactionId"]),
            cp_id=str(con["chargePointId"]),
            connector_id=int(con["connectorId"]),
            tag=str(con["idTag"]),
            meter_start=wh_reading(con["meterStart"]),
            timestamp=str(con["timestamp"]),
            hold=money(con["hold"]),
            status=str(con["status"]),
            station_transaction_id=con.get("stationTransactionId"),
            key=con.get("startKey"),
        )


def energy_samples(meter_values: list[dict[str, Any]]) -> list[MeterSample]:
    """The energy register readings (Wh) in OCPP MeterValue objects (camelCase keys).
    A sampled value without measurand is the energy register; kWh is converted."""
    samples: list[MeterSample] = []
    for entry in meter_values or []:
        try:
            moment = parse_time(entry["timestamp"])
        except (KeyError, ValueError, TypeError):
            continue
        for value in entry.get("sampledValue") or []:
            if value.get("measurand", ENERGY_REGISTER) != ENERGY_REGISTER or value.get("phase"):
                continue
            if value.get("format") == "SignedData":
                continue
            try:
                wh = Decimal(str(value["value"]))
            except (KeyError, InvalidOperation):
                continue
            if value.get("unit") == "kWh":
                wh *= 1000
            samples.append(MeterSample(moment, wh))
            break
    return samples


def last_reading(session: Session, more: list[MeterSample]) -> Wh:
    """The latest register reading known for a session (its start when there is none)."""
    samples = [session.start_sample, *session.samples, *more]
    return wh_reading(max(samples, key=lambda s: s.timestamp).wh)


def start_key(cp_id: str, connector_id: int, tag: str, timestamp: str, meter_start: int) -> str:
    raw = f"{cp_id}|{connector_id}|{tag}|{timestamp}|{meter_start}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _stop_record(
    session: Session, meter_stop: Wh, timestamp: str, reason: str | None, status: str
) -> dict[str, Any]:
    """What every stopped session's record says, billed or not."""
    record = {
        "transactionId": session.transaction_id,
        "idTag": session.tag,
        "chargePointId": session.cp_id,
        "connectorId": session.connector_id,
        "start": session.timestamp,
        "stop": timestamp,
        "meterStart": wh_json(session.meter_start),
        "meterStop": wh_json(meter_stop),
        "energyWh": wh_json(Decimal(meter_stop) - Decimal(session.meter_start)),
        "reason": reason or "Local",
        "status": status,
    }
    if session.station_transaction_id is not None:
        record["stationTransactionId"] = session.station_transaction_id
    return record


@dataclass(frozen=True, slots=True)
class StartResult:
    transaction_id: int
    status: str


class SessionService:
    def __init__(
        self,
        client: CSEClient,
        min_balance: Decimal,
        tariffs: TariffSource,
        locks: wallet.WalletLocks,
    ) -> None:
        self.client = client
        self.min_balance = min_balance
        self.tariffs = tariffs
        self.locks = locks
        self._sessions: dict[int, Session] = {}
        self._keys: dict[str, int] = {}
        """Transaction ids of sessions started with an explicit key (OCPP 2.0.1)."""
        self._running: dict[str, set[int]] = {}
        self.charging_refusal: Callable[[str], str | None] = lambda cp_id: None
        """Why charging on a charger is not allowed now (fire alarm, grid overload), or None."""

    def running_transactions(self, cp_id: str) -> list[int]:
        """Accepted sessions on the charger that have not stopped (known to this process)."""
        return sorted(self._running.get(cp_id, ()))

    def _track(self, session: Session) -> None:
        if session.status == ACCEPTED:
            self._running.setdefault(session.cp_id, set()).add(session.transaction_id)

    def _untrack(self, cp_id: str, transaction_id: int) -> None:
        running = self._running.get(cp_id)
        if running is not None:
            running.discard(transaction_id)
            if not running:
                del self._running[cp_id]

    async def recover_running(self) -> int:
        """Load the accepted sessions without a settlement (after a restart); their count."""
        found = 0
        for cin in await instances(self.client, SESSIONS, EVCS_AEI):
            session = Session.from_content(cin["con"])
            if session.status != ACCEPTED or session.transaction_id in self._sessions:
                continue
            record = f"{charger_path(session.cp_id)}/transactions/tx-{session.transaction_id}"
            if (await self.client.retrieve(record, EVCS_AEI)).ok:
                continue
            self._track(session)
            found += 1
        return found

    # -- Authorize ----------------------------------------------------------------------

    async def authorize(self, cp_id: str, id_tag: str, action: str = "Authorize") -> Decision:
        refusal = self.charging_refusal(cp_id)
        if refusal is not None:
            decision = Decision(BLOCKED, normalize_id_tag(id_tag), money(0), refusal)
        else:
            decision = await decide(self.client, id_tag, self.min_balance)
        if not decision.accepted:
            await record_refusal(self.client, decision, id_tag, cp_id, action)
            log.info(
                "event=refused cp=%s id_tag=%s status=%s reason=%r",
                cp_id,
                id_tag,
                decision.status,
                decision.reason,
            )
        return decision

    async def set_budget(self, id_tag: str, amount: Decimal) -> bool:
        """Keep the amount a card asked to spend (DataTransfer SetBudget) for its next
        session, in the tree, so that it outlives a restart of the adapter."""
        tag = normalize_id_tag(id_tag)
        if tag is None or amount <= 0:
            return False
        request = {"idTag": tag, "amount": str(money(amount))}
        await add_instance(
            self.client, BUDGETS, EVCS_AEI, request, labels=[f"idTag:{tag}"], answer=False
        )
        return True

    async def _take_requested_budget(self, tag: str) -> Decimal | None:
        """The newest amount the card asked for since its last start; every request of the
        card is used up by this start."""
        requests = await instances(self.client, BUDGETS, EVCS_AEI, f"idTag:{tag}")
        for request in requests:
            await self.client.delete(f"{BUDGETS}/{request['rn']}", EVCS_AEI)
        return money(requests[-1]["con"]["amount"]) if requests else None

    async def _default_budget(self, tag: str) -> Decimal | None:
        profile = await latest(self.client, f"{user_path(tag)}/profile", EVCS_AEI)
        budget = (profile or {}).get("con", {}).get("budget")
        return money(budget) if budget not in (None, "") else None

    # -- StartTransaction ---------------------------------------------------------------

    async def _next_transaction_id(self) -> int:
        cin = await add_instance(self.client, TXIDS, EVCS_AEI, {"at": time.time()})
        assert cin is not None
        return int(cin["st"])

    async def _ensure_hold(self, session: Session) -> None:
        """The hold of a started session, written once (a retransmit may find it missing
        when the adapter stopped between the session and the hold)."""
        if session.hold <= 0:
            return
        label = f"hold:{session.transaction_id}"
        if await wallet.find(self.client, EVCS_AEI, session.tag, label) is not None:
            return
        amount = session.hold
        try:
            await wallet.append(
                self.client,
                EVCS_AEI,
                session.tag,
                -amount,
                "hold",
                session.transaction_id,
                labels=[label, f"transaction:{session.transaction_id}"],
            )
        except wallet.InsufficientFunds:
            # The balance fell meanwhile (another process): hold what is left; settlement
            # uses the amount the wallet really holds.
            left = await wallet.balance(self.client, EVCS_AEI, session.tag)
            if left > 0:
                await wallet.append(
                    self.client,
                    EVCS_AEI,
                    session.tag,
                    -left,
                    "hold",
                    session.transaction_id,
                    labels=[label, f"transaction:{session.transaction_id}"],
                )

    async def start(
        self,
        cp_id: str,
        connector_id: int,
        id_tag: str,
        meter_start: Wh,
        timestamp: str,
        key: str | None = None,
        station_transaction_id: str | None = None,
    ) -> StartResult:
        """Authorise, allocate the transaction id and hold the budget, once per start key
        (by default the 1.6 key of the StartTransaction's fields)."""
        tag = normalize_id_tag(id_tag) or id_tag.strip().upper()
        if key is None:
            key = start_key(cp_id, connector_id, tag, timestamp, meter_start)
        async with self.locks(tag):
            found = await instances(self.client, SESSIONS, EVCS_AEI, f"startKey:{key}")
            if found:
                session = Session.from_content(found[0]["con"])
                if session.status == ACCEPTED:
                    await self._ensure_hold(session)
                    self._track(session)
                log.info("event=start_retransmitted cp=%s tx=%s", cp_id, session.transaction_id)
                return StartResult(session.transaction_id, session.status)
            decision = await self.authorize(cp_id, id_tag, "StartTransaction")
            transaction_id = await self._next_transaction_id()
            hold = money(0)
            if decision.accepted:
                requested = await self._take_requested_budget(tag)
                if requested is None:
                    requested = await self._default_budget(tag)
                hold = hold_amount(decision.balance, requested)
            session = Session(
                transaction_id, cp_id, connector_id, tag, meter_start, timestamp, hold,
                decision.status, station_transaction_id=station_transaction_id, key=key,
            )  # fmt: skip
            labels = [f"startKey:{key}", f"idTag:{tag}", f"chargePoint:{cp_id}"]
            await add_instance(
                self.client,
                SESSIONS,
                EVCS_AEI,
                session.content(key),
                rn=f"tx-{transaction_id}",
                labels=labels,
            )
            if decision.accepted:
                await self._ensure_hold(session)
            self._sessions[transaction_id] = session
            if station_transaction_id is not None:
                self._keys[key] = transaction_id
            self._track(session)
        log.info(
            "event=started cp=%s tx=%s id_tag=%s hold=%s status=%s",
            cp_id,
            transaction_id,
            tag,
            hold,
            decision.status,
        )
        return StartResult(transaction_id, decision.status)

    async def find_started(self, key: str) -> Session | None:
        """The session started with `key`, if any (remembered until it stops)."""
        transaction_id = self._keys.get(key)
        if transaction_id is None:
            found = await instances(self.client, SESSIONS, EVCS_AEI, f"startKey:{key}")
            if not found:
                return None
            transaction_id = int(found[0]["con"]["transactionId"])
            self._keys[key] = transaction_id
        return await self._load(transaction_id)

    async def station_transaction_id(self, cp_id: str, transaction_id: int) -> str | None:
        """The charger's own id of one of its sessions (OCPP 2.0.1), or None."""
        session = await self._load(transaction_id)
        if session is None or session.cp_id != cp_id:
            return None
        return session.station_transaction_id

    # -- MeterValues --------------------------------------------------------------------

    async def _load(self, transaction_id: int) -> Session | None:
        session = self._sessions.get(transaction_id)
        if session is not None:
            return session
        reply = await self.client.retrieve(f"{SESSIONS}/tx-{transaction_id}", EVCS_AEI)
        if not reply.ok:
            return None
        session = Session.from_content(reply.resource("m2m:cin")["con"])
        settled = f"settle:{transaction_id}"
        if await wallet.find(self.client, EVCS_AEI, session.tag, settled) is not None:
            session.stop_requested = True  # a late message: nothing left to cut off
            return session
        session.samples = await self._recorded_samples(session)
        self._sessions[transaction_id] = session
        return session

    async def _recorded_samples(self, session: Session) -> list[MeterSample]:
        meter = f"{charger_path(session.cp_id)}/meter"
        found = await instances(
            self.client,
            meter,
            charger_aei(session.cp_id),
            f"transaction:{session.transaction_id}",
        )
        samples = []
        for cin in found:
            for item in cin["con"].get("energySamples") or []:
                samples.append(MeterSample(float(item["t"]), Decimal(item["wh"])))
        return samples

    async def meter_values(
        self, cp_id: str, transaction_id: int | None, samples: list[MeterSample]
    ) -> bool:
        """Track the running cost; True exactly when the session must now be stopped
        because its cost reached the hold."""
        if transaction_id is None:
            return False
        session = await self._load(transaction_id)
        if session is None or session.cp_id != cp_id or session.stop_requested:
            return False
        session.samples.extend(samples)
        pricing = await self.tariffs.pricing(session.cp_id)
        cost = session.running.add(
            pricing, samples, lambda: [session.start_sample, *session.samples]
        )
        if cost >= session.hold:
            session.stop_requested = True
            log.info(
                "event=budget_exhausted cp=%s tx=%s cost=%s hold=%s",
                cp_id,
                transaction_id,
                cost,
                session.hold,
            )
            return True
        return False

    # -- StopTransaction ----------------------------------------------------------------

    async def stop(
        self,
        cp_id: str,
        transaction_id: int,
        meter_stop: Wh | None,
        timestamp: str,
        reason: str | None,
        id_tag: str | None,
        transaction_data: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """Settle a session once; store a stop of an unknown session. Returns the record.
        Without `meter_stop` (a 2.0.1 Ended without a reading) the last reading counts."""
        session = await self._load(transaction_id)
        if session is None or session.cp_id != cp_id:
            return await self._orphan(
                cp_id, transaction_id, meter_stop, timestamp, reason, id_tag, transaction_data
            )
        if meter_stop is None:
            meter_stop = last_reading(session, energy_samples(transaction_data or []))
        if session.status == INVALID:
            self._forget(session)
            return await self._unbilled(session, meter_stop, timestamp, reason)
        async with self.locks(session.tag):
            done = await wallet.find(self.client, EVCS_AEI, session.tag, f"settle:{transaction_id}")
            if done is None:
                record = await self._settle(
                    session, meter_stop, timestamp, reason, transaction_data
                )
            else:
                record = done.con["settlement"]
                log.info("event=stop_duplicate cp=%s tx=%s", cp_id, transaction_id)
            rn = f"tx-{transaction_id}"
            await add_instance(
                self.client, f"{user_path(session.tag)}/transactions", EVCS_AEI, record, rn
            )
            await add_instance(
                self.client,
                f"{charger_path(cp_id)}/transactions",
                charger_aei(cp_id),
                record,
                rn,
                labels=[f"idTag:{session.tag}"],
            )
        self._forget(session)
        return record

    def _forget(self, session: Session) -> None:
        self._sessions.pop(session.transaction_id, None)
        self._untrack(session.cp_id, session.transaction_id)
        if session.key is not None:
            self._keys.pop(session.key, None)

    async def _settle(
        self,
        session: Session,
        meter_stop: Wh,
        timestamp: str,
        reason: str | None,
        transaction_data: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        txid = session.transaction_id
        start, stop = session.start_sample, MeterSample(parse_time(timestamp), Decimal(meter_stop))
        between = [
            s
            for s in [*session.samples, *energy_samples(transaction_data or [])]
            if start.timestamp <= s.timestamp <= stop.timestamp and start.wh <= s.wh <= stop.wh
        ]
        pricing = await self.tariffs.pricing(session.cp_id)
        cost = session_cost(pricing, [start, *between, stop])
        held = await wallet.find(self.client, EVCS_AEI, session.tag, f"hold:{txid}")
        hold = -held.change if held is not None else session.hold
        result = settle(hold, cost)
        charged = result.charged
        if held is None:
            balance = await wallet.balance(self.client, EVCS_AEI, session.tag)
            charged = min(charged, max(balance, money(0)))
            change, why = -charged, "charge"
        else:
            change, why = result.refund, "refund"
        record = _stop_record(session, meter_stop, timestamp, reason, "completed")
        record.update(
            pricePerKwh=str(pricing.tariff_at(start.timestamp).price_per_kwh),
            cost=str(result.cost),
            hold=str(money(hold)),
            charged=str(charged),
            refund=str(change if why == "refund" else money(0)),
        )
        entry = await wallet.append(
            self.client,
            EVCS_AEI,
            session.tag,
            change,
            why,
            txid,
            labels=[f"settle:{txid}", f"transaction:{txid}"],
            extra={"settlement": record},
        )
        log.info(
            "event=settled cp=%s tx=%s energy_wh=%s cost=%s charged=%s refund=%s balance=%s",
            session.cp_id,
            txid,
            record["energyWh"],
            record["cost"],
            charged,
            record["refund"],
            entry.balance,
        )
        return record

    async def _unbilled(
        self, session: Session, meter_stop: Wh, timestamp: str, reason: str | None
    ) -> dict[str, Any]:
        """The stop of a session whose card named no user at its start (answered Invalid,
        run anyway): there is no wallet to bill, so it is recorded on the charger and in
        `orphans` for reconciliation (once: both are named after the transaction)."""
        txid = session.transaction_id
        record = _stop_record(session, meter_stop, timestamp, reason, "unbilled")
        record["charged"] = str(money(0))
        labels = [f"chargePoint:{session.cp_id}", f"transaction:{txid}", f"idTag:{session.tag}"]
        await add_instance(self.client, ORPHANS, EVCS_AEI, record, f"tx-{txid}", labels)
        await add_instance(
            self.client,
            f"{charger_path(session.cp_id)}/transactions",
            charger_aei(session.cp_id),
            record,
            f"tx-{txid}",
            labels=[f"idTag:{session.tag}"],
        )
        log.warning("event=stop_unbilled cp=%s tx=%s id_tag=%s", session.cp_id, txid,
                    session.tag)  # fmt: skip
        return record

    async def unknown_stop(
        self,
        cp_id: str,
        transaction_id: int | str,
        meter_stop: Wh | None,
        timestamp: str,
        reason: str | None,
        id_tag: str | None,
        transaction_data: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """Store the end of a transaction that was never started here (OCPP 2.0.1 ids)."""
        return await self._orphan(
            cp_id, transaction_id, meter_stop, timestamp, reason, id_tag, transaction_data
        )

    async def _orphan(
        self,
        cp_id: str,
        transaction_id: int | str,
        meter_stop: Wh | None,
        timestamp: str,
        reason: str | None,
        id_tag: str | None,
        transaction_data: list[dict[str, Any]] | None,
    ) -> dict[str, Any]:
        """A stop of a session this CSMS never started (offline start, id -1/0, another
        charger's id): answered, stored for reconciliation, never billed automatically."""
        tag = normalize_id_tag(id_tag or "")
        record = {
            "transactionId": transaction_id,
            "chargePointId": cp_id,
            "idTag": tag,
            "meterStop": wh_json(meter_stop) if meter_stop is not None else None,
            "stop": timestamp,
            "reason": reason,
            "transactionData": transaction_data,
            "status": "unreconciled",
        }
        key = hashlib.sha256(f"{cp_id}|{transaction_id}|{meter_stop}|{timestamp}".encode())
        rn = f"stop-{key.hexdigest()[:24]}"
        labels = [f"chargePoint:{cp_id}", f"transaction:{transaction_id}"]
        if tag:
            labels.append(f"idTag:{tag}")
        await add_instance(self.client, ORPHANS, EVCS_AEI, record, rn, labels)
        reply = await self.client.create(
            f"{charger_path(cp_id)}/transactions",
            charger_aei(cp_id),
            4,
            "m2m:cin",
            {"rn": rn, "con": record, "lbl": labels},
        )
        if reply.rsc not in (2001, 4105):
            log.warning("event=orphan_not_on_charger cp=%s rsc=%s", cp_id, reply.rsc)
        log.warning("event=stop_unknown_transaction cp=%s tx=%s", cp_id, transaction_id)
        return record

    async def stop_id_tag_status(self, id_tag: str | None) -> str | None:
        """The idTagInfo status answered with a StopTransaction (informational)."""
        if not id_tag:
            return None
        decision = await decide(self.client, id_tag, Decimal(0))
        return INVALID if decision.status == INVALID else ACCEPTED
