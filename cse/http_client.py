"""A small HTTP/1.1 client for notifications over plain `http://`, with keep-alive and
pipelining.

Notification delivery is the CSE's hottest outgoing path; a general client spent more CPU
per notification than the CSE spends on the request that caused it. This one only POSTs
bodies and reads the status and headers (and discards the body) of the answers. Several
requests to one URL go out in one write on one connection and are answered in order
(HTTP/1.1 pipelining), but only on a connection that has already kept alive after an
answer: a server that closes after every answer gets one request per connection.

Each connection is an asyncio protocol that parses answers as their bytes arrive and wakes
the waiting sender once, when the last answer of its pipeline is in. The parser only reads
the status and the headers that frame the answer or carry its oneM2M result (X-M2M-RSC);
the other headers are parsed only when someone asks for them."""

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_IDLE_PER_HOST = 32
MAX_KNOWN_URLS = 4096
MAX_HEADER_BYTES = 65536

_READ_FIELDS = re.compile(
    rb"\r\n(content-length|transfer-encoding|connection|x-m2m-rsc):[ \t]*([^\r]*)"
)
"""The header fields the parser reads, in a lower-cased head: no whitespace comes between a
field name and its colon (RFC 9112 5.1)."""

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
    """An answer's status and head. Answers of one connection with byte-identical heads are
    one object: do not change it."""

    status: int
    rsc: str = ""
    """The X-M2M-RSC header: the oneM2M response status code, empty when there is none."""
    head: bytes = b""
    """The status line and header lines as they arrived."""

    @property
    def headers(self) -> dict[str, str]:
        """All headers, names in lower case."""
        headers: dict[str, str] = {}
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        return headers


def header_lines(headers: dict[str, str]) -> bytes:
    """Request headers as they go on the wire, each line ending in CRLF."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


class PlainHttpClient:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._idle: dict[Address, list[_Connection]] = {}
        self._request_lines: dict[str, tuple[Address, bytes]] = {}

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        return (await self.post_pipelined(url, [(body, header_lines(headers))]))[0]

    async def post_pipelined(
        self, url: str, requests: Sequence[tuple[bytes, bytes]]
    ) -> list[Answer]:
        """POST each (body, header lines) to `url`, in order; returns the answers in order.
        On a failure raises HttpClientError carrying the answers that came before it."""
        address, request_line = self._request_line(url)
        wire = [
            b"%sContent-Length: %d\r\n%s\r\n%s" % (request_line, len(body), head, body)
            for body, head in requests
        ]
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

    @staticmethod
    async def _exchange(
        connection: "_Connection", wire: list[bytes], answers: list[Answer]
    ) -> bool:
        """Send requests and collect their answers into `answers` until all are answered or
        the server closes; returns whether the connection can carry more requests."""
        try:
            if not connection.proven:
                if not await connection.exchange(wire[0], 1, answers):
                    return False
                connection.proven = True
                wire = wire[1:]
            if wire:
                return await connection.exchange(b"".join(wire), len(wire), answers)
            return True
        except BaseException:
            connection.close()
            raise

    async def _acquire(self, address: Address) -> "_Connection":
        idle = self._idle.get(address)
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return await self._open(address)

    async def _open(self, address: Address) -> "_Connection":
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self.timeout), *address
                )
        except (OSError, TimeoutError) as exc:
            raise HttpClientError(f"cannot connect to {address[0]}:{address[1]}: {exc}") from exc
        return connection

    def _release(self, address: Address, connection: "_Connection", keep: bool) -> None:
        idle = self._idle.setdefault(address, [])
        if keep and connection.usable() and len(idle) < MAX_IDLE_PER_HOST:
            idle.append(connection)
        else:
            connection.close()

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()


@dataclass(slots=True)
class _Head:
    """The status line and headers of an answer whose body may not all have arrived yet."""

    answer: Answer
    keep: bool
    size: int
    """The bytes of the status line and headers, the blank line included."""
    length: int | None
    """The body's length; None for a chunked body or one that ends when the server closes."""
    chunked: bool


class _Connection(asyncio.Protocol):
    """One connection to a server: writes a pipeline and parses its answers as they come.
    A pipeline fails when no answer came for `timeout` seconds."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.proven = False
        """It has kept alive after an answer: requests may be pipelined on it."""
        self._transport: asyncio.Transport | None = None
        self._closed = False
        self._buffer = bytearray()
        self._start = 0
        """Where the answer being parsed starts in the buffer; the bytes before it are done."""
        self._head: _Head | None = None
        self._last_raw = b""
        self._last_head: _Head | None = None
        self._answers: list[Answer] = []
        self._expected = 0
        self._waiter: asyncio.Future[bool] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_progress = 0.0

    # -- the sender's side -----------------------------------------------------------------

    async def exchange(self, wire: bytes, count: int, answers: list[Answer]) -> bool:
        """Write `count` requests and wait until their answers are appended to `answers`;
        returns whether the connection can carry more (False: the server closes it)."""
        if self._transport is None or self._closed:
            raise HttpClientError("connection closed")
        loop = asyncio.get_running_loop()
        self._answers, self._expected = answers, len(answers) + count
        self._waiter = waiter = loop.create_future()
        self._last_progress = loop.time()
        self._timer = loop.call_at(self._last_progress + self.timeout, self._check_deadline)
        try:
            self._transport.write(wire)
            return await waiter
        finally:
            self._timer.cancel()
            self._waiter = None
            self._answers = []

    def usable(self) -> bool:
        """Idle and open: no bytes came that no request asked for, the server has not closed."""
        return not self._closed and not self._buffer and self._transport is not None

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    # -- the protocol's side -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None:
            return  # unasked bytes: the connection is not reused (usable() is False)
        try:
            self._parse_answers()
        except ValueError as exc:
            self._fail(f"unreadable answer: {exc}")
            self.close()
        finally:
            del self._buffer[: self._start]
            self._start = 0

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        head = self._head
        if head is not None and head.length is None and not head.chunked:
            # the body of this answer is delimited by the server closing the connection
            self._head = None
            self._buffer.clear()
            self._start = 0
            self._answered(head.answer, keep=False)
        self._fail(f"connection closed: {exc}" if exc else "connection closed by the server")

    # -- parsing -----------------------------------------------------------------------------

    def _parse_answers(self) -> None:
        while self._waiter is not None and not self._waiter.done():
            if self._head is None:
                self._head = self._read_head()
                if self._head is None:
                    return
            end = self._body_end(self._head)
            if end is None:
                return
            head, self._head = self._head, None
            self._start = end
            if 100 <= head.answer.status < 200:
                continue  # an interim answer; the final one follows
            self._last_progress = self._waiter.get_loop().time()
            self._answered(head.answer, head.keep)

    def _read_head(self) -> _Head | None:
        start = self._start
        end = self._buffer.find(b"\r\n\r\n", start)
        if end < 0:
            if len(self._buffer) - start > MAX_HEADER_BYTES:
                raise ValueError("answer headers too large")
            return None
        raw = bytes(self._buffer[start : end + 2])  # every line with its CRLF
        if raw != self._last_raw:  # a server mostly answers with the same head: parse it once
            self._last_raw, self._last_head = raw, _parse_head(raw)
        return self._last_head

    def _body_end(self, head: _Head) -> int | None:
        """Where the answer ends in the buffer, or None while its body is incomplete."""
        body_start = self._start + head.size
        if head.chunked:
            return _chunked_end(self._buffer, body_start)
        if head.length is None:
            return None  # complete when the server closes
        end = body_start + head.length
        return end if len(self._buffer) >= end else None

    def _answered(self, answer: Answer, keep: bool) -> None:
        self._answers.append(answer)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if not keep:
            waiter.set_result(False)
            self.close()
        elif len(self._answers) >= self._expected:
            waiter.set_result(True)

    def _fail(self, message: str) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(HttpClientError(message))

    def _check_deadline(self) -> None:
        if self._waiter is None or self._waiter.done():
            return
        loop = self._waiter.get_loop()
        due = self._last_progress + self.timeout
        if loop.time() < due:
            self._timer = loop.call_at(due, self._check_deadline)
            return
        self._fail(f"no answer within {self.timeout} s")
        self.close()


def _parse_head(raw: bytes) -> _Head:
    """The status line and header lines of an answer, each line ending in CRLF."""
    head = raw.lower()  # field names are case-insensitive (RFC 9110 5.1)
    code = head[9:12]
    if not head.startswith(b"http/1.") or not code.isdigit() or head[12] not in b" \r":
        raise ValueError(f"not an HTTP/1.x status line: {raw[:40]!r}")
    status = int(code)
    fields = dict(_READ_FIELDS.findall(head))
    chunked = fields.get(b"transfer-encoding", b"").rstrip().endswith(b"chunked")
    length = None if chunked else _body_length(status, fields.get(b"content-length"))
    keep = (
        head.startswith(b"http/1.1 ")
        and b"close" not in fields.get(b"connection", b"")
        and (chunked or length is not None)  # else the body ends when the server closes
    )
    rsc = fields.get(b"x-m2m-rsc", b"").rstrip().decode("latin-1")
    return _Head(Answer(status, rsc, raw), keep, len(raw) + 2, length, chunked)


def _body_length(status: int, content_length: bytes | None) -> int | None:
    """The body's length when it is known before the body arrives."""
    if content_length is not None:
        if not content_length.rstrip().isdigit():
            raise ValueError(f"bad Content-Length {content_length!r}")
        return int(content_length)
    if status in (204, 304) or 100 <= status < 200:
        return 0
    return None


def _chunked_end(buffer: bytearray, start: int) -> int | None:
    """End of a chunked body that begins at `start` (trailers included), or None while it
    is incomplete."""
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";", 1)[0], 16)
        if size == 0:
            end = buffer.find(b"\r\n\r\n", line_end)
            return None if end < 0 else end + 4
        position = line_end + 2 + size + 2
        if len(buffer) < position:
            return None
