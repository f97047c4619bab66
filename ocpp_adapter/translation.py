"""The project's command vocabulary for OCPP 2.0.1 chargers.

Commands, the interlocks, the budget cut-off of 1.6 sessions and the dashboard speak OCPP 1.6
action names and payloads (`RemoteStopTransaction {"transactionId": 42}`, `ChangeAvailability
{"connectorId": 0, "type": "Inoperative"}`, ...). For a 2.0.1 charger each such call is
translated here into the 2.0.1 call that means the same:

- a payload that is already a valid 2.0.1 call is sent as it is (native 2.0.1 commands);
- a valid 1.6 call with a translation becomes its 2.0.1 call (table `TRANSLATIONS`);
- a 1.6-only action without one is refused (CommandRejected), nothing is sent;
- anything else goes on unchanged, so the 2.0.1 schema says what is wrong with it.

A 1.6 connector number is taken as the EVSE of the same number (one connector per EVSE, as
the project's chargers report it); connector 0 (the whole charger) is "no EVSE". The
project's transaction ids are integers; a 2.0.1 charger knows its transactions by its own
string ids, which the central system keeps beside each session (`station_transaction`)."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, validate_payload
from ocpp.v16 import call as call_v16
from ocpp.v201 import call as call_v201

from ocpp_adapter.calls import CHARGER_INITIATED, CommandRejected

StationTransaction = Callable[[int], Awaitable[str | None]]
"""The charger's own id of one of the project's transaction ids, or None when unknown."""
Translator = Callable[[dict[str, Any], StationTransaction], Awaitable[dict[str, Any]]]

RESET_TYPES = {"Hard": "Immediate", "Soft": "OnIdle"}
PURPOSES = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}
TRIGGERED_MESSAGES = {"DiagnosticsStatusNotification": "LogStatusNotification"}
# A card from the tree: the project's idTags are RFID card numbers.
REMOTE_ID_TOKEN_TYPE = "ISO14443"
WHOLE_CHARGER = 0
# What a 1.6-only action is called in 2.0.1, where there is a call of another shape.
V201_COUNTERPARTS = {
    "GetConfiguration": "GetVariables",
    "ChangeConfiguration": "SetVariables",
    "GetDiagnostics": "GetLog",
}
_remote_start_ids = itertools.count(int(time.time()) % 1_000_000_000)


def _call_names(module: Any) -> frozenset[str]:
    return frozenset(
        name
        for name, kind in vars(module).items()
        if isinstance(kind, type) and dataclasses.is_dataclass(kind)
    )


V16_ONLY = _call_names(call_v16) - _call_names(call_v201) - CHARGER_INITIATED


async def valid_call(action: str, payload: dict[str, Any], ocpp_version: str) -> bool:
    """Whether `payload` is a valid `action` call of that OCPP version ("1.6", "2.0.1")."""
    try:
        await validate_payload(Call("-", action, payload), ocpp_version)
    except OCPPError:
        return False
    return True


async def _validation_error(action: str, payload: dict[str, Any]) -> str:
    try:
        await validate_payload(Call("-", action, payload), "1.6")
    except OCPPError as exc:
        return str(exc)
    return ""


def _evse(connector_id: Any) -> dict[str, int] | None:
    return {"id": connector_id} if connector_id not in (None, WHOLE_CHARGER) else None


def _without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


async def _station_transaction_of(transaction_id: int, lookup: StationTransaction) -> str:
    station_id = await lookup(transaction_id)
    if station_id is None:
        raise CommandRejected(
            f"transaction {transaction_id} is not an OCPP 2.0.1 transaction of this charger"
        )
    return station_id


async def _charging_profile(profile: dict[str, Any], lookup: StationTransaction) -> dict:
    """A 1.6 csChargingProfiles as a 2.0.1 chargingProfile: one schedule, whose id is the
    profile's."""
    schedule = profile["chargingSchedule"]
    converted = {
        "id": profile["chargingProfileId"],
        "stackLevel": profile["stackLevel"],
        "chargingProfilePurpose": PURPOSES.get(
            profile["chargingProfilePurpose"], profile["chargingProfilePurpose"]
        ),
        "chargingProfileKind": profile["chargingProfileKind"],
        "recurrencyKind": profile.get("recurrencyKind"),
        "validFrom": profile.get("validFrom"),
        "validTo": profile.get("validTo"),
        "chargingSchedule": [
            _without_none(
                {
                    "id": profile["chargingProfileId"],
                    "startSchedule": schedule.get("startSchedule"),
                    "duration": schedule.get("duration"),
                    "chargingRateUnit": schedule["chargingRateUnit"],
                    "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
                    "minChargingRate": schedule.get("minChargingRate"),
                }
            )
        ],
    }
    if profile.get("transactionId") is not None:
        converted["transactionId"] = await _station_transaction_of(profile["transactionId"], lookup)
    return _without_none(converted)


async def _remote_start(request: dict, lookup: StationTransaction) -> dict:
    profile = request.get("chargingProfile")
    return _without_none(
        {
            "idToken": {"idToken": request["idTag"], "type": REMOTE_ID_TOKEN_TYPE},
            "remoteStartId": next(_remote_start_ids),
            "evseId": request.get("connectorId") or None,
            "chargingProfile": await _charging_profile(profile, lookup) if profile else None,
        }
    )


async def _remote_stop(request: dict, lookup: StationTransaction) -> dict:
    return {"transactionId": await _station_transaction_of(request["transactionId"], lookup)}


async def _change_availability(request: dict, lookup: StationTransaction) -> dict:
    return _without_none(
        {"operationalStatus": request["type"], "evse": _evse(request["connectorId"])}
    )


async def _set_charging_profile(request: dict, lookup: StationTransaction) -> dict:
    return {
        "evseId": request["connectorId"],
        "chargingProfile": await _charging_profile(request["csChargingProfiles"], lookup),
    }


async def _clear_charging_profile(request: dict, lookup: StationTransaction) -> dict:
    purpose = request.get("chargingProfilePurpose")
    criteria = _without_none(
        {
            "evseId": request.get("connectorId"),
            "chargingProfilePurpose": PURPOSES.get(purpose, purpose),
            "stackLevel": request.get("stackLevel"),
        }
    )
    return _without_none(
        {"chargingProfileId": request.get("id"), "chargingProfileCriteria": criteria or None}
    )


async def _reset(request: dict, lookup: StationTransaction) -> dict:
    return {"type": RESET_TYPES[request["type"]]}


async def _trigger_message(request: dict, lookup: StationTransaction) -> dict:
    message = request["requestedMessage"]
    return _without_none(
        {
            "requestedMessage": TRIGGERED_MESSAGES.get(message, message),
            "evse": _evse(request.get("connectorId")),
        }
    )


async def _unlock_connector(request: dict, lookup: StationTransaction) -> dict:
    return {"evseId": request["connectorId"], "connectorId": 1}


TRANSLATIONS: dict[str, tuple[str, Translator]] = {
    "RemoteStartTransaction": ("RequestStartTransaction", _remote_start),
    "RemoteStopTransaction": ("RequestStopTransaction", _remote_stop),
    "ChangeAvailability": ("ChangeAvailability", _change_availability),
    "SetChargingProfile": ("SetChargingProfile", _set_charging_profile),
    "ClearChargingProfile": ("ClearChargingProfile", _clear_charging_profile),
    "Reset": ("Reset", _reset),
    "TriggerMessage": ("TriggerMessage", _trigger_message),
    "UnlockConnector": ("UnlockConnector", _unlock_connector),
}


async def for_v201(
    action: str, request: dict[str, Any], station_transaction: StationTransaction
) -> tuple[str, dict[str, Any]]:
    """The 2.0.1 call (action, payload) to send for a command (see the module doc)."""
    if await valid_call(action, request, "2.0.1"):
        return action, request
    translation = TRANSLATIONS.get(action)
    if translation is None:
        if action in V16_ONLY:
            counterpart = V201_COUNTERPARTS.get(action)
            hint = f"; send the 2.0.1 call {counterpart} instead" if counterpart else ""
            raise CommandRejected(
                f"{action} is an OCPP 1.6 call with no OCPP 2.0.1 equivalent{hint}"
            )
        return action, request
    if not await valid_call(action, request, "1.6"):
        if action in V16_ONLY:
            raise CommandRejected(
                f"bad {action} request: {await _validation_error(action, request)}"
            )
        return action, request
    target, translate = translation
    return target, await translate(request, station_transaction)
