"""OCPP-J 1.6 frames the `ocpp` package mishandles, and the CALLERROR codes 1.6 defines.

The package only logs a frame it cannot unpack (not JSON, not an array, an unknown message
type, missing elements) and answers nothing, so the charger waits for a reply that never
comes; an action that is not a string makes its reader task fail and drops the socket. It
swaps NotImplemented and NotSupported, answers schema violations with 2.0.1 code names
(FormatViolation) and most of them as format errors. These functions let the central
system answer such frames itself, with the codes of OCPP-J 1.6 §4.2.3 (Table 7)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft4Validator, FormatChecker
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.exceptions import NotSupportedError, OCPPError
from ocpp.messages import get_validator
from ocpp.v16.enums import Action

from ocpp_adapter.tariffs import parse_time

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
UNKNOWN_ID = "-1"
MAX_UNIQUE_ID = 36
FORMATION_VIOLATION = "FormationViolation"
PROTOCOL_ERROR = "ProtocolError"
TYPE_CONSTRAINT = "TypeConstraintViolation"
PROPERTY_CONSTRAINT = "PropertyConstraintViolation"
OCCURENCE_CONSTRAINT = "OccurenceConstraintViolation"  # sic, OCPP-J 1.6 Table 7
# The failing JSON-schema keyword -> the OCPP-J 1.6 code that describes it.
SCHEMA_CODES = {
    "additionalProperties": FORMATION_VIOLATION,
    "required": PROTOCOL_ERROR,
    "type": TYPE_CONSTRAINT,
    "maxLength": TYPE_CONSTRAINT,
    "enum": PROPERTY_CONSTRAINT,
    "minimum": PROPERTY_CONSTRAINT,
    "maximum": PROPERTY_CONSTRAINT,
    "multipleOf": PROPERTY_CONSTRAINT,
    "pattern": PROPERTY_CONSTRAINT,
    "format": PROPERTY_CONSTRAINT,
    "minLength": PROPERTY_CONSTRAINT,
    "minItems": OCCURENCE_CONSTRAINT,
    "maxItems": OCCURENCE_CONSTRAINT,
    "uniqueItems": OCCURENCE_CONSTRAINT,
}
# The package raises OCPP 2.0.1 spellings; OCPP-J 1.6 Table 7 spells these differently.
OCPP16_CODES = {
    "FormatViolation": FORMATION_VIOLATION,
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
TIMESTAMPS = FormatChecker(formats=())


@TIMESTAMPS.checks("date-time", raises=(ValueError, OverflowError))
def _readable_timestamp(value: Any) -> bool:
    """A timestamp the billing can read (other types are the `type` rule's business)."""
    if isinstance(value, str):
        parse_time(value)
    return True


# What a lenient charger may get wrong: the value rules, not the structure nor timestamps.
VALUE_CONSTRAINTS = frozenset(
    {
        "additionalProperties",
        "enum",
        "maxItems",
        "maxLength",
        "maximum",
        "minItems",
        "minLength",
        "minimum",
        "multipleOf",
        "pattern",
        "uniqueItems",
    }
)


class CallErrorReply(OCPPError):
    """A CALLERROR with any OCPP-J 1.6 code."""

    def __init__(self, code: str, description: str, details: dict | None = None) -> None:
        super().__init__(description, details)
        self.code = code


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Why a frame cannot be routed; `unique_id` is None when it must not be answered (a
    malformed CALLRESULT or CALLERROR)."""

    unique_id: str | None
    code: str
    description: str


def parse_frame(raw: str | bytes) -> list | BadFrame:
    """The frame as a JSON array the package can route, or what to answer instead."""
    try:
        frame = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return BadFrame(UNKNOWN_ID, FORMATION_VIOLATION, "the message is not valid JSON")
    if not isinstance(frame, list) or not frame:
        return BadFrame(UNKNOWN_ID, FORMATION_VIOLATION, "the message must be a JSON array")
    kind = frame[0]
    unique_id = frame[1] if len(frame) > 1 and _valid_unique_id(frame[1]) else None
    if kind in (CALL_RESULT, CALL_ERROR) and not isinstance(kind, bool):
        return _check_answer(frame) or frame
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
    return frame


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


def schema_violation(action: str, payload: Any) -> CallErrorReply | None:
    """How an incoming 1.6 CALL's payload fails its schema, as the CALLERROR to answer.
    Unlike the package, timestamps (`format: date-time`) are checked too: one that cannot
    be read would poison the billing of its session. A payload the compiled validator
    accepts is valid; anything else is decided (and explained) by `jsonschema`."""
    if _compiled_accepts(action, payload):
        return None
    return _first_violation(_strict_validator(action), action, payload)


def structure_violation(action: str, payload: Any) -> CallErrorReply | None:
    """For lenient chargers: how the payload's structure fails (a required field missing,
    a JSON type or a timestamp wrong), ignoring the rules on values (enum spellings,
    lengths, patterns, unknown fields)."""
    return _first_violation(_structure_validator(action), action, payload)


def known_fields(action: str, payload: dict) -> dict:
    """The payload without the top-level fields its schema does not define."""
    properties = _schema(action).get("properties", {})
    return {k: v for k, v in payload.items() if k in properties}


def _first_violation(
    validator: Draft4Validator, action: str, payload: Any
) -> CallErrorReply | None:
    error = next(iter(validator.iter_errors(payload)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "payload"
    code = SCHEMA_CODES.get(str(error.validator), FORMATION_VIOLATION)
    return CallErrorReply(code, f"{action}: {where}: {error.message}"[:500])


def _schema(action: str) -> dict:
    return get_validator(CALL, action, "1.6").schema


@lru_cache(maxsize=128)
def _strict_validator(action: str) -> Draft4Validator:
    return Draft4Validator(_schema(action), format_checker=TIMESTAMPS)


def _compiled_accepts(action: str, payload: Any) -> bool:
    validator = _compiled_validator(action)
    try:
        return validator is not None and validator.is_valid(payload)
    except Exception:  # noqa: BLE001 - a value it cannot read: jsonschema decides
        return False


@lru_cache(maxsize=128)
def _compiled_validator(action: str) -> jsonschema_rs.Draft4Validator | None:
    """The strict schema compiled (see validation.py), with the same timestamp check; none
    for schemas with `multipleOf`, where it and `jsonschema` round decimals differently."""
    schema = _schema(action)
    if _uses_keyword(schema, "multipleOf"):
        return None
    return jsonschema_rs.Draft4Validator(
        schema, formats={"date-time": _billable_timestamp}, validate_formats=True
    )


def _uses_keyword(schema: Any, keyword: str) -> bool:
    if isinstance(schema, dict):
        return keyword in schema or any(_uses_keyword(v, keyword) for v in schema.values())
    if isinstance(schema, list):
        return any(_uses_keyword(v, keyword) for v in schema)
    return False


def _billable_timestamp(value: str) -> bool:
    try:
        return _readable_timestamp(value)
    except (ValueError, OverflowError):
        return False


@lru_cache(maxsize=128)
def _structure_validator(action: str) -> Draft4Validator:
    return Draft4Validator(_structure_only(_schema(action)), format_checker=TIMESTAMPS)


def _structure_only(schema: Any) -> Any:
    """The schema without its constraints on values (see VALUE_CONSTRAINTS)."""
    if isinstance(schema, dict):
        kept = {k: _structure_only(v) for k, v in schema.items() if k not in VALUE_CONSTRAINTS}
        if isinstance(schema.get("properties"), dict):  # property names are not keywords
            kept["properties"] = {k: _structure_only(v) for k, v in schema["properties"].items()}
        return kept
    if isinstance(schema, list):
        return [_structure_only(value) for value in schema]
    return schema
