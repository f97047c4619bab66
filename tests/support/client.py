"""A small oneM2M-over-HTTP client for black-box tests (TS-0009 binding)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

TY_ACP, TY_AE, TY_CNT, TY_CIN, TY_CB = 1, 2, 3, 4, 5
ROOTS = {TY_ACP: "m2m:acp", TY_AE: "m2m:ae", TY_CNT: "m2m:cnt", TY_CIN: "m2m:cin", TY_CB: "m2m:cb"}

_UNSET: Any = object()


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def timestamp(delta: timedelta = timedelta(0)) -> str:
    """m2m:timestamp in ISO 8601 basic format, UTC (TS-0004 §6.3.3)."""
    return (datetime.now(UTC) + delta).strftime("%Y%m%dT%H%M%S")


@dataclass
class Reply:
    """A response as the tests look at it."""

    http: httpx.Response

    @property
    def status(self) -> int:
        return self.http.status_code

    @property
    def rsc(self) -> int | None:
        value = self.http.headers.get("X-M2M-RSC")
        return int(value) if value is not None and value.strip().isdigit() else None

    @property
    def rqi(self) -> str | None:
        return self.http.headers.get("X-M2M-RI")

    @property
    def headers(self) -> httpx.Headers:
        return self.http.headers

    @property
    def body(self) -> Any:
        if not self.http.content:
            return None
        try:
            return self.http.json()
        except ValueError:
            return None

    def res(self, root: str | None = None) -> dict:
        """The resource representation under its root name (the only key when root is None)."""
        body = self.body
        assert isinstance(body, dict), f"no JSON object in response: {self}"
        if root is None:
            assert len(body) == 1, f"expected one root in {body}"
            root = next(iter(body))
        assert root in body, f"{root} missing in {body}"
        return body[root]

    @property
    def dbg(self) -> Any:
        body = self.body
        return body.get("m2m:dbg") if isinstance(body, dict) else None

    def __str__(self) -> str:
        req = self.http.request
        return (
            f"{req.method} {req.url} -> HTTP {self.status} rsc={self.rsc} "
            f"body={self.http.text[:600]!r}"
        )

    __repr__ = __str__


def expect(reply: Reply, rsc: int, http: int | None = None) -> Reply:
    """Assert the oneM2M status (and optionally the HTTP status); return the reply."""
    assert reply.rsc == rsc, f"expected rsc {rsc}: {reply}"
    if http is not None:
        assert reply.status == http, f"expected HTTP {http}: {reply}"
    assert reply.status < 500 or rsc >= 5000 or rsc in (4001, 4008), f"unexpected 5xx: {reply}"
    return reply


class M2M:
    """oneM2M requests with the TS-0009 headers filled in."""

    def __init__(
        self,
        base_url: str,
        origin: str | None = "CAdmin",
        rvi: str | None = "3",
        cse_rn: str = "cse-in",
        cse_id: str = "id-in",
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url
        self.origin = origin
        self.rvi = rvi
        self.cse_rn = cse_rn
        self.cse_id = cse_id
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def as_(self, origin: str | None) -> M2M:
        """Another client for the same server with a different originator."""
        other = M2M(self.base_url, origin, self.rvi, self.cse_rn, self.cse_id)
        return other

    def headers(self, origin: Any = _UNSET, rvi: Any = _UNSET, rqi: str | None = None) -> dict:
        origin = self.origin if origin is _UNSET else origin
        rvi = self.rvi if rvi is _UNSET else rvi
        headers = {"X-M2M-RI": rqi or unique("rq"), "Accept": "application/json"}
        if origin is not None:
            headers["X-M2M-Origin"] = origin
        if rvi is not None:
            headers["X-M2M-RVI"] = rvi
        return headers

    @staticmethod
    def url(path: str) -> str:
        return path if path.startswith("/") else "/" + path

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = _UNSET,
        content: bytes | str | None = None,
        content_type: str | None = None,
        params: dict | None = None,
        origin: Any = _UNSET,
        rvi: Any = _UNSET,
        rqi: str | None = None,
        headers: dict | None = None,
    ) -> Reply:
        hdrs = self.headers(origin, rvi, rqi)
        if body is not _UNSET:
            content = json.dumps(body)
        if content is not None:
            hdrs["Content-Type"] = content_type or "application/json"
        elif content_type:
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        resp = self.http.request(
            method, self.url(path), content=content, params=params, headers=hdrs
        )
        return Reply(resp)

    # the four operations -----------------------------------------------------------------

    def create(
        self,
        path: str,
        ty: int,
        attrs: dict | None = None,
        *,
        root: str | None = None,
        body: Any = _UNSET,
        **kw: Any,
    ) -> Reply:
        if body is _UNSET:
            body = {root or ROOTS[ty]: attrs or {}}
        return self.request("POST", path, body=body, content_type=f"application/json;ty={ty}", **kw)

    def retrieve(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def update(
        self,
        path: str,
        ty: int,
        attrs: dict | None = None,
        *,
        root: str | None = None,
        body: Any = _UNSET,
        **kw: Any,
    ) -> Reply:
        if body is _UNSET:
            body = {root or ROOTS[ty]: attrs or {}}
        return self.request("PUT", path, body=body, content_type="application/json", **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)

    def discover(self, path: str, **filters: Any) -> list[str]:
        params = {"fu": "1", **{k: str(v) for k, v in filters.items()}}
        reply = expect(self.retrieve(path, params=params), 2000, 200)
        body = reply.body
        assert isinstance(body, dict) and "m2m:uril" in body, f"no m2m:uril: {reply}"
        uril = body["m2m:uril"]
        assert isinstance(uril, list), f"m2m:uril is not a list: {reply}"
        return uril

    # helpers -----------------------------------------------------------------------------

    def cse_path(self, *parts: str) -> str:
        return "/".join([self.cse_rn, *parts])

    def make(self, path: str, ty: int, attrs: dict | None = None, **kw: Any) -> dict:
        """Create and return the created resource (fails the test unless 2001)."""
        reply = expect(self.create(path, ty, attrs, **kw), 2001, 201)
        return reply.res(ROOTS[ty])

    def get(self, path: str, ty: int, **kw: Any) -> dict:
        reply = expect(self.retrieve(path, **kw), 2000, 200)
        return reply.res(ROOTS[ty])


def tail(uri: str) -> str:
    """Last path segment of an address (for unstructured results)."""
    return uri.rstrip("/").rsplit("/", 1)[-1]


def structured_suffix(uri: str, cse_rn: str = "cse-in") -> str:
    """Normalise a structured address to the part below the CSEBase name.

    Accepts CSE-relative (`cse-in/a/b`, `/cse-in/a/b`), SP-relative (`/id-in/cse-in/a/b`,
    `/~/id-in/cse-in/a/b`) and absolute forms.
    """
    parts = [p for p in uri.split("/") if p]
    if cse_rn in parts:
        parts = parts[parts.index(cse_rn) + 1 :]
    return "/".join(parts)
