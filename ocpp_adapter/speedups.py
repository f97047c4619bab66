"""Less CPU per OCPP message from the `ocpp` package, with the same results.

Profiled per MeterValues, the package spent about a quarter of the central system's Python
CPU on three things that give the same answer every time:

- schema validation in Python (`validation.py` puts a compiled validator in front);
- renaming every key camelCase -> snake_case on the way in and back on the way out, two
  regular expressions per key: the renaming of one key never changes, so it is memoised;
- `inspect.signature(handler)` per message, to see whether a handler wants
  `call_unique_id`: a handler's signature never changes, so it is memoised per function.

The package reads these names from its own module globals at call time, which is where they
are replaced; the replacements call the package's own functions for anything new."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import Any

import ocpp.charge_point

from ocpp_adapter import validation

KEY_CACHE_SIZE = 4096
"""Distinct keys remembered per direction: every OCPP 1.6 and 2.0.1 key fits many times;
unknown keys from a misbehaving charger only evict each other."""


def memoised_key_renaming(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`original` (one of the package's recursive key renamers) with each key's new name
    computed once."""

    @functools.lru_cache(maxsize=KEY_CACHE_SIZE)
    def rename(key: str) -> str:
        return next(iter(original({key: None})))

    def convert(data: Any) -> Any:
        if isinstance(data, dict):
            return {rename(key): convert(value) for key, value in data.items()}
        if isinstance(data, list):
            return [convert(value) for value in data]
        return data

    convert.original = original  # type: ignore[attr-defined]
    return convert


SIGNATURE_CACHE_SIZE = 1024


class _InspectWithMemoisedSignature(types.ModuleType):
    """The `inspect` module as the package sees it: `signature` remembered per function
    (a bound method's signature depends only on its function: binding drops `self`)."""

    def __init__(self) -> None:
        super().__init__("inspect")
        self.__dict__.update(inspect.__dict__)
        self.signature = self._signature
        self._known: dict[tuple[Any, bool], inspect.Signature] = {}

    def _signature(self, handler: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        bound = isinstance(handler, types.MethodType)
        function = handler.__func__ if bound else handler
        if args or kwargs or not inspect.isfunction(function):
            return inspect.signature(handler, *args, **kwargs)
        key = (function, bound)
        found = self._known.get(key)
        if found is None:
            found = inspect.signature(handler)
            if len(self._known) < SIGNATURE_CACHE_SIZE:
                self._known[key] = found
        return found


def install() -> None:
    """Install every speed-up in this process (idempotent)."""
    validation.install()
    module = ocpp.charge_point
    for name in ("camel_to_snake_case", "snake_to_camel_case"):
        current = getattr(module, name)
        if not hasattr(current, "original"):
            setattr(module, name, memoised_key_renaming(current))
    if not isinstance(module.inspect, _InspectWithMemoisedSignature):
        module.inspect = _InspectWithMemoisedSignature()
