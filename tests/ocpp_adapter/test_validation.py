"""The compiled validator accepts nothing the `ocpp` package's own validator refuses, and
refusals keep the package's errors."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import ocpp
import ocpp.messages
import pytest
from ocpp.exceptions import FormatViolationError, OCPPError, TypeConstraintViolationError
from ocpp.messages import Call, MessageType, _validate_payload, unpack
from websockets.asyncio.client import connect

from ocpp_adapter import frames
from ocpp_adapter.validation import CompiledValidator, install
from tests.ocpp_adapter.conftest import OcppCSE

SCHEMAS = Path(ocpp.__file__).parent
VERSIONS = {"v16": "1.6", "v201": "2.0.1"}


def schema_files() -> list[tuple[str, Path]]:
    return [
        (version, path)
        for folder, version in VERSIONS.items()
        for path in sorted((SCHEMAS / folder / "schemas").glob("*.json"))
    ]


def resolve(node: dict, root: dict) -> dict:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def example(node: dict, root: dict) -> Any:
    """A payload that satisfies the schema node (required properties only)."""
    node = resolve(node, root)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        return {name: example(props[name], root) for name in node.get("required", [])}
    if kind == "array":
        return [
            example(node.get("items", {}), root) for _ in range(max(1, node.get("minItems", 1)))
        ]
    if kind == "string":
        if node.get("format") == "date-time":
            return "2026-11-24T10:00:00Z"
        if node.get("format") == "uri":
            return "https://example.org/a"
        return "a" * max(1, node.get("minLength", 1))
    if kind == "integer":
        return max(node.get("minimum", 1), 1)
    if kind == "number":
        return max(node.get("minimum", 1.5), 1.5)
    if kind == "boolean":
        return True
    return {}


def with_optional(node: dict, root: dict) -> Any:
    """Like `example`, with every optional property present too (one level deep)."""
    node = resolve(node, root)
    value = example(node, root)
    if isinstance(value, dict):
        for name, prop in node.get("properties", {}).items():
            value.setdefault(name, example(prop, root))
    return value


BROKEN_VALUES: list[Any] = [None, True, 1, 1.0, 2.5, -1, "", "x" * 600, "not-an-enum", [], {}]


def mutations(value: Any, node: dict, root: dict) -> Iterator[Any]:
    """Copies of `value` with one thing broken: a wrong value anywhere, a missing required
    property, an unknown property, an array too short or too long."""
    node = resolve(node, root)
    yield from BROKEN_VALUES
    if isinstance(value, dict):
        yield {**value, "unknownProperty": 1}
        for name in node.get("required", []):
            yield {k: v for k, v in value.items() if k != name}
        for name, inner in value.items():
            prop = node.get("properties", {}).get(name, {})
            for changed in mutations(inner, prop, root):
                copied = copy.copy(value)
                copied[name] = changed
                yield copied
    if isinstance(value, list) and value:
        yield []
        yield value * 200
        for changed in mutations(value[0], node.get("items", {}), root):
            yield [changed, *value[1:]]


@pytest.mark.parametrize(("version", "path"), schema_files(), ids=lambda p: getattr(p, "stem", p))
def test_compiled_validator_accepts_nothing_the_package_refuses(version: str, path: Path):
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    exact = jsonschema.Draft4Validator(schema)
    compiled = CompiledValidator(exact)
    valid = [example(schema, schema), with_optional(schema, schema)]
    checked = 0
    for payload in valid:
        assert exact.is_valid(payload) and compiled.fast.is_valid(payload), payload
        for candidate in [payload, *mutations(payload, schema, schema)]:
            if compiled.fast.is_valid(candidate):
                assert exact.is_valid(candidate), (path.name, candidate)
            checked += 1
    assert checked > len(BROKEN_VALUES)


def test_valid_payload_is_accepted_and_broken_one_keeps_the_package_error():
    install()
    assert hasattr(ocpp.messages.get_validator, "original")
    good = Call("1", "Heartbeat", {})
    _validate_payload(good, "1.6")
    wrong_type = Call("2", "MeterValues", {"connectorId": "one", "meterValue": []})
    with pytest.raises(TypeConstraintViolationError):
        _validate_payload(wrong_type, "1.6")
    unknown = Call("3", "Heartbeat", {"surprise": 1})
    with pytest.raises(FormatViolationError):
        _validate_payload(unknown, "1.6")


def test_install_is_idempotent_and_keeps_decimal_schemas_with_the_package():
    install()
    first = ocpp.messages.get_validator
    install()
    assert ocpp.messages.get_validator is first
    fast = first(MessageType.Call, "MeterValues", "1.6")
    assert isinstance(fast, CompiledValidator)
    assert first(MessageType.Call, "MeterValues", "1.6") is fast
    exact = first(MessageType.Call, "SetChargingProfile", "1.6", parse_float=Decimal)
    assert not isinstance(exact, CompiledValidator)


def test_value_the_compiled_validator_cannot_read_goes_to_the_package():
    install()
    validator = ocpp.messages.get_validator(MessageType.CallResult, "Heartbeat", "1.6")
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"currentTime": object()})


OCPP16_ERROR_CODES = {
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "TypeConstraintViolation", "GenericError",
}  # fmt: skip


def stock_error_code(frame: str) -> str:
    """The OCPP error code the package, with its own validator only, gives a CALL frame."""
    patched = ocpp.messages.get_validator
    ocpp.messages.get_validator = getattr(patched, "original", patched)
    try:
        _validate_payload(unpack(frame), "1.6")
    except OCPPError as error:
        return error.code
    finally:
        ocpp.messages.get_validator = patched
    return "valid"


async def test_server_refuses_what_the_package_refuses_and_stays_up(ocpp_cse: OcppCSE):
    """Through a real citycse (compiled validation installed): every payload the package's
    own validator refuses is refused with a CALLERROR (the central system names the 1.6
    error more precisely than the package, see test_frames), and valid calls still pass."""
    meter = '{"timestamp": "2026-11-24T10:00:00Z", "sampledValue": [{"value": "10"}]}'
    frames = [
        '[2, "t1", "MeterValues", {"connectorId": "one", "meterValue": []}]',
        '[2, "t2", "MeterValues", {"connectorId": 1, "meterValue": [{"sampledValue": []}]}]',
        '[2, "t3", "MeterValues", {"connectorId": 1}]',
        f'[2, "t4", "MeterValues", {{"connectorId": 1, "meterValue": [{meter}], "x": 1}}]',
        '[2, "t5", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
        '"status": "Sleeping"}]',
        '[2, "t6", "Authorize", {"idTag": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}]',
    ]
    expected = [stock_error_code(frame) for frame in frames]
    assert "valid" not in expected
    assert {"TypeConstraintViolation", "FormatViolation", "ProtocolError"} <= set(expected)
    async with connect(ocpp_cse.ocpp_url("validation-e2e"), subprotocols=["ocpp1.6"]) as ws:
        await ws.send('[2, "b", "BootNotification", {"chargePointVendor": "v", '
                      '"chargePointModel": "m"}]')  # fmt: skip
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))[0] == 3
        for frame, code in zip(frames, expected, strict=True):
            await ws.send(frame)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply[0] == 4 and reply[1] == json.loads(frame)[1], (frame, code, reply)
            assert reply[2] in OCPP16_ERROR_CODES, (frame, code, reply)
        await ws.send(f'[2, "ok", "MeterValues", {{"connectorId": 1, "meterValue": [{meter}]}}]')
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == [3, "ok", {}]


TIMESTAMPS = [
    "2026-11-24T10:00:00Z",
    "2026-11-24T10:00:00.123+01:00",
    "20261124T100000",
    "2026-11-24",
    "2026-11-24 10:00:00",
    "2026-13-24T10:00:00Z",
    "2026-11-24T10:00:00+25:00",
    "0001-01-01T00:00:00+01:00",
    "yesterday",
]


def timestamp_variants(value: Any, node: dict, root: dict) -> Iterator[Any]:
    """Copies of `value` with one date-time replaced by each of TIMESTAMPS."""
    node = resolve(node, root)
    if node.get("format") == "date-time":
        yield from TIMESTAMPS
    elif isinstance(value, dict):
        for name, inner in value.items():
            prop = node.get("properties", {}).get(name, {})
            for changed in timestamp_variants(inner, prop, root):
                yield {**value, name: changed}
    elif isinstance(value, list) and value:
        for changed in timestamp_variants(value[0], node.get("items", {}), root):
            yield [changed, *value[1:]]


# The OCPP 1.6 calls a charge point sends to the central system.
CHARGER_CALLS = [
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
]


@pytest.mark.parametrize("action", CHARGER_CALLS)
def test_compiled_check_of_a_charger_call_answers_as_jsonschema(action: str):
    """The central system's own check (timestamps included, see frames.schema_violation):
    what the compiled validator accepts, `jsonschema` accepts too."""
    schema = frames._schema(action)
    exact = frames._strict_validator(action)
    payloads = [example(schema, schema), with_optional(schema, schema)]
    compiled_used = 0
    for payload in payloads:
        candidates = [payload, *mutations(payload, schema, schema)]
        candidates += timestamp_variants(payload, schema, schema)
        for candidate in candidates:
            violation = frames.schema_violation(action, candidate)
            expected = frames._first_violation(exact, action, candidate)
            assert (violation is None) == (expected is None), (action, candidate)
            if violation is not None:
                assert (violation.code, violation.description) == (
                    expected.code,
                    expected.description,
                )
        compiled_used += frames._compiled_accepts(action, payload)
    assert compiled_used == len(payloads) or frames._compiled_validator(action) is None
