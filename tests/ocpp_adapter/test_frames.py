"""Bad input from chargers, as raw text frames over a real websocket: every CALL gets the
CALLERROR OCPP-J 1.6 asks for, and the connection stays usable after each."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.ocpp_adapter.conftest import OcppCSE, launch_ocpp, shutdown_ocpp
from tests.support.chargers import charge_point
from tests.support.client import M2M, unique

BOOT = {"chargePointVendor": "TestCo", "chargePointModel": "T1"}


@contextlib.asynccontextmanager
async def raw_socket(cse: OcppCSE, cp_id: str) -> AsyncIterator[ClientConnection]:
    async with connect(cse.ocpp_url(cp_id), subprotocols=["ocpp1.6"]) as ws:
        yield ws


async def exchange(ws: ClientConnection, frame: str) -> list:
    await ws.send(frame)
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def still_usable(ws: ClientConnection) -> None:
    reply = await exchange(ws, '[2, "hb", "Heartbeat", {}]')
    assert reply[:2] == [3, "hb"] and "currentTime" in reply[2]


async def booted(ws: ClientConnection) -> None:
    reply = await exchange(ws, json.dumps([2, "boot", "BootNotification", BOOT]))
    assert reply[0] == 3 and reply[2]["status"] == "Accepted"


# (frame, unique id of the CALLERROR, its error code)
BAD_FRAMES = [
    ("this is not json", "-1", "FormationViolation"),
    ('{"a": 1}', "-1", "FormationViolation"),
    ("[]", "-1", "FormationViolation"),
    ('"[2]"', "-1", "FormationViolation"),
    ('[7, "t1", "Heartbeat", {}]', "t1", "FormationViolation"),
    ('["2", "t2", "Heartbeat", {}]', "t2", "FormationViolation"),
    ('[2, 17, "Heartbeat", {}]', "-1", "FormationViolation"),
    ('[2, "' + "x" * 37 + '", "Heartbeat", {}]', "-1", "FormationViolation"),
    ('[2, "t3", "Heartbeat"]', "t3", "ProtocolError"),
    ('[2, "t4"]', "t4", "ProtocolError"),
    ('[2, "t5", "Heartbeat", {}, "more"]', "t5", "FormationViolation"),
    ('[2, "t6", {"action": "Heartbeat"}, {}]', "t6", "FormationViolation"),
    ('[2, "t7", ["Heartbeat"], {}]', "t7", "FormationViolation"),
    ('[2, "t8", 5, {}]', "t8", "FormationViolation"),
    ('[2, "t9", "Heartbeat", []]', "t9", "FormationViolation"),
    ('[2, "t10", "Heartbeat", "{}"]', "t10", "FormationViolation"),
    # unknown to OCPP 1.6 / defined by 1.6 but not a message for the central system
    ('[2, "t11", "NoSuchAction", {}]', "t11", "NotImplemented"),
    ('[2, "t12", "Reset", {"type": "Soft"}]', "t12", "NotSupported"),
    # schema violations
    ('[2, "t13", "Heartbeat", {"extra": 5}]', "t13", "FormationViolation"),
    ('[2, "t14", "BootNotification", {"chargePointModel": "x"}]', "t14", "ProtocolError"),
    ('[2, "t15", "Authorize", {"idTag": 12}]', "t15", "TypeConstraintViolation"),
    ('[2, "t16", "Authorize", {"idTag": "' + "A" * 21 + '"}]', "t16", "TypeConstraintViolation"),
    (
        '[2, "t17", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
        '"status": "Sleeping"}]',
        "t17",
        "PropertyConstraintViolation",
    ),
    (
        '[2, "t18", "MeterValues", {"connectorId": 1, "meterValue": []}]',
        "t18",
        "OccurenceConstraintViolation",
    ),
    # a timestamp the billing could not read (the package does not check formats)
    (
        '[2, "t19", "StartTransaction", {"connectorId": 1, "idTag": "A", "meterStart": 0, '
        '"timestamp": "garbage"}]',
        "t19",
        "PropertyConstraintViolation",
    ),
]


@pytest.mark.parametrize(("frame", "unique_id", "code"), BAD_FRAMES)
async def test_a_bad_frame_gets_its_callerror_and_the_socket_stays_up(
    ocpp_cse: OcppCSE, frame: str, unique_id: str, code: str
):
    async with raw_socket(ocpp_cse, unique("cp")) as ws:
        await booted(ws)
        reply = await exchange(ws, frame)
        assert reply[:3] == [4, unique_id, code], reply
        assert isinstance(reply[3], str) and isinstance(reply[4], dict)
        await still_usable(ws)


async def test_malformed_answers_and_unexpected_results_are_ignored(ocpp_cse: OcppCSE):
    async with raw_socket(ocpp_cse, unique("cp")) as ws:
        await booted(ws)
        for frame in (
            '[3, "nobody-asked", {}]',
            '[3, "short"]',
            '[3, "x", "not an object"]',
            '[4, "nobody-asked", "GenericError", "", {}]',
            '[4, "short", "GenericError"]',
            "[3]",
        ):
            await ws.send(frame)
        await still_usable(ws)  # the heartbeat's answer is the next frame: nothing else came


async def test_binary_frames_and_a_burst_of_garbage(ocpp_cse: OcppCSE):
    async with raw_socket(ocpp_cse, unique("cp")) as ws:
        await booted(ws)
        await ws.send(b'[2, "bin", "Heartbeat", {}]')
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply[:2] == [3, "bin"]
        await ws.send(b"\xff\xfe\x00garbage")
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply[:3] == [4, "-1", "FormationViolation"]
        for n in range(50):
            await ws.send(f'[2, "g{n}", "Nope{n}", {{}}]')
        codes = [json.loads(await asyncio.wait_for(ws.recv(), 5))[2] for _ in range(50)]
        assert codes == ["NotImplemented"] * 50
        await still_usable(ws)


@pytest.mark.parametrize(("policy", "boot_status"), [(None, "Pending"), ("reject", "Rejected")])
async def test_a_charger_that_is_not_admitted_may_only_boot(policy, boot_status):
    """None: the default policy, which must be `pending`."""
    cse = await asyncio.to_thread(launch_ocpp, "sqlite", None, policy)
    try:
        cp_id = unique("cp")
        async with raw_socket(cse, cp_id) as ws:
            reply = await exchange(ws, json.dumps([2, "b1", "BootNotification", BOOT]))
            assert reply[0] == 3 and reply[2]["status"] == boot_status
            start = {"connectorId": 1, "idTag": "CARD", "meterStart": 0,
                     "timestamp": "2026-03-02T10:00:00Z"}  # fmt: skip
            for frame in (
                [2, "s1", "StartTransaction", start],
                [2, "s2", "Heartbeat", {}],
                [2, "s3", "StatusNotification",
                 {"connectorId": 1, "errorCode": "NoError", "status": "Available"}],
            ):  # fmt: skip
                reply = await exchange(ws, json.dumps(frame))
                assert reply[:3] == [4, frame[1], "SecurityError"], reply
        client = M2M(cse.base_url)
        try:
            assert client.retrieve(f"cse-in/cp-{cp_id}").rsc == 4004  # nothing in the tree
        finally:
            client.close()
        # admitted by setting its password: boots Accepted and is registered
        await asyncio.to_thread(cse.cli, "chargers", "password", cp_id, "--set", "p" * 20)
        async with charge_point(cse, cp_id, "p" * 20) as cp:
            assert await cp.boot() == "Accepted"
    finally:
        await asyncio.to_thread(shutdown_ocpp, cse)


# -- lenient chargers -------------------------------------------------------------------------

SLEEPING = {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}
LONG_SERIAL = {**BOOT, "chargeBoxSerialNumber": "S" * 40}
EXTRA_FIELD = {"connectorId": 2, "errorCode": "NoError", "status": "Available", "vendorX": 1}


def _cins(cse: OcppCSE, path: str) -> list[dict]:
    client = M2M(cse.base_url)
    try:
        reply = client.retrieve(path, params={"rcn": "8", "ty": "4"})
        assert reply.rsc == 2000, reply
        return sorted(reply.body["m2m:cnt"].get("m2m:cin", []), key=lambda c: c["st"])
    finally:
        client.close()


async def test_lenient_charger_has_usable_violations_handled_and_recorded(ocpp_cse: OcppCSE):
    cp_id = unique("cp")
    async with raw_socket(ocpp_cse, cp_id) as ws:
        await booted(ws)
        reply = await exchange(ws, json.dumps([2, "v1", "StatusNotification", SLEEPING]))
        assert reply[:3] == [4, "v1", "PropertyConstraintViolation"]
    await asyncio.to_thread(ocpp_cse.cli, "chargers", "lenient", cp_id, "--on")
    async with raw_socket(ocpp_cse, cp_id) as ws:
        reply = await exchange(ws, json.dumps([2, "b2", "BootNotification", LONG_SERIAL]))
        assert reply[0] == 3 and reply[2]["status"] == "Accepted"
        for n, payload in enumerate((SLEEPING, EXTRA_FIELD)):
            reply = await exchange(ws, json.dumps([2, f"l{n}", "StatusNotification", payload]))
            assert reply == [3, f"l{n}", {}]
        # unusable: a required field missing, or of the wrong type
        missing = {"connectorId": 1, "errorCode": "NoError"}
        reply = await exchange(ws, json.dumps([2, "u1", "StatusNotification", missing]))
        assert reply[:3] == [4, "u1", "ProtocolError"]
        wrong_type = {**SLEEPING, "connectorId": "1"}
        reply = await exchange(ws, json.dumps([2, "u2", "StatusNotification", wrong_type]))
        assert reply[:3] == [4, "u2", "TypeConstraintViolation"]
        bad_time = {**SLEEPING, "timestamp": "later"}
        reply = await exchange(ws, json.dumps([2, "u3", "StatusNotification", bad_time]))
        assert reply[:3] == [4, "u3", "PropertyConstraintViolation"] and "timestamp" in reply[3]
        await still_usable(ws)
    violations = await asyncio.to_thread(_cins, ocpp_cse, f"cse-in/cp-{cp_id}/violations")
    assert [(v["con"]["action"], v["con"]["code"], v["con"]["uniqueId"]) for v in violations] == [
        ("BootNotification", "TypeConstraintViolation", "b2"),
        ("StatusNotification", "PropertyConstraintViolation", "l0"),
        ("StatusNotification", "FormationViolation", "l1"),
    ]
    assert violations[1]["con"]["payload"] == SLEEPING
    statuses = await asyncio.to_thread(_cins, ocpp_cse, f"cse-in/cp-{cp_id}/status")
    assert [s["con"].get("status") for s in statuses] == ["Sleeping", "Available"]
    assert "vendorX" not in statuses[1]["con"]  # unknown fields are dropped
    info = await asyncio.to_thread(_cins, ocpp_cse, f"cse-in/cp-{cp_id}/info")
    assert info[-1]["con"]["chargeBoxSerialNumber"] == "S" * 40

    await asyncio.to_thread(ocpp_cse.cli, "chargers", "lenient", cp_id, "--off")
    async with raw_socket(ocpp_cse, cp_id) as ws:
        reply = await exchange(ws, json.dumps([2, "v2", "StatusNotification", SLEEPING]))
        assert reply[:3] == [4, "v2", "PropertyConstraintViolation"]


async def test_lenient_needs_a_registered_charger(ocpp_cse: OcppCSE):
    done = await asyncio.to_thread(
        ocpp_cse.cli, "chargers", "lenient", unique("cp"), "--on", check=False
    )
    assert done.returncode == 1 and "no charger" in done.stderr


# -- anything at all --------------------------------------------------------------------------

CHARGER_ACTIONS = ["BootNotification", "Heartbeat", "StatusNotification", "Authorize",
                   "StartTransaction", "StopTransaction", "MeterValues", "DataTransfer",
                   "FirmwareStatusNotification", "DiagnosticsStatusNotification"]  # fmt: skip
FIELDS = ["connectorId", "idTag", "meterStart", "meterStop", "timestamp", "transactionId",
          "status", "errorCode", "meterValue", "vendorId", "data", "chargePointVendor",
          "chargePointModel", "sampledValue", "x"]  # fmt: skip


def random_value(rng, depth: int = 0):
    kinds = ["int", "str", "float", "bool", "null", "list", "dict"] if depth < 3 else ["int"]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 1, 2**31, 2**63, rng.randint(-5, 5000)])
    if kind == "str":
        return rng.choice(["", "A", "2026-03-02T10:00:00Z", "x" * 300, "Ünï", "\u0000"])
    if kind == "float":
        return rng.choice([0.1, -1e308, 3.5])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(FIELDS): random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def random_frame(rng, n: int) -> tuple[str, bool]:
    """A frame and whether it is a well-formed CALL (which must be answered)."""
    kind = rng.choice([2, 2, 2, 3, 4, "2", None, 9])
    unique_id = f"f{n}" if rng.random() < 0.7 else rng.choice([n, None, "x" * 40])
    action = rng.choice([*CHARGER_ACTIONS, "Reset", "Nope", 5, None, ["Heartbeat"]])
    payload = (
        random_value(rng)
        if rng.random() < 0.2
        else {rng.choice(FIELDS): random_value(rng, 1) for _ in range(rng.randint(0, 6))}
    )
    frame = [kind, unique_id, action, payload][: rng.choice([1, 2, 3, 4, 4, 4, 4, 5])]
    answered = kind == 2 and isinstance(unique_id, str) and len(unique_id) <= 36
    return json.dumps(frame), answered and len(frame) >= 2


@pytest.mark.parametrize("lenient", [False, True])
async def test_random_frames_never_break_the_connection(ocpp_cse: OcppCSE, lenient: bool):
    import random

    rng = random.Random(20261124)
    cp_id = unique("cp")
    if lenient:
        async with raw_socket(ocpp_cse, cp_id) as ws:
            await booted(ws)
        await asyncio.to_thread(ocpp_cse.cli, "chargers", "lenient", cp_id, "--on")
    async with raw_socket(ocpp_cse, cp_id) as ws:
        await booted(ws)
        for n in range(300):
            frame, must_answer = random_frame(rng, n)
            await ws.send(frame)
            await ws.send(f'[2, "probe{n}", "Heartbeat", {{}}]')
            replies = []
            while True:
                reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if reply[1] == f"probe{n}":
                    assert reply[0] == 3
                    break
                replies.append(reply)
            assert len(replies) <= 1, (frame, replies)
            if must_answer:
                assert len(replies) == 1 and replies[0][0] in (3, 4), (frame, replies)
                assert replies[0][1] == json.loads(frame)[1]
            for reply in replies:
                if reply[0] == 4:
                    assert isinstance(reply[2], str) and reply[2] != "InternalError", frame
