"""OCPP calls to a charger built from their action name and wire payload, for 1.6 and 2.0.1.

Commands reach the central system as data (an action name and a camelCase payload, as on
the wire); this turns them into the `ocpp` package's call dataclasses of the charger's
protocol version, so the package's schema validation applies before anything is sent."""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.v16 import call as call_v16
from ocpp.v201 import call as call_v201

CALL_MODULES: dict[str, ModuleType] = {"ocpp1.6": call_v16, "ocpp2.0.1": call_v201}
# Messages the charger sends to the central system are not commands the CSMS can send.
CHARGER_INITIATED = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "TransactionEvent",
        "NotifyReport",
        "NotifyEvent",
    }
)


class CommandRejected(Exception):
    """The command is not a valid OCPP call for the charger; nothing was sent."""


def build_call(subprotocol: str, action: str, payload: dict[str, Any]) -> Any:
    """The call dataclass for `action` with `payload` (camelCase), or CommandRejected."""
    module = CALL_MODULES.get(subprotocol)
    if module is None:
        raise CommandRejected(f"unsupported OCPP version {subprotocol!r}")
    kind = getattr(module, action, None) if action.isidentifier() else None
    if action in CHARGER_INITIATED or not (
        isinstance(kind, type) and dataclasses.is_dataclass(kind)
    ):
        raise CommandRejected(f"{action!r} is not a call the central system can send")
    if not isinstance(payload, dict):
        raise CommandRejected("the request must be a JSON object")
    try:
        return kind(**camel_to_snake_case(payload))
    except TypeError as exc:
        raise CommandRejected(f"bad {action} request: {exc}") from None


def answer_payload(result: Any) -> dict[str, Any]:
    """A call result dataclass as its camelCase wire payload, without absent fields."""
    fields = {k: v for k, v in dataclasses.asdict(result).items() if v is not None}
    return snake_to_camel_case(fields)
