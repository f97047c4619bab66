"""The speed-ups give the `ocpp` package's own answers."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import ocpp
import ocpp.charge_point

from ocpp_adapter import speedups

SCHEMAS = Path(ocpp.__file__).parent
ORIGINAL_TO_SNAKE = getattr(
    ocpp.charge_point.camel_to_snake_case, "original", ocpp.charge_point.camel_to_snake_case
)
ORIGINAL_TO_CAMEL = getattr(
    ocpp.charge_point.snake_to_camel_case, "original", ocpp.charge_point.snake_to_camel_case
)


def schema_keys() -> set[str]:
    """Every property name of every OCPP 1.6 and 2.0.1 schema."""
    keys: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            keys.update(node.get("properties", {}) if isinstance(node.get("properties"), dict)
                        else {})  # fmt: skip
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for folder in ("v16", "v201"):
        for path in (SCHEMAS / folder / "schemas").glob("*.json"):
            walk(json.loads(path.read_text(encoding="utf-8-sig")))
    return keys


def test_key_renaming_matches_the_package_for_every_schema_key_both_ways():
    keys = schema_keys()
    assert len(keys) > 250
    to_snake = speedups.memoised_key_renaming(ORIGINAL_TO_SNAKE)
    to_camel = speedups.memoised_key_renaming(ORIGINAL_TO_CAMEL)
    payload = {key: [{key: {"inner": key}}, 1, None] for key in keys}
    special = {"ocppCSMSURL": 1, "evseV2XMode": 2, "stateOfCharge_SoC": 3, "soc_limit_reached": 4}
    for data in (payload, special, [payload], "text", 5):
        snake = to_snake(data)
        assert snake == ORIGINAL_TO_SNAKE(data)
        assert to_camel(snake) == ORIGINAL_TO_CAMEL(snake)
        assert to_snake(data) == snake  # the memoised answer is the same the second time


def test_values_are_never_renamed():
    to_snake = speedups.memoised_key_renaming(ORIGINAL_TO_SNAKE)
    assert to_snake({"idTag": "camelCaseValue", "meterValue": ["sampledValue"]}) == {
        "id_tag": "camelCaseValue",
        "meter_value": ["sampledValue"],
    }


class Handlers:
    def plain(self, connector_id: int) -> None: ...

    def with_id(self, connector_id: int, call_unique_id: str) -> None: ...


def free(a: int, b: str = "x") -> None: ...


def test_memoised_signature_equals_inspect_for_bound_methods_and_functions():
    speedups.install()
    patched = ocpp.charge_point.inspect
    assert patched is not inspect
    first, second = Handlers(), Handlers()
    for handler in (first.plain, second.plain, first.with_id, second.with_id, free, free):
        assert patched.signature(handler) == inspect.signature(handler)
    assert "call_unique_id" in patched.signature(second.with_id).parameters
    assert "call_unique_id" not in patched.signature(first.plain).parameters
    assert patched.signature(Handlers.plain) == inspect.signature(Handlers.plain)
    assert patched.isawaitable is inspect.isawaitable


def test_install_is_idempotent():
    speedups.install()
    renamer, module = ocpp.charge_point.camel_to_snake_case, ocpp.charge_point.inspect
    speedups.install()
    assert ocpp.charge_point.camel_to_snake_case is renamer
    assert ocpp.charge_point.inspect is module
    assert renamer.original is ORIGINAL_TO_SNAKE
