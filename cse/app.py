"""The application: the CSE runtime (storage, access control, dispatcher, background tasks)
and the ASGI app that serves it (the oneM2M HTTP binding plus the documentation pages)."""

import asyncio
import gc
import logging
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from bindings import dashboard, metrics, sse
from bindings.http import HttpBinding
from bindings.mqtt import MqttBinding
from bindings.openapi import build_openapi
from cse import migrate, policy_version
from cse.access import AccessControl
from cse.bootstrap import ensure_cse_base
from cse.changes import ChangeFeed
from cse.delivery import NotificationService
from cse.dispatcher import Dispatcher
from cse.expiry import ExpirySweeper
from cse.settings import Settings
from cse.storage import Storage, repository
from ocpp_adapter.cse_client import InProcessClient
from ocpp_adapter.server import OcppAdapter, config_from_settings

log = logging.getLogger("citycse")

MQTT_CONNECT_WAIT_SECONDS = 5.0
OLDER_GENERATION_THRESHOLDS = (20, 100)
SERVICE_PATHS = ("/docs", "/openapi.json", "/redoc", "/sse/", "/metrics", "/dashboard")


class CSERuntime:
    """Everything a running CSE holds, started and stopped together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = Storage(
            settings.db, pool_size=settings.db_pool_size, sole_writer=settings.workers == 1
        )
        self.access = AccessControl(
            settings.admin_originator,
            self._load_policies,
            self._load_policy_version,
            settings.acp_cache_seconds,
        )
        self.notifications = NotificationService(settings, self.storage)
        self.changes = ChangeFeed()
        self.dispatcher = Dispatcher(
            settings, self.storage, self.access, self.notifications, self.changes
        )
        self.mqtt = (
            MqttBinding(settings, self.dispatcher, self.notifications) if settings.mqtt else None
        )
        self.sweeper = ExpirySweeper(
            self.storage, settings, self.access.forget, self.notifications.committed
        )
        self.ocpp: OcppAdapter | None = None  # when settings.ocpp_port is set

    async def _load_policies(self, ris: list[str]):  # noqa: ANN202
        return await self.storage.read(repository.get_many, ris)

    async def _load_policy_version(self) -> int:
        return await self.storage.read(policy_version.current)

    async def start(self) -> None:
        await asyncio.to_thread(migrate.upgrade, self.settings.db)
        await self.storage.write(ensure_cse_base, self.settings)
        await self.notifications.start()
        if self.mqtt is not None:
            await self.mqtt.start()
            try:
                await asyncio.wait_for(self.mqtt.connected.wait(), MQTT_CONNECT_WAIT_SECONDS)
            except TimeoutError:
                log.warning("event=mqtt_not_connected_yet broker=%s", self.settings.mqtt)
        self.sweeper.start()
        if self.settings.ocpp_port is not None:
            await self._start_ocpp()
        log.info(
            "event=started cse_id=%s cse_rn=%s db=%s",
            self.settings.cse_id,
            self.settings.cse_rn,
            self.storage.url.split("://", 1)[0],
        )

    async def _start_ocpp(self) -> None:
        client = InProcessClient(self.dispatcher)
        self.ocpp = OcppAdapter(config_from_settings(self.settings), client)
        await self.ocpp.start()

    async def stop(self) -> None:
        if self.ocpp is not None:
            await self.ocpp.stop()
        await self.sweeper.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()
        await self.notifications.stop()
        await self.storage.close()


def _service_app(runtime: CSERuntime) -> FastAPI:
    """Everything beside the resource tree: API documentation, event streams, metrics."""
    service = FastAPI(title="citycse oneM2M API", version="0.1.0")
    service.include_router(sse.build_router(runtime))
    service.include_router(metrics.build_router(runtime))
    dashboard.mount(service, runtime.settings)
    document: dict = {}

    def openapi() -> dict:
        if not document:
            document.update(build_openapi(runtime.settings))
            own = get_openapi(title=service.title, version=service.version, routes=service.routes)
            document.setdefault("paths", {}).update(own.get("paths", {}))
            for kind, entries in own.get("components", {}).items():
                document.setdefault("components", {}).setdefault(kind, {}).update(entries)
        return document

    service.openapi = openapi  # type: ignore[method-assign]
    return service


def settle_garbage_collector(gen0_threshold: int) -> None:
    """Fewer, cheaper collections for a long-running server: what startup created (modules,
    tables, the runtime) is frozen out of every later collection, and the youngest
    generation is collected after `gen0_threshold` allocations instead of 700, the older
    ones after 20 and 100 collections of the one below instead of 10 and 10. With
    thousands of charger connections, each full collection otherwise walks all of it,
    and pauses every connection for tens of milliseconds."""
    if gen0_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, *OLDER_GENERATION_THRESHOLDS)


class CSEApplication:
    """Top-level ASGI app: lifespan of the runtime; documentation paths to FastAPI;
    every other HTTP request to the oneM2M binding."""

    def __init__(self, settings: Settings) -> None:
        self.runtime = CSERuntime(settings)
        self.http = HttpBinding(self.runtime.dispatcher)
        self.service = _service_app(self.runtime)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            if scope["path"].startswith(SERVICE_PATHS):
                await self.service(scope, receive, send)
            else:
                await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                except Exception as exc:
                    log.exception("event=startup_failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                settle_garbage_collector(self.runtime.settings.gc_gen0_threshold)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: Settings | None = None) -> CSEApplication:
    settings = settings or Settings()
    # Worker processes are spawned fresh: configure logging here too (no-op if already set).
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    return CSEApplication(settings)
