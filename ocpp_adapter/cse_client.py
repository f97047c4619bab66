"""How the OCPP adapter reaches the CSE: oneM2M requests as an AE, in-process or over HTTP.

Both implementations take the same arguments and give the same `Reply`, so the adapter
code is identical whether it runs inside the CSE process or next to a remote CSE. Targets
are CSE-relative structured paths starting with `-` (`-/evcs/users`), which work whatever
the CSEBase's resource name is. Access control applies as for any other originator."""

from __future__ import annotations

import itertools
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from cse.constants import Operation
from cse.discovery import parse_filter_criteria
from cse.dispatcher import KNOWN_ATTRIBUTES, Dispatcher
from cse.errors import M2MError
from cse.primitives import Request

RVI = "3"
Query = Mapping[str, str | int | list[str]]


class CSEError(Exception):
    """A oneM2M request answered with a status the caller did not expect."""

    def __init__(self, what: str, reply: Reply) -> None:
        super().__init__(f"{what}: rsc={reply.rsc} {reply.pc!r}"[:500])
        self.reply = reply


@dataclass(slots=True)
class Reply:
    rsc: int
    pc: Any = None

    @property
    def ok(self) -> bool:
        return 2000 <= self.rsc < 3000

    def resource(self, root: str) -> dict[str, Any]:
        if not isinstance(self.pc, dict) or not isinstance(self.pc.get(root), dict):
            raise CSEError(f"no {root} in the response", self)
        return self.pc[root]

    def children(self, root: str, child_root: str) -> list[dict[str, Any]]:
        """Child resources of an `rcn=8` retrieve, oldest first (by state tag / creation)."""
        items = self.resource(root).get(child_root, [])
        return sorted(items, key=lambda r: (r.get("st") or 0, r.get("ct") or ""))

    @classmethod
    def received(cls, rsc: Any, pc: Any) -> Reply:
        """The reply as a binding carried it: a status that is not a number counts as 5000
        (internal server error)."""
        text = str(rsc) if isinstance(rsc, int | str) else ""
        return cls(int(text) if text.isdigit() else 5000, pc)

    def expect(self, what: str, *codes: int) -> Reply:
        if self.rsc not in codes:
            raise CSEError(what, self)
        return self


_RQI_PREFIX = f"ocpp-{uuid.uuid4().hex[:12]}-"
_rqi_numbers = itertools.count(1)


def _new_rqi() -> str:
    """Unique per process run: a random prefix drawn once and a counter, which costs less
    than a uuid4 (a system call) per request on the per-message path."""
    return f"{_RQI_PREFIX}{next(_rqi_numbers)}"


class CSEClient(ABC):
    """The four oneM2M operations, each as one originator."""

    @abstractmethod
    async def send(
        self,
        op: Operation,
        to: str,
        origin: str,
        *,
        ty: int | None = None,
        pc: dict[str, Any] | None = None,
        rcn: int | None = None,
        query: Query | None = None,
    ) -> Reply: ...

    async def close(self) -> None:
        return None

    async def create(
        self, to: str, origin: str, ty: int, root: str, attrs: dict, rcn: int | None = None
    ) -> Reply:
        return await self.send(Operation.CREATE, to, origin, ty=ty, pc={root: attrs}, rcn=rcn)

    async def retrieve(
        self, to: str, origin: str, rcn: int | None = None, query: Query | None = None
    ) -> Reply:
        return await self.send(Operation.RETRIEVE, to, origin, rcn=rcn, query=query)

    async def update(self, to: str, origin: str, root: str, attrs: dict) -> Reply:
        return await self.send(Operation.UPDATE, to, origin, pc={root: attrs})

    async def delete(self, to: str, origin: str) -> Reply:
        return await self.send(Operation.DELETE, to, origin)


class InProcessClient(CSEClient):
    """Direct dispatcher calls: the same primitives the bindings build, without a socket."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def send(
        self,
        op: Operation,
        to: str,
        origin: str,
        *,
        ty: int | None = None,
        pc: dict[str, Any] | None = None,
        rcn: int | None = None,
        query: Query | None = None,
    ) -> Reply:
        request = Request(op=op, to=to, fr=origin, rqi=_new_rqi(), rvi=RVI, ty=ty, pc=pc, rcn=rcn)
        if query:
            try:
                request.fc = parse_filter_criteria(
                    {k: [str(v)] if not isinstance(v, list) else v for k, v in query.items()},
                    KNOWN_ATTRIBUTES,
                )
            except M2MError as error:
                return Reply(int(error.rsc), {"m2m:dbg": error.message})
        response = await self.dispatcher.handle(request)
        return Reply(int(response.rsc), response.pc)


class HttpClient(CSEClient):
    """oneM2M over HTTP (TS-0009) to a CSE at `base_url`."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def close(self) -> None:
        await self.http.aclose()

    async def send(
        self,
        op: Operation,
        to: str,
        origin: str,
        *,
        ty: int | None = None,
        pc: dict[str, Any] | None = None,
        rcn: int | None = None,
        query: Query | None = None,
    ) -> Reply:
        headers = {"X-M2M-Origin": origin, "X-M2M-RI": _new_rqi(), "X-M2M-RVI": RVI}
        params: list[tuple[str, str]] = []
        if rcn is not None:
            params.append(("rcn", str(rcn)))
        for name, value in (query or {}).items():
            params.append((name, "+".join(value) if isinstance(value, list) else str(value)))
        method = {
            Operation.CREATE: "POST",
            Operation.RETRIEVE: "GET",
            Operation.UPDATE: "PUT",
            Operation.DELETE: "DELETE",
        }[op]
        content = None
        if pc is not None:
            content = orjson.dumps(pc)
            headers["Content-Type"] = "application/json" + (f";ty={ty}" if ty else "")
        response = await self.http.request(
            method, "/" + to.lstrip("/"), params=params, content=content, headers=headers
        )
        body = response.json() if response.content else None
        return Reply.received(response.headers.get("X-M2M-RSC"), body)
