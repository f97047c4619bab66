"""OCPP-J frames the `ocpp` package mishandles, and the 1.6 names of CALLERROR codes.

The package only logs a frame it cannot unpack (not JSON, not an array, an unknown message
type, missing elements) and answers nothing, so the charger waits for a reply that never
comes; an action that is not a string makes its reader task fail and drops the socket. It
also swaps NotImplemented and NotSupported, and names two codes as OCPP 2.0.1 does. These
functions let the central system answer such frames itself, as OCPP-J 1.6 §4.2.3 asks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.messages import get_validator
from ocpp.v16.enums import Action

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
UNKNOWN_ID = "-1"
MAX_UNIQUE_ID = 36
FORMATION_VIOLATION = "FormationViolation"
PROTOCOL_ERROR = "ProtocolError"
# The package raises OCPP 2.0.1 spellings; OCPP-J 1.6 Table 7 spells these differently.
OCPP16_CODES = {
    "FormatViolation": FORMATION_VIOLATION,
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "array": list,
    "object": dict,
}


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Why a frame cannot be routed; `unique_id` is None when it must not be answered (a
    malformed CALLRESULT or CALLERROR)."""

    unique_id: str | None
    code: str
    description: str


def check_frame(raw: str | bytes) -> BadFrame | None:
    """None for a frame the package can route; otherwise what to answer."""
    try:
        frame = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return BadFrame(UNKNOWN_ID, FORMATION_VIOLATION, "the message is not valid JSON")
    if not isinstance(frame, list) or not frame:
        return BadFrame(UNKNOWN_ID, FORMATION_VIOLATION, "the message must be a JSON array")
    kind = frame[0]
    unique_id = frame[1] if len(frame) > 1 and _valid_unique_id(frame[1]) else None
    if kind in (CALL_RESULT, CALL_ERROR) and not isinstance(kind, bool):
        return _check_answer(frame)
    if kind != CALL or isinstance(kind, bool):
        return BadFrame(
            unique_id or UNKNOWN_ID,
            FORMATION_VIOLATION,
            f"MessageTypeId {kind!r} is not 2 (CALL), 3 (CALLRESULT) or 4 (CALLERROR)",
        )
    if unique_id is None:
        return BadFrame(UNKNOWN_ID, FORMATION_VIOLATION, "the UniqueId must be a string of 1-36")
    if len(frame) < 4:
        incomplete = "a CALL has 4 elements: type, id, action and payload"
        return BadFrame(unique_id, PROTOCOL_ERROR, incomplete)
    if len(frame) > 4:
        return BadFrame(unique_id, FORMATION_VIOLATION, "a CALL has exactly 4 elements")
    if not isinstance(frame[2], str) or not frame[2]:
        return BadFrame(unique_id, FORMATION_VIOLATION, "the Action must be a string")
    if not isinstance(frame[3], dict):
        return BadFrame(unique_id, FORMATION_VIOLATION, "the payload must be a JSON object")
    return None


def _valid_unique_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_UNIQUE_ID


def _check_answer(frame: list) -> BadFrame | None:
    expected = 3 if frame[0] == CALL_RESULT else 5
    if len(frame) != expected or not isinstance(frame[1], str):
        return BadFrame(None, FORMATION_VIOLATION, f"an answer frame has {expected} elements")
    if frame[0] == CALL_RESULT and not isinstance(frame[2], dict):
        return BadFrame(None, FORMATION_VIOLATION, "a CALLRESULT payload must be an object")
    return None


def call_error(unique_id: str, code: str, description: str, details: Any = None) -> str:
    return json.dumps([CALL_ERROR, unique_id, code, description, details or {}])


def unknown_action_error(action: str) -> OCPPError:
    """NotImplemented for an action OCPP 1.6 does not define, NotSupported for one it does
    that the central system does not take (OCPP-J 1.6 Table 7)."""
    try:
        Action(action)
    except ValueError:
        error: OCPPError = OcppNotImplemented(description=f"{action} is not an OCPP 1.6 action")
        return error
    return NotSupportedError(description=f"the central system does not handle {action}")


def as_ocpp16(error: OCPPError) -> OCPPError:
    """The error with its OCPP-J 1.6 code."""
    code = OCPP16_CODES.get(error.code)
    if code is not None:
        error.code = code  # type: ignore[misc]
    return error


def usable_payload(action: str, payload: Any) -> dict | None:
    """For lenient chargers: the payload reduced to the fields the schema knows, when every
    required field is there with the right JSON type; else None."""
    if not isinstance(payload, dict):
        return None
    schema = get_validator(CALL, action, "1.6").schema
    properties: dict = schema.get("properties", {})
    for name in schema.get("required", []):
        json_type = properties.get(name, {}).get("type", "")
        if name not in payload or not _has_type(payload[name], json_type):
            return None
    return {k: v for k, v in payload.items() if k in properties}


def _has_type(value: Any, json_type: str) -> bool:
    if json_type == "boolean":
        return isinstance(value, bool)
    kind = JSON_TYPES.get(json_type)
    return kind is None or (isinstance(value, kind) and not isinstance(value, bool))
