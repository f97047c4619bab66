"""The OCPP-J endpoint: `ws://<host>:<port><path>/<chargePointId>`, sub-protocols
`ocpp2.0.1` and `ocpp1.6`; `wss://` when a TLS certificate and key are configured (security
profile 2).

The handshake is checked before the upgrade (`process_request`): the path names a valid
charge point id, the client offers `ocpp2.0.1` or `ocpp1.6` (a client offering both gets
the newest, as OCPP-J says), and when the charger has a password configured, HTTP Basic
credentials (security profile 1, and 2 over TLS) match it (401 otherwise). A new connection
of a charger replaces its previous socket, which is closed."""

from __future__ import annotations

import asyncio
import http
import logging
import ssl
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import unquote

import ocpp.messages
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ocpp_adapter import speedups
from ocpp_adapter.central_system import SUBPROTOCOL, CentralSystemChargePoint
from ocpp_adapter.central_system_v201 import CentralSystemChargePointV201
from ocpp_adapter.chargers import Chargers
from ocpp_adapter.commands import DEFAULT_MAX_AGE_SECONDS, CommandService
from ocpp_adapter.connection_log import ConnectionLog
from ocpp_adapter.cse_client import CSEClient
from ocpp_adapter.interlocks import InterlockService
from ocpp_adapter.passwords import basic_credentials
from ocpp_adapter.sessions import SessionService
from ocpp_adapter.tariffs import TariffSource
from ocpp_adapter.tree import EVCS_AEI, ensure_evcs, valid_charge_point_id
from ocpp_adapter.wallet import WalletLocks

# Validation in a thread pool buys nothing under the GIL and has caused hangs (OCPP-NOTES).
ocpp.messages.ASYNC_VALIDATION = False
speedups.install()

log = logging.getLogger("citycse.ocpp")

# Newest first: websockets picks the first of these that the client offers.
CHARGE_POINT_CLASSES: dict[str, type[CentralSystemChargePoint | CentralSystemChargePointV201]] = {
    "ocpp2.0.1": CentralSystemChargePointV201,
    SUBPROTOCOL: CentralSystemChargePoint,
}
BACKLOG = 4096
# The standalone adapter long-polls the CSE for commands: wait longer than the CSE holds
# a poll (polling_channel_timeout_seconds, 30 s by default), so no answer is cut off.
STANDALONE_HTTP_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    host: str = "127.0.0.1"
    port: int = 9000
    path: str = "/ocpp"
    unknown_chargers: str = "pending"
    min_balance: Decimal = Decimal("1.00")
    admin_originator: str = "CAdmin"
    heartbeat_interval: int = 300
    ping_interval: float = 30.0
    response_timeout: float = 30.0
    tls_cert: str | None = None
    tls_key: str | None = None
    command_max_age: float = DEFAULT_MAX_AGE_SECONDS
    overload_policy: str = "block"


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """Server side of security profile 2: TLS 1.2 or newer, no client certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def config_from_settings(settings) -> AdapterConfig:  # noqa: ANN001 - cse.settings.Settings
    return AdapterConfig(
        host=settings.ocpp_host,
        port=settings.ocpp_port if settings.ocpp_port is not None else 9000,
        path=settings.ocpp_path,
        unknown_chargers=settings.ocpp_unknown_chargers,
        min_balance=Decimal(settings.ocpp_min_balance),
        admin_originator=settings.admin_originator,
        heartbeat_interval=settings.ocpp_heartbeat_seconds,
        tls_cert=settings.ocpp_tls_cert,
        tls_key=settings.ocpp_tls_key,
        command_max_age=settings.ocpp_command_max_age_seconds,
        response_timeout=settings.ocpp_response_timeout_seconds,
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
        self.connections: dict[str, CentralSystemChargePoint | CentralSystemChargePointV201] = {}
        self._server: Server | None = None
        self.chargers: Chargers | None = None
        self.sessions: SessionService | None = None
        self.commands: CommandService | None = None
        self.interlocks: InterlockService | None = None
        self.connection_log: ConnectionLog | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        logging.getLogger("ocpp").setLevel(logging.WARNING)
        tls = self._tls()  # a bad TLS setting stops the start before anything else
        tree = await ensure_evcs(self.client, self.config.admin_originator)
        self.chargers = Chargers(self.client, tree, self.config.unknown_chargers)
        self.sessions = SessionService(
            self.client,
            self.config.min_balance,
            TariffSource(self.client, EVCS_AEI),
            WalletLocks(),
        )
        self.commands = CommandService(
            self.client,
            self.chargers,
            self.connections,
            self.config.command_max_age,
            self.sessions,
        )
        self.commands.start()
        self.connection_log = ConnectionLog(self.chargers)
        await self.connection_log.close_stale(lambda cp_id: cp_id in self.connections)
        self._server = await serve(
            self._connected,
            self.config.host,
            self.config.port,
            subprotocols=list(CHARGE_POINT_CLASSES),
            process_request=self._check_handshake,
            ping_interval=self.config.ping_interval,
            ping_timeout=self.config.ping_interval,
            backlog=BACKLOG,
            ssl=tls,
        )
        self.interlocks = InterlockService(self, self.config.overload_policy)
        await self.interlocks.start()
        log.info(
            "event=ocpp_listening host=%s port=%s path=%s tls=%s unknown_chargers=%s",
            self.config.host,
            self.port,
            self.prefix,
            self.config.tls_cert is not None,
            self.config.unknown_chargers,
        )

    def _tls(self) -> ssl.SSLContext | None:
        cert, key = self.config.tls_cert, self.config.tls_key
        if cert is None and key is None:
            return None
        if cert is None or key is None:
            raise ValueError("TLS for OCPP needs both a certificate and a key file")
        return tls_context(cert, key)

    async def stop(self) -> None:
        if self.interlocks is not None:
            await self.interlocks.stop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.connection_log is not None:
            await self.connection_log.drain()
        if self.commands is not None:
            await self.commands.stop()
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
        if offered.isdisjoint(CHARGE_POINT_CLASSES):
            wanted = " or ".join(CHARGE_POINT_CLASSES)
            return _reject(http.HTTPStatus.BAD_REQUEST, f"sub-protocol {wanted} required")
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
        kind = CHARGE_POINT_CLASSES.get(connection.subprotocol or "")
        if cp_id is None or kind is None:
            await connection.close()
            return
        assert self.chargers is not None and self.sessions is not None
        cp = kind(
            cp_id,
            connection,
            self.chargers,
            self.sessions,
            self.config.heartbeat_interval,
            self.config.response_timeout,
            self.commands,
        )
        stale = self.connections.get(cp_id)
        self.connections[cp_id] = cp
        if stale is not None:
            log.info("event=replaced_connection cp=%s", cp_id)
            asyncio.get_running_loop().create_task(stale._connection.close(1001, "replaced"))
        log.info("event=connected cp=%s remote=%s subprotocol=%s", cp_id,
                 connection.remote_address, connection.subprotocol)  # fmt: skip
        assert self.connection_log is not None
        self.connection_log.connected(cp_id, cp.subprotocol, connection.remote_address)
        cp.spawn(self._catch_up(cp_id))
        if self.interlocks is not None:
            self.interlocks.charger_connected(cp_id)
        try:
            await cp.start()
        except Exception as exc:  # noqa: BLE001 - the socket ends, nothing else
            log.info("event=disconnected cp=%s why=%s", cp_id, type(exc).__name__)
        finally:
            if self.connections.get(cp_id) is cp:
                del self.connections[cp_id]
                self.connection_log.disconnected(
                    cp_id, cp.subprotocol, connection.close_code, connection.close_reason
                )
            await cp.close_tasks()

    async def _catch_up(self, cp_id: str) -> None:
        assert self.chargers is not None and self.commands is not None
        try:
            if await self.chargers.known(cp_id):
                await self.commands.catch_up(cp_id)
        except Exception:  # noqa: BLE001 - the notifications still bring new commands
            log.exception("event=command_catch_up_failed cp=%s", cp_id)


async def run_standalone(config: AdapterConfig, cse_url: str) -> None:
    """`citycse ocpp`: the adapter as its own process, speaking HTTP to a CSE."""
    from ocpp_adapter.cse_client import HttpClient

    client = HttpClient(cse_url, timeout=STANDALONE_HTTP_TIMEOUT)
    adapter = OcppAdapter(config, client)
    await adapter.start()
    try:
        await asyncio.Event().wait()
    finally:
        await adapter.stop()
        await client.close()
