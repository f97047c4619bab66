"""The OCPP 2.0.1 central system: one `ChargePoint` per charger socket, one handler per action.

It writes the same tree records as the 1.6 central system and bills through the same
`SessionService`; what differs is kept here:

- Transactions are TransactionEvents (Started / Updated / Ended) carrying a transaction id
  the charger chose. `station_key(cpId, transactionId)` is the start key of the CSMS
  session, so every event of a transaction, also retransmitted, reordered or queued
  offline, finds the same CSMS transaction id, and the wallet labels of that id keep
  billing exactly-once.
- Billing starts at the first event that brings both an idToken and an energy register
  reading (a cable plugged in before the card is shown starts the transaction without an
  idToken). Every event is stored in `cp-<id>/meter` (named after its seqNo, labelled
  `stationTransaction:<id>`), so what earlier events said survives a restart or reconnect.
- An Ended event for a transaction that was never started here is stored as an orphan, like
  a 1.6 StopTransaction of an unknown id; a start arriving after it starts no session.

Calls to the charger are never awaited inside a handler (the package reads the answers in
the task that runs the handler); the budget cut-off runs on its own task."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, validate_payload
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result

from ocpp_adapter.billing import MeterSample
from ocpp_adapter.calls import CommandRejected, answer_payload, build_call
from ocpp_adapter.central_system import SET_BUDGET, VENDOR_ID
from ocpp_adapter.chargers import Chargers
from ocpp_adapter.connection_tasks import ConnectionTasks
from ocpp_adapter.sessions import Session, SessionService, energy_samples, wh_reading
from ocpp_adapter.tree import EVCS_AEI, ORPHANS, add_instance, charger_aei, charger_path, instances

log = logging.getLogger("citycse.ocpp")

SUBPROTOCOL = "ocpp2.0.1"
OCPP_VERSION = "2.0.1"
STARTED, UPDATED, ENDED = "Started", "Updated", "Ended"
# idToken types that name no user: the charger started without asking for a card.
ANONYMOUS_TOKEN_TYPES = frozenset({"NoAuthorization"})


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def iso_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def station_key(cp_id: str, transaction_id: str) -> str:
    """The start key of the CSMS session of a charger-chosen transaction id."""
    raw = f"v201|{cp_id}|{transaction_id}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def boot_record(payload: dict[str, Any]) -> dict[str, Any]:
    """Boot data under the 1.6 field names (what `chargers list` reads), plus the original."""
    station = payload.get("chargingStation") or {}
    fields = {
        "chargePointVendor": station.get("vendorName"),
        "chargePointModel": station.get("model"),
        "chargePointSerialNumber": station.get("serialNumber"),
        "firmwareVersion": station.get("firmwareVersion"),
    }
    return {**{k: v for k, v in fields.items() if v is not None}, **payload,
            "ocppVersion": OCPP_VERSION}  # fmt: skip


def token_value(id_token: dict[str, Any] | None) -> str | None:
    """The idTag of an idToken (camelCase), or None when it names no user."""
    if not id_token or id_token.get("type") in ANONYMOUS_TOKEN_TYPES:
        return None
    return str(id_token.get("idToken") or "") or None


def as_v16_meter_values(meter_values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """2.0.1 MeterValue objects in the 1.6 shape `energy_samples` reads: the value as a
    string scaled by `unitOfMeasure.multiplier` (a power of ten), and the unit beside it."""
    converted = []
    for entry in meter_values:
        values = []
        for sampled in entry.get("sampledValue") or []:
            unit = sampled.get("unitOfMeasure") or {}
            try:
                value = Decimal(str(sampled["value"])).scaleb(int(unit.get("multiplier", 0)))
            except (KeyError, ValueError, TypeError, InvalidOperation):
                continue
            plain = {k: v for k, v in sampled.items() if k != "unitOfMeasure"}
            values.append({**plain, "value": str(value), "unit": unit.get("unit", "Wh")})
        converted.append({**entry, "sampledValue": values})
    return converted


def readings(meter_values: list[dict[str, Any]] | None) -> list[MeterSample]:
    """The energy register readings (Wh) in 2.0.1 MeterValue objects (camelCase)."""
    return energy_samples(as_v16_meter_values(meter_values or []))


def earliest(samples: list[MeterSample]) -> MeterSample | None:
    return min(samples, key=lambda s: (s.timestamp, s.wh), default=None)


def latest_reading(samples: list[MeterSample]) -> MeterSample | None:
    return max(samples, key=lambda s: (s.timestamp, s.wh), default=None)


class CentralSystemChargePointV201(ConnectionTasks, ChargePoint):
    """The central system's side of one OCPP 2.0.1 charger connection."""

    subprotocol = SUBPROTOCOL

    def __init__(
        self,
        cp_id: str,
        connection: Any,
        chargers: Chargers,
        sessions: SessionService,
        heartbeat_interval: int,
        response_timeout: float = 30,
        commands: Any = None,
    ) -> None:
        super().__init__(cp_id, connection, response_timeout=response_timeout)
        self.chargers = chargers
        self.sessions = sessions
        self.commands = commands
        """The adapter's command service (`send(cp_id, action, request, reason, by)`), if any."""
        self.heartbeat_interval = heartbeat_interval
        self.init_tasks()

    # -- calls to the charger -------------------------------------------------------------

    async def send_call(self, action: str, payload: dict) -> dict:
        """Send one OCPP call and return the charger's answer (camelCase). An unknown action
        or a payload the schema refuses raises CommandRejected before anything is sent;
        CALLERRORs and timeouts propagate."""
        request = build_call(SUBPROTOCOL, action, payload)
        wire = remove_nones(snake_to_camel_case(serialize_as_dict(request)))
        try:
            await validate_payload(Call("-", action, wire), OCPP_VERSION)
        except OCPPError as exc:
            raise CommandRejected(f"bad {action} request: {exc}") from None
        result = await self.until_closed(self.call(request, suppress=False))
        return answer_payload(result)

    async def request_stop(self, transaction_id: str, csms_id: int, why: str) -> None:
        """RequestStopTransaction, recorded with the charger's answer: by the command
        service when the adapter has one, else in the charger's `commands` as the 1.6
        central system records its RemoteStopTransaction."""
        request = {"transactionId": transaction_id}
        if self.commands is not None:
            await self.commands.send(self.id, "RequestStopTransaction", request, why, EVCS_AEI)
            return
        try:
            status = (await self.send_call("RequestStopTransaction", request))["status"]
        except Exception as exc:  # noqa: BLE001 - recorded, the session goes on
            status = f"failed: {type(exc).__name__}: {exc}"
        log.info("event=request_stop cp=%s tx=%s station_tx=%s why=%r result=%s", self.id,
                 csms_id, transaction_id, why, status)  # fmt: skip
        await self.chargers.record(
            self.id,
            "commands",
            {"action": "RequestStopTransaction", "request": request, "reason": why,
             "result": status},
            labels=[f"transaction:{csms_id}"],
        )  # fmt: skip

    # -- provisioning and availability ----------------------------------------------------

    @on("BootNotification")
    async def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        status = await self.chargers.boot(self.id, boot_record(snake_to_camel_case(payload)))
        return call_result.BootNotification(
            current_time=utc_now(), interval=self.heartbeat_interval, status=status
        )

    @on("Heartbeat")
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=utc_now())

    @on("StatusNotification")
    async def on_status_notification(self, **payload: Any) -> call_result.StatusNotification:
        con = snake_to_camel_case(payload)
        labels = [f"evse:{payload['evse_id']}", f"connector:{payload['connector_id']}"]
        await self.chargers.record(self.id, "status", con, labels=labels)
        return call_result.StatusNotification()

    @on("NotifyEvent")
    async def on_notify_event(self, **payload: Any) -> call_result.NotifyEvent:
        con = {"event": snake_to_camel_case(payload)}
        await self.chargers.record(self.id, "status", con, labels=["notifyEvent"])
        return call_result.NotifyEvent()

    @on("NotifyReport")
    async def on_notify_report(self, **payload: Any) -> call_result.NotifyReport:
        """Device model reports go to `status`: the latest `info` stays the boot data."""
        con = {"report": snake_to_camel_case(payload)}
        labels = ["notifyReport", f"report:{payload['request_id']}"]
        await self.chargers.record(self.id, "status", con, labels=labels)
        return call_result.NotifyReport()

    # -- authorisation and transactions ---------------------------------------------------

    @on("Authorize")
    async def on_authorize(self, id_token: dict, **_: Any) -> call_result.Authorize:
        tag = token_value(snake_to_camel_case(id_token))
        status = (await self.sessions.authorize(self.id, tag)).status if tag else "Invalid"
        return call_result.Authorize(id_token_info={"status": status})

    @on("DataTransfer")
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any
    ) -> call_result.DataTransfer:
        """The budget of the next session of a card, as in 1.6; `data` may be the JSON
        object itself (2.0.1 allows any type) or its text."""
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id != SET_BUDGET:
            return call_result.DataTransfer(status="UnknownMessageId")
        try:
            request = json.loads(data) if isinstance(data, str) else snake_to_camel_case(data)
            amount = Decimal(str(request["amount"]))
            accepted = amount.is_finite() and await self.sessions.set_budget(
                str(request["idTag"]), amount
            )
        except (ValueError, KeyError, TypeError, InvalidOperation):
            accepted = False
        return call_result.DataTransfer(status="Accepted" if accepted else "Rejected")

    @on("MeterValues")
    async def on_meter_values(self, evse_id: int, meter_value: list) -> call_result.MeterValues:
        values = snake_to_camel_case(meter_value)
        await self.chargers.record_meter(self.id, evse_id, None, values, readings(values))
        return call_result.MeterValues()

    @on("TransactionEvent")
    async def on_transaction_event(self, **payload: Any) -> call_result.TransactionEvent:
        event = snake_to_camel_case(payload)
        transaction_id = str(event["transactionInfo"]["transactionId"])
        key = station_key(self.id, transaction_id)
        samples = readings(event.get("meterValue"))
        tag = token_value(event.get("idToken"))
        session = await self.sessions.find_started(key)
        started_status: str | None = None
        if session is None and await self._known(event, transaction_id):
            session, started_status = await self._start(event, transaction_id, key, tag, samples)
        await self._record_event(event, transaction_id, key, session, samples)
        if event["eventType"] == ENDED:
            await self._end(event, transaction_id, session, samples, tag)
        elif session is not None and samples:
            await self._running(transaction_id, session, samples)
        if not event.get("idToken"):
            return call_result.TransactionEvent()
        status = started_status or await self._token_status(event, tag, session)
        return call_result.TransactionEvent(id_token_info={"status": status})

    async def _token_status(
        self, event: dict[str, Any], tag: str | None, session: Session | None
    ) -> str:
        """The idTokenInfo status for an event that did not start the session: the session's
        own status while it runs (a hold may have pushed the balance under the minimum)."""
        if tag is None:
            return "Invalid"
        if event["eventType"] == ENDED:
            return await self.sessions.stop_id_tag_status(tag)
        if session is not None:
            return session.status
        return (await self.sessions.authorize(self.id, tag, "TransactionEvent")).status

    async def _running(
        self, transaction_id: str, session: Session, samples: list[MeterSample]
    ) -> None:
        """Running cost; RequestStopTransaction (on its own task) when it reaches the hold."""
        if await self.sessions.meter_values(self.id, session.transaction_id, samples):
            why = "budget exhausted"
            self.spawn(self.request_stop(transaction_id, session.transaction_id, why))

    async def _earlier_events(self, transaction_id: str) -> list[dict[str, Any]]:
        """What the events of this transaction already stored said (oldest first)."""
        found = await instances(
            self.chargers.client,
            f"{charger_path(self.id)}/meter",
            charger_aei(self.id),
            f"stationTransaction:{transaction_id}",
        )
        return [cin["con"] for cin in found]

    async def _known(self, event: dict[str, Any], transaction_id: str) -> bool:
        """Whether a session may start with this event: any but an Ended of a transaction
        nothing was heard of before (that one is an orphan). An Ended may bring the whole
        series of readings, so a transaction whose card came without one still bills."""
        return event["eventType"] != ENDED or bool(await self._earlier_events(transaction_id))

    async def _ended_before(self, transaction_id: str) -> bool:
        """Whether this transaction's end was already stored as an orphan."""
        found = await instances(
            self.sessions.client, ORPHANS, EVCS_AEI, f"transaction:{transaction_id}"
        )
        return any(cin["con"].get("chargePointId") == self.id for cin in found)

    async def _start(
        self,
        event: dict[str, Any],
        transaction_id: str,
        key: str,
        tag: str | None,
        samples: list[MeterSample],
    ) -> tuple[Session | None, str | None]:
        """Start the CSMS session when an idToken and a first reading are known; the session
        (or None) and the idToken status to answer with when this event started it."""
        first = earliest(samples)
        evse = (event.get("evse") or {}).get("id")
        if tag is None or first is None:
            for earlier in await self._earlier_events(transaction_id):
                tag = tag or token_value(earlier.get("idToken"))
                evse = evse if evse is not None else (earlier.get("evse") or {}).get("id")
                recorded = [
                    MeterSample(float(s["t"]), wh_reading(s["wh"]))
                    for s in earlier.get("energySamples") or []
                ]
                first = earliest([*recorded, *([first] if first else [])])
        if tag is None or first is None:
            return None, None
        if await self._ended_before(transaction_id):
            log.warning("event=start_after_end cp=%s station_tx=%s", self.id, transaction_id)
            return None, None
        result = await self.sessions.start(
            self.id,
            int(evse) if evse is not None else 0,
            tag,
            wh_reading(first.wh),
            iso_time(first.timestamp),
            key=key,
            station_transaction_id=transaction_id,
        )
        session = await self.sessions.find_started(key)
        return session, result.status

    async def _record_event(
        self,
        event: dict[str, Any],
        transaction_id: str,
        key: str,
        session: Session | None,
        samples: list[MeterSample],
    ) -> None:
        """The event in `cp-<id>/meter`, named after its seqNo: a retransmit is stored once."""
        if not await self.chargers.ready(self.id):
            return
        csms_id = session.transaction_id if session is not None else None
        con = {
            "eventType": event["eventType"],
            "seqNo": event["seqNo"],
            "timestamp": event["timestamp"],
            "triggerReason": event["triggerReason"],
            "offline": bool(event.get("offline", False)),
            "transactionId": csms_id,
            "stationTransactionId": transaction_id,
            "transactionInfo": event["transactionInfo"],
            "evse": event.get("evse"),
            "idToken": event.get("idToken"),
            "meterValue": event.get("meterValue") or [],
            "energySamples": [{"t": s.timestamp, "wh": str(s.wh)} for s in samples],
            "receivedAt": time.time(),
        }
        labels = [f"stationTransaction:{transaction_id}", f"event:{event['eventType']}"]
        if csms_id is not None:
            labels.append(f"transaction:{csms_id}")
        rn = f"ev-{key[:20]}-{event['seqNo']}"
        stored = await add_instance(
            self.chargers.client, f"{charger_path(self.id)}/meter", charger_aei(self.id), con,
            rn=rn, labels=labels,
        )  # fmt: skip
        if stored is None:
            log.info("event=transaction_event_repeated cp=%s station_tx=%s seq=%s", self.id,
                     transaction_id, event["seqNo"])  # fmt: skip

    async def _end(
        self,
        event: dict[str, Any],
        transaction_id: str,
        session: Session | None,
        samples: list[MeterSample],
        tag: str | None,
    ) -> None:
        """Settle the session (once), or store the end of an unknown transaction."""
        info = event["transactionInfo"]
        last = latest_reading(samples)
        meter_stop = wh_reading(last.wh) if last is not None else None
        reason = info.get("stoppedReason")
        values = as_v16_meter_values(event.get("meterValue") or []) or None
        if session is None:
            await self.sessions.unknown_stop(
                self.id, transaction_id, meter_stop, event["timestamp"], reason, tag, values
            )
            return
        await self.sessions.stop(
            self.id, session.transaction_id, meter_stop, event["timestamp"], reason or "Local",
            tag, values,
        )  # fmt: skip
