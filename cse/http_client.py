"""A small HTTP/1.1 client for notifications over plain `http://`, with keep-alive.

Notification delivery is the CSE's hottest outgoing path; a general client spent more CPU
per notification than the CSE spends on the request that caused it. This one only POSTs a
body and reads the status and headers (and discards the body) of the answer."""

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_IDLE_PER_HOST = 32
MAX_HEADER_BYTES = 65536


class HttpClientError(OSError):
    """The exchange failed: no connection, a timeout, or an unreadable answer."""


@dataclass(slots=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


class PlainHttpClient:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a plain http URL: {url}")
        address = (parts.hostname, parts.port or 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}"]
        head.extend(f"{name}: {value}" for name, value in headers.items())
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        try:
            return await asyncio.wait_for(self._exchange(address, request), self.timeout)
        except TimeoutError:
            raise HttpClientError(f"no answer from {url} within {self.timeout} s") from None

    async def _exchange(self, address: tuple[str, int], request: bytes) -> Answer:
        connection, reused = await self._acquire(address)
        try:
            return await self._send_on(address, connection, request)
        except HttpClientError:
            if not reused:
                raise
        # the server may have closed the idle connection meanwhile: one fresh try
        return await self._send_on(address, await self._open(address), request)

    async def _send_on(
        self, address: tuple[str, int], connection: _Connection, request: bytes
    ) -> Answer:
        try:
            connection.writer.write(request)
            answer, keep = await _read_answer(connection.reader)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            connection.close()
            raise HttpClientError(str(exc) or type(exc).__name__) from exc
        except BaseException:
            connection.close()
            raise
        self._release(address, connection, keep)
        return answer

    async def _acquire(self, address: tuple[str, int]) -> tuple[_Connection, bool]:
        idle = self._idle.get(address)
        while idle:
            connection = idle.pop()
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                return connection, True
            connection.close()
        return await self._open(address), False

    async def _open(self, address: tuple[str, int]) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(*address)
        except OSError as exc:
            raise HttpClientError(f"cannot connect to {address[0]}:{address[1]}: {exc}") from exc
        return _Connection(reader, writer)

    def _release(self, address: tuple[str, int], connection: _Connection, keep: bool) -> None:
        idle = self._idle.setdefault(address, [])
        if keep and len(idle) < MAX_IDLE_PER_HOST:
            idle.append(connection)
        else:
            connection.close()

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
    """Status and headers of one answer; its body is read and dropped. Returns whether the
    connection can carry another request."""
    raw = await reader.readuntil(b"\r\n\r\n")
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError("answer headers too large")
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    status = int(rest.split(" ", 1)[0])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif status not in (204, 304) and not 100 <= status < 200:
        await reader.read()  # delimited by the server closing the connection
        keep = False
    return Answer(status, headers), keep
