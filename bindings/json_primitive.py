"""The JSON serialization of request and response primitives (TS-0004 8.4.2), as carried
by message bindings (MQTT, TS-0010 6.5): bare objects with short names."""

from typing import Any

from cse.constants import Operation
from cse.discovery import parse_filter_criteria
from cse.dispatcher import KNOWN_ATTRIBUTES
from cse.errors import BadRequest
from cse.primitives import Request, Response
from cse.timestamps import parse_timestamp

OPTIONAL_INTS = ("ty", "rcn", "drt")


def _int(primitive: dict[str, Any], name: str) -> int | None:
    value = primitive.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadRequest(f"primitive parameter {name} must be an integer, got {value!r}")


def request_from_primitive(primitive: Any) -> Request:
    """A Request from a decoded JSON primitive; also accepts the `m2m:rqp` wrapper."""
    if isinstance(primitive, dict) and set(primitive) == {"m2m:rqp"}:
        primitive = primitive["m2m:rqp"]
    if not isinstance(primitive, dict):
        raise BadRequest("a request primitive must be a JSON object")
    rqi = primitive.get("rqi")
    if not isinstance(rqi, str) or not rqi:
        raise BadRequest("the request primitive has no request identifier (rqi)")
    op = _int(primitive, "op")
    if op not in (1, 2, 3, 4, 5):
        raise BadRequest("the request primitive needs an operation (op) from 1 to 5")
    to = primitive.get("to")
    if not isinstance(to, str) or not to:
        raise BadRequest("the request primitive has no target (to)")
    fr = primitive.get("fr")
    if fr is not None and not isinstance(fr, str):
        raise BadRequest("fr must be a string")
    rvi = primitive.get("rvi")
    request = Request(
        op=Operation(op), to=to, fr=fr, rqi=rqi, rvi=str(rvi) if rvi is not None else None
    )
    request.ty = _int(primitive, "ty")
    request.rcn = _int(primitive, "rcn")
    drt = _int(primitive, "drt")
    if drt is not None:
        request.drt = drt
    if primitive.get("rqet") is not None:
        request.rqet = parse_timestamp(primitive["rqet"])
    fc = primitive.get("fc")
    if fc is not None:
        if not isinstance(fc, dict):
            raise BadRequest("fc must be an object of filter criteria")
        request.fc = parse_filter_criteria(fc, KNOWN_ATTRIBUTES)
    request.pc = primitive.get("pc")
    if request.op in (Operation.CREATE, Operation.UPDATE) and request.pc is None:
        raise BadRequest("this request needs content (pc)")
    return request


def response_primitive(response: Response, to: str | None, fr: str) -> dict[str, Any]:
    primitive: dict[str, Any] = {"rsc": int(response.rsc), "rqi": response.rqi}
    if response.pc is not None:
        primitive["pc"] = response.pc
    if response.rvi:
        primitive["rvi"] = response.rvi
    if to:
        primitive["to"] = to
    primitive["fr"] = fr
    return primitive
