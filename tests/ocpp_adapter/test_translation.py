"""The project's (OCPP 1.6) command vocabulary translated for OCPP 2.0.1 chargers: every
translation gives a call the 2.0.1 schema accepts."""

from __future__ import annotations

import pytest

from ocpp_adapter.calls import CommandRejected
from ocpp_adapter.translation import for_v201, valid_call

PROFILE_16 = {
    "chargingProfileId": 7001,
    "stackLevel": 9,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}],
    },
}
PROFILE_201 = {
    "id": 7001,
    "stackLevel": 9,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": [
        {
            "id": 7001,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400.0}],
        }
    ],
}
STATION_TRANSACTIONS = {42: "station-tx-42"}


async def station_transaction(transaction_id: int) -> str | None:
    return STATION_TRANSACTIONS.get(transaction_id)


TRANSLATED = [
    ("RemoteStopTransaction", {"transactionId": 42},
     "RequestStopTransaction", {"transactionId": "station-tx-42"}),
    ("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"},
     "ChangeAvailability", {"operationalStatus": "Inoperative"}),
    ("ChangeAvailability", {"connectorId": 2, "type": "Operative"},
     "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 2}}),
    ("SetChargingProfile", {"connectorId": 0, "csChargingProfiles": PROFILE_16},
     "SetChargingProfile", {"evseId": 0, "chargingProfile": PROFILE_201}),
    ("SetChargingProfile",
     {"connectorId": 1, "csChargingProfiles": {**PROFILE_16, "transactionId": 42,
                                               "chargingProfilePurpose": "TxProfile"}},
     "SetChargingProfile",
     {"evseId": 1, "chargingProfile": {**PROFILE_201, "transactionId": "station-tx-42",
                                       "chargingProfilePurpose": "TxProfile"}}),
    ("SetChargingProfile",
     {"connectorId": 0, "csChargingProfiles": {**PROFILE_16,
                                               "chargingProfilePurpose": "ChargePointMaxProfile"}},
     "SetChargingProfile",
     {"evseId": 0, "chargingProfile": {**PROFILE_201,
                                       "chargingProfilePurpose": "ChargingStationMaxProfile"}}),
    ("ClearChargingProfile", {"id": 7001},
     "ClearChargingProfile", {"chargingProfileId": 7001}),
    ("ClearChargingProfile", {"connectorId": 1, "chargingProfilePurpose": "TxProfile"},
     "ClearChargingProfile",
     {"chargingProfileCriteria": {"evseId": 1, "chargingProfilePurpose": "TxProfile"}}),
    ("Reset", {"type": "Hard"}, "Reset", {"type": "Immediate"}),
    ("Reset", {"type": "Soft"}, "Reset", {"type": "OnIdle"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1},
     "TriggerMessage", {"requestedMessage": "StatusNotification", "evse": {"id": 1}}),
    ("TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"},
     "TriggerMessage", {"requestedMessage": "LogStatusNotification"}),
    ("UnlockConnector", {"connectorId": 2},
     "UnlockConnector", {"evseId": 2, "connectorId": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("action", "request_16", "action_201", "request_201"), TRANSLATED)
async def test_a_1_6_command_becomes_the_2_0_1_call_that_means_the_same(
    action, request_16, action_201, request_201
):
    assert await for_v201(action, request_16, station_transaction) == (action_201, request_201)
    assert await valid_call(action_201, request_201, "2.0.1")


async def test_a_remote_start_names_the_card_and_a_fresh_remote_start_id():
    first = await for_v201(
        "RemoteStartTransaction", {"idTag": "CARD1", "connectorId": 1}, station_transaction
    )
    second = await for_v201("RemoteStartTransaction", {"idTag": "CARD2"}, station_transaction)
    assert first[0] == second[0] == "RequestStartTransaction"
    assert first[1]["idToken"] == {"idToken": "CARD1", "type": "ISO14443"}
    assert first[1]["evseId"] == 1 and "evseId" not in second[1]
    assert second[1]["remoteStartId"] != first[1]["remoteStartId"]
    assert await valid_call(*first, "2.0.1") and await valid_call(*second, "2.0.1")


@pytest.mark.parametrize(
    ("action", "request_201"),
    [
        ("ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}),
        ("RequestStopTransaction", {"transactionId": "abc"}),
        ("Reset", {"type": "OnIdle"}),
        ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
        ("ClearChargingProfile", {"chargingProfileId": 3}),
        ("GetVariables", {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                               "variable": {"name": "HeartbeatInterval"}}]}),
    ],
)  # fmt: skip
async def test_native_2_0_1_calls_are_sent_unchanged(action, request_201):
    assert await for_v201(action, request_201, station_transaction) == (action, request_201)


@pytest.mark.parametrize(
    ("action", "request_16", "why"),
    [
        ("GetConfiguration", {"key": ["HeartbeatInterval"]},
         "GetConfiguration is an OCPP 1.6 call with no OCPP 2.0.1 equivalent; "
         "send the 2.0.1 call GetVariables instead"),
        ("ChangeConfiguration", {"key": "K", "value": "V"},
         "ChangeConfiguration is an OCPP 1.6 call with no OCPP 2.0.1 equivalent; "
         "send the 2.0.1 call SetVariables instead"),
        ("RemoteStopTransaction", {"transactionId": 7},
         "transaction 7 is not an OCPP 2.0.1 transaction of this charger"),
        ("RemoteStopTransaction", {"transactionId": "42"}, "bad RemoteStopTransaction request"),
        ("SetChargingProfile",
         {"connectorId": 1, "csChargingProfiles": {**PROFILE_16, "transactionId": 8}},
         "transaction 8 is not an OCPP 2.0.1 transaction of this charger"),
    ],
)  # fmt: skip
async def test_what_cannot_be_translated_is_rejected_with_the_reason(action, request_16, why):
    with pytest.raises(CommandRejected, match="^" + why.replace("(", r"\(")):
        await for_v201(action, request_16, station_transaction)


async def test_a_payload_valid_in_neither_version_goes_on_to_the_2_0_1_schema():
    bad = {"connectorId": 0, "type": "Sometimes"}
    assert await for_v201("ChangeAvailability", bad, station_transaction) == (
        "ChangeAvailability",
        bad,
    )
