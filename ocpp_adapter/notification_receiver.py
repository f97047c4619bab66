"""A small HTTP endpoint that takes oneM2M notifications (TS-0009) for an AE in the adapter.

The interlock service subscribes like any AE, with this endpoint's URL as its notification
target, so it works whether the CSE runs in the same process (loopback) or elsewhere. HTTP
framing is h11's; every POST is answered 2000 once the handler has taken the body, and the
handler must not block (it spawns what takes time). The URL's path is a random token only
the CSE learns (through the subscriptions): a POST to any other path is refused, so a local
process cannot forge a fire alarm by posting to the port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

import h11
import orjson

log = logging.getLogger("citycse.ocpp.notifications")

MAX_BODY = 4 * 1024 * 1024
Handler = Callable[[dict[str, Any]], None]


class NotificationReceiver:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._path = "/" + secrets.token_urlsafe(24)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}{self._path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        connection = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._request(connection, reader)
                if request is None:
                    return
                target, body = request
                rsc = self._take(body) if target == self._path else 4103
                writer.write(self._answer(connection, rsc))
                await writer.drain()
                if connection.our_state is h11.MUST_CLOSE:
                    return
                connection.start_next_cycle()
        except (h11.RemoteProtocolError, ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _request(
        self, connection: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[str, bytes] | None:
        """The next request's path and body; None when the connection ends."""
        chunks: list[bytes] = []
        size = 0
        target = ""
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                connection.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                target = event.target.decode("latin-1").split("?", 1)[0]
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_BODY:
                    return None
                chunks.append(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return target, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                return None

    def _take(self, raw: bytes) -> int:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return 4000
        if not isinstance(body, dict):
            return 4000
        try:
            self.handler(body)
        except Exception:  # noqa: BLE001 - a bad notification must not kill the endpoint
            log.exception("event=notification_handler_failed")
            return 5000
        return 2000

    @staticmethod
    def _answer(connection: h11.Connection, rsc: int) -> bytes:
        status = {2000: 200, 4000: 400, 4103: 403}.get(rsc, 500)
        headers = [("X-M2M-RSC", str(rsc)), ("Content-Length", "0")]
        return connection.send(h11.Response(status_code=status, headers=headers)) + (
            connection.send(h11.EndOfMessage()) or b""
        )
