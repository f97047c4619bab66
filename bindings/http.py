"""The HTTP binding (TS-0009): HTTP requests to request primitives and responses back.

A plain ASGI callable, so that the hot path carries no framework routing or validation."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from cse.constants import Operation
from cse.constants import ResponseStatusCode as RSC
from cse.discovery import parse_filter_criteria
from cse.dispatcher import KNOWN_ATTRIBUTES, Dispatcher
from cse.errors import BadRequest, M2MError, OperationNotAllowed, UnsupportedMediaType
from cse.primitives import Request, Response
from cse.timestamps import parse_timestamp

log = logging.getLogger("citycse.http")

METHODS = {"GET": Operation.RETRIEVE, "PUT": Operation.UPDATE, "DELETE": Operation.DELETE}
REQUEST_PARAMETERS = frozenset(
    {"rcn", "drt", "atrl", "rt", "rp", "da", "rids", "tids", "ltids", "tqi", "asi", "auri", "sqi"}
)
IGNORED_PARAMETERS = frozenset({"rp", "da", "tids", "ltids", "tqi", "asi", "auri", "sqi", "rids"})
JSON_TYPES = ("application/json", "application/vnd.onem2m-res+json")
MAX_BODY = 4 * 1024 * 1024

# TS-0009 table 6.3.2-1, by response status code.
_STATUS = {
    2000: 200,
    2002: 200,
    2004: 200,
    2001: 201,
    4004: 404,
    5103: 404,
    5107: 404,
    4005: 405,
    5207: 406,
    4104: 409,
    4105: 409,
    4124: 409,
    5106: 409,
    4015: 415,
    4001: 501,
    5001: 501,
    5206: 501,
    4008: 504,
}
_FORBIDDEN = {4101, 4103, 4106, 4107, 4108, 4109, 4117, 4126, 5105, 5203, 5205}


def http_status(rsc: int) -> int:
    if rsc in _STATUS:
        return _STATUS[rsc]
    if 1000 <= rsc < 2000:
        return 202
    if rsc in _FORBIDDEN:
        return 403
    if 4000 <= rsc < 5000:
        return 400
    return 500


def _media_type(content_type: str) -> tuple[str, dict[str, str]]:
    parts = [part.strip() for part in content_type.split(";")]
    params: dict[str, str] = {}
    for part in parts[1:]:
        name, _, value = part.partition("=")
        params[name.strip().lower()] = value.strip()
    return parts[0].lower(), params


def _single(query: dict[str, list[str]], name: str) -> str:
    values = query.pop(name)
    if len(values) != 1:
        raise BadRequest(f"query parameter {name} takes one value")
    return values[0]


def _int_parameter(query: dict[str, list[str]], name: str) -> int:
    value = _single(query, name)
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"query parameter {name} must be an integer, got {value!r}") from None


def _op_and_type(method: str, headers: dict[str, str]) -> tuple[Operation, int | None]:
    if method in METHODS:
        return METHODS[method], None
    if method != "POST":
        raise OperationNotAllowed(f"HTTP method {method} has no oneM2M operation")
    media, params = _media_type(headers.get("content-type", "application/json"))
    if "ty" not in params:
        raise OperationNotAllowed(
            "a POST without ty in Content-Type is a NOTIFY, which this CSE does not accept; "
            "to create a resource send Content-Type: application/json;ty=<resource type>"
        )
    try:
        return Operation.CREATE, int(params["ty"])
    except ValueError:
        raise BadRequest(f"ty in Content-Type must be an integer, got {params['ty']!r}") from None


def _parse_body(body: bytes, headers: dict[str, str]) -> Any:
    if not body:
        return None
    media, _ = _media_type(headers.get("content-type", "application/json"))
    if media not in JSON_TYPES:
        raise UnsupportedMediaType(f"content type {media!r} is not supported; send JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def _to_from_path(path: str) -> str:
    if path.startswith("/~/"):
        return path[2:]
    if path.startswith("/_/"):
        return "/" + path[2:]
    return path[1:]


def build_request(
    method: str, path: str, query_string: str, headers: dict[str, str], body: bytes
) -> Request:
    """Translate an HTTP request to a request primitive (TS-0009 6.2, 6.4)."""
    rqi = headers.get("x-m2m-ri", "")
    request = Request(
        op=Operation.RETRIEVE,
        to=_to_from_path(path),
        fr=headers.get("x-m2m-origin"),
        rqi=rqi,
        rvi=headers.get("x-m2m-rvi"),
    )
    request.op, request.ty = _op_and_type(method, headers)
    if "x-m2m-ret" in headers:
        request.rqet = parse_timestamp(headers["x-m2m-ret"])
    query = parse_qs(query_string, keep_blank_values=True) if query_string else {}
    if "rcn" in query:
        request.rcn = _int_parameter(query, "rcn")
    if "drt" in query:
        request.drt = _int_parameter(query, "drt")
    if "rt" in query and _int_parameter(query, "rt") != 3:
        raise M2MError("only blocking requests (rt=3) are supported", RSC.NOT_IMPLEMENTED)
    if "atrl" in query:
        request.atrl = [a for v in query.pop("atrl") for a in v.replace("+", " ").split()]
    for name in IGNORED_PARAMETERS & query.keys():
        query.pop(name)
    if query:
        request.fc = parse_filter_criteria(query, KNOWN_ATTRIBUTES)
    if request.op in (Operation.CREATE, Operation.UPDATE):
        request.pc = _parse_body(body, headers)
        if request.pc is None:
            raise BadRequest("this request needs a JSON body")
    return request


def encode_response(response: Response) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    headers = [
        (b"x-m2m-rsc", str(int(response.rsc)).encode()),
        (b"x-m2m-ri", response.rqi.encode("latin-1", "replace")),
    ]
    if response.rvi:
        headers.append((b"x-m2m-rvi", response.rvi.encode("latin-1", "replace")))
    if response.content_location:
        headers.append((b"content-location", response.content_location.encode()))
    body = b""
    if response.pc is not None:
        body = orjson.dumps(response.pc)
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))
    return http_status(response.rsc), headers, body


async def _read_body(receive: Callable[[], Awaitable[dict]]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest(f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class HttpBinding:
    """ASGI application serving the oneM2M resource tree over HTTP."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        rqi = headers.get("x-m2m-ri", "")
        rvi = headers.get("x-m2m-rvi")
        try:
            body = await _read_body(receive)
            request = build_request(
                scope["method"],
                scope["path"],
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                body,
            )
        except M2MError as error:
            response = Response.error(error.rsc, rqi, error.message, rvi)
        else:
            response = await self.dispatcher.handle(request)
        status, response_headers, payload = encode_response(response)
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
