"""Server-sent event streams (sse-starlette).

`/sse/notifications`: every notification addressed to the calling AE, out of the outbox;
resumable with `Last-Event-ID`, so nothing is lost across reconnects or CSE restarts.
`/sse/changes?path=...`: committed resource changes under a path, for dashboards; each
change only if the originator may retrieve the changed resource."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from bindings.http import http_status
from cse import outbox
from cse.constants import Permission, ResourceType
from cse.errors import BadRequest, M2MError, NotFound
from cse.events import normalize_target
from cse.storage import repository
from cse.timestamps import now
from resources.registry import spec_for

HEARTBEAT_SECONDS = 15
PAGE = 200
RECHECK_SECONDS = 1.0


def _error(error: M2MError) -> JSONResponse:
    return JSONResponse(
        {"m2m:dbg": error.message},
        status_code=http_status(error.rsc),
        headers={"X-M2M-RSC": str(int(error.rsc))},
    )


def _originator(header: str | None, query: str | None) -> str:
    originator = (header or query or "").strip()
    if not originator:
        raise BadRequest("identify with the X-M2M-Origin header or the origin query parameter")
    return originator


def build_router(runtime: Any) -> APIRouter:
    router = APIRouter(prefix="/sse", tags=["event streams"])
    settings = runtime.settings

    @router.get(
        "/notifications",
        summary="Notifications addressed to the calling AE, as server-sent events",
        description=(
            "Every notification whose target is the calling AE's AE-ID (an `nu` entry naming "
            "the AE, delivered here when the AE has no reachable `poa` or `rr` is false). "
            "Event ids are outbox ids: reconnect with `Last-Event-ID` (or `lastEventId`) to "
            "resume. Browsers' EventSource cannot set headers, so `origin` may replace "
            "`X-M2M-Origin`. Heartbeats are comments every 15 s."
        ),
    )
    async def notifications(
        request: Request,
        origin: str | None = Query(None, description="AE-ID, if X-M2M-Origin is not sent"),
        last_event_id_query: int | None = Query(None, alias="lastEventId", ge=0),
        x_m2m_origin: str | None = Header(None),
        last_event_id: str | None = Header(None),
    ) -> Any:
        try:
            aei = normalize_target(_originator(x_m2m_origin, origin), settings)
            ae = await runtime.storage.read(repository.get_by_ri, aei)
            if ae is None or ae.ty != ResourceType.AE:
                raise NotFound(f"no AE with AE-ID {aei} is registered")
            resume = last_event_id_query
            if last_event_id is not None:
                try:
                    resume = int(last_event_id)
                except ValueError:
                    raise BadRequest("Last-Event-ID must be an outbox event id") from None
        except M2MError as error:
            return _error(error)
        return EventSourceResponse(
            _notification_events(runtime, aei, resume, request), ping=HEARTBEAT_SECONDS
        )

    @router.get(
        "/changes",
        summary="Resource changes under a path, as server-sent events",
        description=(
            "Each create, update and delete committed under `path` (a structured path such as "
            "`cse-in/evcs`) that the originator may retrieve, as an event `create`, `update` "
            'or `delete` whose data is `{"srn": ..., "ty": ..., "m2m:<type>": {...}}`.'
        ),
    )
    async def changes(
        request: Request,
        path: str = Query(..., description="structured path of the subtree to watch"),
        origin: str | None = Query(None, description="originator, if X-M2M-Origin is not sent"),
        x_m2m_origin: str | None = Header(None),
    ) -> Any:
        try:
            originator = runtime.dispatcher.originator_from(_originator(x_m2m_origin, origin))
            base = await runtime.storage.read(repository.get_by_srn, path.strip("/"))
            if base is None:
                raise NotFound(f"resource {path} does not exist")
            await runtime.access.require(
                originator, base, Permission.RETRIEVE, spec_for(base.ty).self_governed
            )
        except M2MError as error:
            return _error(error)
        return EventSourceResponse(
            _change_events(runtime, originator, base.srn, request), ping=HEARTBEAT_SECONDS
        )

    return router


async def _notification_events(
    runtime: Any, aei: str, resume: int | None, request: Request
) -> AsyncIterator[ServerSentEvent]:
    last = resume or 0
    # A fresh stream gets what is waiting; a resumed one also what it may have missed.
    states = [outbox.AWAITING_PICKUP]
    if resume is not None:
        states.append(outbox.DELIVERED)
    while not await request.is_disconnected():
        items = await runtime.storage.read(outbox.for_target, [aei], last, PAGE, states)
        for item in items:
            yield ServerSentEvent(
                data=orjson.dumps(item.body).decode(), id=str(item.id), event="notification"
            )
            await runtime.storage.write(outbox.mark_picked_up, item, now())
            last = item.id
        if len(items) < PAGE:
            await runtime.notifications.wait_for_pickup(RECHECK_SECONDS)


async def _change_events(
    runtime: Any, originator: str, srn: str, request: Request
) -> AsyncIterator[ServerSentEvent]:
    queue = runtime.changes.listen()
    prefix = srn + "/"
    try:
        while not await request.is_disconnected():
            try:
                change = await asyncio.wait_for(queue.get(), RECHECK_SECONDS)
            except TimeoutError:
                continue
            resource = change.resource
            if resource.srn != srn and not resource.srn.startswith(prefix):
                continue
            if not await _may_retrieve(runtime, originator, resource):
                continue
            data = {
                "srn": resource.srn,
                "ty": resource.ty,
                spec_for(resource.ty).root: change.representation,
            }
            yield ServerSentEvent(data=orjson.dumps(data).decode(), event=change.kind)
    finally:
        runtime.changes.forget(queue)


async def _may_retrieve(runtime: Any, originator: str, resource: Any) -> bool:
    spec = spec_for(resource.ty)
    governing = resource
    if spec.access_from_parent and resource.pi is not None:
        governing = await runtime.storage.read(repository.get_by_ri, resource.pi)
        if governing is None:
            return runtime.access.is_admin(originator)
    return await runtime.access.allowed(
        originator, governing, Permission.RETRIEVE, spec.self_governed
    )
