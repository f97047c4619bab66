"""A small HTTP/1.1 client for notifications over plain `http://`, with keep-alive and
pipelining.

Notification delivery is the CSE's hottest outgoing path; a general client spent more CPU
per notification than the CSE spends on the request that caused it. This one only POSTs
bodies and reads the status and headers (and discards the body) of the answers. Several
requests to one URL go out in one write on one connection and are answered in order
(HTTP/1.1 pipelining), but only on a connection that has already kept alive after an
answer: a server that closes after every answer gets one request per connection."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_IDLE_PER_HOST = 32
MAX_KNOWN_URLS = 4096
MAX_HEADER_BYTES = 65536

Address = tuple[str, int]


class HttpClientError(OSError):
    """The exchange failed: no connection, a timeout, or an unreadable answer. `answers`
    holds the answers of the requests of a pipeline that came before the failure."""

    answers: "list[Answer]"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.answers = []


@dataclass(slots=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    proven: bool = False
    """It has kept alive after an answer: requests may be pipelined on it."""

    def close(self) -> None:
        self.writer.close()


class PlainHttpClient:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._idle: dict[Address, list[_Connection]] = {}
        self._request_lines: dict[str, tuple[Address, bytes]] = {}

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        return (await self.post_pipelined(url, [(body, headers)]))[0]

    async def post_pipelined(
        self, url: str, requests: Sequence[tuple[bytes, dict[str, str]]]
    ) -> list[Answer]:
        """POST each (body, headers) to `url`, in order; returns the answers in order. On a
        failure raises HttpClientError carrying the answers that came before it."""
        address, request_line = self._request_line(url)
        wire = [request_line + _encode(body, headers) for body, headers in requests]
        answers: list[Answer] = []
        fresh = False
        while len(answers) < len(wire):
            connection = await self._open(address) if fresh else await self._acquire(address)
            reused, sent = connection.proven, len(answers)
            try:
                keep = await self._exchange(connection, wire[sent:], answers)
            except HttpClientError as exc:
                if reused and len(answers) == sent and not fresh:
                    fresh = True  # the server may have closed the idle connection meanwhile
                    continue
                exc.answers = answers
                raise
            self._release(address, connection, keep)
        return answers

    def _request_line(self, url: str) -> tuple[Address, bytes]:
        known = self._request_lines.get(url)
        if known is None:
            parts = urlsplit(url)
            if parts.scheme != "http" or not parts.hostname:
                raise ValueError(f"not a plain http URL: {url}")
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            line = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n".encode("latin-1")
            if len(self._request_lines) >= MAX_KNOWN_URLS:
                self._request_lines.clear()
            known = self._request_lines[url] = ((parts.hostname, parts.port or 80), line)
        return known

    async def _exchange(
        self, connection: _Connection, wire: list[bytes], answers: list[Answer]
    ) -> bool:
        """Send requests and read their answers into `answers` until all are answered or the
        server closes; returns whether the connection can carry more requests."""
        deadline = _Deadline(self.timeout)
        try:
            if not connection.proven:
                connection.writer.write(wire[0])
                if not await self._answer(connection, answers, deadline):
                    return False
                connection.proven = True
                wire = wire[1:]
            if wire:
                connection.writer.write(b"".join(wire))
                for _ in wire:
                    if not await self._answer(connection, answers, deadline):
                        return False
            return True
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            connection.close()
            raise HttpClientError(str(exc) or type(exc).__name__) from exc
        except asyncio.CancelledError:
            connection.close()
            if deadline.expired():
                raise HttpClientError(f"no answer within {self.timeout} s") from None
            raise
        except BaseException:
            connection.close()
            raise
        finally:
            deadline.cancel()

    @staticmethod
    async def _answer(
        connection: _Connection, answers: list[Answer], deadline: "_Deadline"
    ) -> bool:
        answer, keep = await _read_answer(connection.reader)
        answers.append(answer)
        deadline.progressed()
        return keep

    async def _acquire(self, address: Address) -> _Connection:
        idle = self._idle.get(address)
        while idle:
            connection = idle.pop()
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                return connection
            connection.close()
        return await self._open(address)

    async def _open(self, address: Address) -> _Connection:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(*address)
        except (OSError, TimeoutError) as exc:
            raise HttpClientError(f"cannot connect to {address[0]}:{address[1]}: {exc}") from exc
        return _Connection(reader, writer)

    def _release(self, address: Address, connection: _Connection, keep: bool) -> None:
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


class _Deadline:
    """Cancels the current task when no answer came for `timeout` seconds: one timer for a
    whole exchange, pushed on as answers come, rather than one per answer."""

    __slots__ = ("timeout", "_loop", "_task", "_last", "_handle", "_expired")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._last = self._loop.time()
        self._expired = False
        self._handle = self._loop.call_at(self._last + timeout, self._check)

    def progressed(self) -> None:
        self._last = self._loop.time()

    def _check(self) -> None:
        due = self._last + self.timeout
        if self._loop.time() < due:
            self._handle = self._loop.call_at(due, self._check)
            return
        self._expired = True
        if self._task is not None:
            self._task.cancel()

    def expired(self) -> bool:
        """Whether this deadline alone cancelled the task (its cancellation is then taken
        back); a cancellation from elsewhere stands."""
        if not self._expired or self._task is None:
            return False
        return self._task.uncancel() == 0

    def cancel(self) -> None:
        self._handle.cancel()


def _encode(body: bytes, headers: dict[str, str]) -> bytes:
    """One request after its request line and Host header."""
    head = [f"Content-Length: {len(body)}"]
    head.extend(f"{name}: {value}" for name, value in headers.items())
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


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
