"""The OCPP-J endpoint: `ws://<host>:<port><path>/<chargePointId>`, sub-protocol `ocpp1.6`.

The handshake is checked before the upgrade (`process_request`): the path names a valid
charge point id, the client offers `ocpp1.6`, and when the charger has a password
configured, HTTP Basic credentials (security profile 1) match it (401 otherwise). A new
connection of a charger replaces its previous socket, which is closed."""

from __future__ import annotations

import asyncio
import http
import logging
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import unquote

import ocpp.messages
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ocpp_adapter.central_system import CentralSystemChargePoint
from ocpp_adapter.chargers import Chargers
from ocpp_adapter.commands import CommandService
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.interlocks import InterlockService
from ocpp_adapter.passwords import basic_credentials
from ocpp_adapter.sessions import SessionService
from ocpp_adapter.tariffs import TariffSource
from ocpp_adapter.tree import EVCS_AEI, ensure_evcs, valid_charge_point_id
from ocpp_adapter.wallet import WalletLocks

# Validation in a thread pool buys nothing under the GIL and has caused hangs (OCPP-NOTES).
ocpp.messages.ASYNC_VALIDATION = False

log = logging.getLogger("citycse.ocpp")

SUBPROTOCOL = "ocpp1.6"
BACKLOG = 4096


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    host: str = "127.0.0.1"
    port: int = 9000
    path: str = "/ocpp"
    unknown_chargers: str = "accept"
    min_balance: Decimal = Decimal("1.00")
    admin_originator: str = "CAdmin"
    heartbeat_interval: int = 300
    ping_interval: float = 30.0
    response_timeout: float = 30.0
    overload_policy: str = "block"


def config_from_settings(settings) -> AdapterConfig:  # noqa: ANN001 - cse.settings.Settings
    return AdapterConfig(
        host=settings.ocpp_host,
        port=settings.ocpp_port if settings.ocpp_port is not None else 9000,
        path=settings.ocpp_path,
        unknown_chargers=settings.ocpp_unknown_chargers,
        min_balance=Decimal(settings.ocpp_min_balance),
        admin_originator=settings.admin_originator,
        heartbeat_interval=settings.ocpp_heartbeat_seconds,
        overload_policy=settings.ocpp_overload_policy,
    )


def _reject(status: http.HTTPStatus, text: str, extra: dict[str, str] | None = None) -> Response:
    headers = Headers({"Content-Type": "text/plain; charset=utf-8", **(extra or {})})
    body = (text + "\n").encode()
    headers["Content-Length"] = str(len(body))
    return Response(status.value, status.phrase, headers, body)


class OcppAdapter:
    """The central system: websocket server, charger registry and the oneM2M services."""

    def __init__(self, config: AdapterConfig, client: CSEClient) -> None:
        self.config = config
        self.client = client
        self.prefix = "/" + config.path.strip("/")
        self.connections: dict[str, CentralSystemChargePoint] = {}
        self._server: Server | None = None
        self.chargers: Chargers | None = None
        self.sessions: SessionService | None = None
        self.commands = CommandService(self)
        self.interlocks: InterlockService | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        logging.getLogger("ocpp").setLevel(logging.WARNING)
        tree = await ensure_evcs(self.client, self.config.admin_originator)
        self.chargers = Chargers(self.client, tree, self.config.unknown_chargers)
        self.sessions = SessionService(
            self.client,
            self.config.min_balance,
            TariffSource(self.client, EVCS_AEI),
            WalletLocks(),
        )
        self._server = await serve(
            self._connected,
            self.config.host,
            self.config.port,
            subprotocols=[SUBPROTOCOL],
            process_request=self._check_handshake,
            ping_interval=self.config.ping_interval,
            ping_timeout=self.config.ping_interval,
            backlog=BACKLOG,
        )
        self.interlocks = InterlockService(self, self.config.overload_policy)
        await self.interlocks.start()
        log.info(
            "event=ocpp_listening host=%s port=%s path=%s unknown_chargers=%s",
            self.config.host,
            self.port,
            self.prefix,
            self.config.unknown_chargers,
        )

    async def stop(self) -> None:
        if self.interlocks is not None:
            await self.interlocks.stop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for cp in list(self.connections.values()):
            await cp.close_tasks()

    def charge_point_id(self, path: str) -> str | None:
        path = path.split("?", 1)[0]
        if not path.startswith(self.prefix + "/"):
            return None
        cp_id = unquote(path[len(self.prefix) + 1 :].rstrip("/"))
        return cp_id if valid_charge_point_id(cp_id) else None

    async def _check_handshake(self, connection: ServerConnection, request: Request):
        cp_id = self.charge_point_id(request.path)
        if cp_id is None:
            return _reject(http.HTTPStatus.NOT_FOUND, "no charge point id in the path")
        offered = {
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
        }
        if SUBPROTOCOL not in offered:
            return _reject(http.HTTPStatus.BAD_REQUEST, f"sub-protocol {SUBPROTOCOL} required")
        assert self.chargers is not None
        credentials = basic_credentials(request.headers.get("Authorization"))
        user, password = credentials if credentials else (None, None)
        verdict = await self.chargers.check_password(cp_id, password if user == cp_id else None)
        if verdict is False:
            log.warning("event=auth_failed cp=%s", cp_id)
            return _reject(
                http.HTTPStatus.UNAUTHORIZED,
                "authentication failed",
                {"WWW-Authenticate": 'Basic realm="citycse ocpp"'},
            )
        return None

    async def _connected(self, connection: ServerConnection) -> None:
        cp_id = self.charge_point_id(connection.request.path) if connection.request else None
        if cp_id is None or connection.subprotocol != SUBPROTOCOL:
            await connection.close()
            return
        assert self.chargers is not None and self.sessions is not None
        cp = CentralSystemChargePoint(
            cp_id,
            connection,
            self.chargers,
            self.sessions,
            self.config.heartbeat_interval,
            self.config.response_timeout,
        )
        stale = self.connections.get(cp_id)
        self.connections[cp_id] = cp
        if stale is not None:
            log.info("event=replaced_connection cp=%s", cp_id)
            asyncio.get_running_loop().create_task(stale._connection.close(1001, "replaced"))
        log.info("event=connected cp=%s remote=%s", cp_id, connection.remote_address)
        if self.interlocks is not None:
            self.interlocks.charger_connected(cp_id)
        try:
            await cp.start()
        except Exception as exc:  # noqa: BLE001 - the socket ends, nothing else
            log.info("event=disconnected cp=%s why=%s", cp_id, type(exc).__name__)
        finally:
            if self.connections.get(cp_id) is cp:
                del self.connections[cp_id]
            await cp.close_tasks()


async def run_standalone(config: AdapterConfig, cse_url: str) -> None:
    """`citycse ocpp`: the adapter as its own process, speaking HTTP to a CSE."""
    from ocpp_adapter.cse_client import HttpClient

    client = HttpClient(cse_url)
    adapter = OcppAdapter(config, client)
    await adapter.start()
    try:
        await asyncio.Event().wait()
    finally:
        await adapter.stop()
        await client.close()
