"""The notification HTTP client against real servers on loopback: pipelining keeps order,
servers that close after every answer, a pipeline cut in the middle, and the answer
deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from cse.http_client import Answer, HttpClientError, PlainHttpClient


@dataclass
class RawServer:
    """An HTTP/1.1 server on a real socket that records, per connection, the request ids
    (`X-Id`) in the order they arrived; `answer` decides what to send back."""

    answer: Callable[[RawServer, asyncio.StreamWriter, list[bytes]], Awaitable[bool]]
    connections: list[list[str]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ntf"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen: list[str] = []
        self.connections.append(seen)
        pending: list[bytes] = []
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = dict(
                    line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line
                )
                await reader.readexactly(int(headers[b"Content-Length"]))
                seen.append(headers[b"X-Id"].decode())
                pending.append(headers[b"X-Id"])
                if not await self.answer(self, writer, pending):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _ok(request_id: bytes, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return (
        b"HTTP/1.1 200 OK\r\nX-Id: " + request_id + b"\r\n" + extra + b"Content-Length: 0\r\n\r\n"
    )


async def answer_each(
    server: RawServer, writer: asyncio.StreamWriter, pending: list[bytes]
) -> bool:
    writer.write(_ok(pending.pop(0)))
    return True


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[RawServer]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Callable[..., Awaitable[bool]]) -> RawServer:
        server = RawServer(answer)
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        server.port = listening.sockets[0].getsockname()[1]
        servers.append(listening)
        return server

    yield start
    for listening in servers:
        listening.close()


def _requests(count: int) -> list[tuple[bytes, dict[str, str]]]:
    return [(b'{"n": %d}' % i, {"X-Id": str(i)}) for i in range(count)]


async def _post_all(server: RawServer, count: int) -> list[Answer]:
    client = PlainHttpClient(timeout=5)
    try:
        return await client.post_pipelined(server.url, _requests(count))
    finally:
        await client.close()


async def test_pipelined_requests_go_out_together_and_keep_their_order(serve) -> None:
    """The server holds its answers until it has the rest of the pipeline in hand: a client
    that waited for each answer before the next request would never get them."""

    async def hold_until_all(server, writer, pending) -> bool:
        if len(server.connections[-1]) == 1:
            writer.write(_ok(pending.pop(0)))  # the first request proves the connection
        elif len(pending) == 9:
            writer.write(b"".join(_ok(request_id) for request_id in pending))
            pending.clear()
        return True

    server = await serve(hold_until_all)
    answers = await _post_all(server, 10)
    assert [a.headers["x-id"] for a in answers] == [str(i) for i in range(10)]
    assert server.connections == [[str(i) for i in range(10)]]


async def test_a_server_that_closes_after_each_answer_gets_one_request_per_connection(
    serve,
) -> None:
    async def answer_and_close(server, writer, pending) -> bool:
        writer.write(_ok(pending.pop(0), close=True))
        return False

    server = await serve(answer_and_close)
    answers = await _post_all(server, 4)
    assert [a.status for a in answers] == [200] * 4
    assert server.connections == [["0"], ["1"], ["2"], ["3"]]


async def test_a_pipeline_cut_in_the_middle_reports_the_answers_before_the_cut(serve) -> None:
    async def cut_after_three(server, writer, pending) -> bool:
        if sum(len(c) for c in server.connections) > 3:
            return False  # closes without answering
        writer.write(_ok(pending.pop(0)))
        return True

    server = await serve(cut_after_three)
    client = PlainHttpClient(timeout=5)
    try:
        await client.post(server.url, b"{}", {"X-Id": "warm-up"})  # proves the connection
        with pytest.raises(HttpClientError) as failure:
            await client.post_pipelined(server.url, _requests(6))
    finally:
        await client.close()
    assert [a.headers["x-id"] for a in failure.value.answers] == ["0", "1"]
    assert server.connections[0][:4] == ["warm-up", "0", "1", "2"]


async def test_a_server_that_never_answers_fails_after_the_timeout(serve) -> None:
    async def never(server, writer, pending) -> bool:
        return True

    server = await serve(never)
    client = PlainHttpClient(timeout=0.3)
    try:
        with pytest.raises(HttpClientError, match="no answer within 0.3 s"):
            await client.post_pipelined(server.url, _requests(3))
        # the deadline took its cancellation back: this task goes on as usual
        await asyncio.sleep(0.01)
        answering = await serve(answer_each)
        answers = await client.post_pipelined(answering.url, _requests(2))
    finally:
        await client.close()
    assert [a.status for a in answers] == [200, 200]
