"""OCPP schema validation with a compiled validator in front of the `ocpp` package's own.

The package validates every incoming CALL and every CALLRESULT it sends with `jsonschema`
(Draft 4, interpreted in Python): about 0.1 ms for a 1.6 MeterValues, the largest single
cost of the central system per message. `jsonschema_rs` decides the same schema in about a
microsecond. It only answers "valid"; anything it does not accept (or cannot read) goes to
the package's own validator, so refusals and their OCPP error codes (FormatViolation,
TypeConstraintViolation, ...) are exactly the package's. Both implement Draft 4;
`jsonschema_rs` also checks `format` (a bad date-time then takes the slow path, where
`jsonschema`, which ignores formats, accepts it as before).
tests/ocpp_adapter/test_validation.py checks that it accepts nothing the package refuses,
over valid and broken payloads of every OCPP 1.6 and 2.0.1 message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema_rs
import ocpp.messages


class CompiledValidator:
    """`validate()` of a `jsonschema` validator, answered by `jsonschema_rs` when valid."""

    __slots__ = ("exact", "fast")

    def __init__(self, exact: Any) -> None:
        self.exact = exact
        self.fast = jsonschema_rs.Draft4Validator(exact.schema)

    @property
    def schema(self) -> dict[str, Any]:
        return self.exact.schema

    def validate(self, instance: Any) -> None:
        try:
            if self.fast.is_valid(instance):
                return
        except Exception:  # noqa: BLE001 - a value it cannot read: the package decides
            pass
        self.exact.validate(instance)


def compiled_get_validator(original: Callable[..., Any]) -> Callable[..., Any]:
    """`ocpp.messages.get_validator` returning compiled validators, built once per schema.
    Schemas read with `parse_float=Decimal` (1.6 charging profiles, whose `multipleOf 0.1`
    needs exact decimals) keep the package's validator."""
    compiled: dict[int, CompiledValidator] = {}

    def get_validator(
        message_type_id: int, action: str, ocpp_version: str, parse_float: Callable = float
    ) -> Any:
        exact = original(message_type_id, action, ocpp_version, parse_float=parse_float)
        if parse_float is not float:
            return exact
        validator = compiled.get(id(exact))
        if validator is None or validator.exact is not exact:
            validator = compiled[id(exact)] = CompiledValidator(exact)
        return validator

    get_validator.original = original  # type: ignore[attr-defined]
    return get_validator


def install() -> None:
    """Validate OCPP messages in this process with compiled validators (idempotent)."""
    if not hasattr(ocpp.messages.get_validator, "original"):
        ocpp.messages.get_validator = compiled_get_validator(ocpp.messages.get_validator)
