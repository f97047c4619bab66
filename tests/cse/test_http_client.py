"""The notification HTTP client against real servers on loopback: pipelining keeps order,
servers that close after every answer, a pipeline cut in the middle, and the answer
deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from cse.http_client import Answer, HttpClientError, PlainHttpClient, header_lines


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


def _requests(count: int) -> list[tuple[bytes, bytes]]:
    return [(b'{"n": %d}' % i, header_lines({"X-Id": str(i)})) for i in range(count)]


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


def _answer_with(raw: bytes, close: bool = False):
    """An answer function that writes `raw` for every request, byte by byte in two halves
    (the client must put an answer together from several reads)."""

    async def answer(server, writer, pending) -> bool:
        pending.pop(0)
        half = len(raw) // 2
        writer.write(raw[:half])
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(raw[half:])
        return not close

    return answer


async def test_a_chunked_answer_with_trailers_is_read_to_its_end(serve) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nX-M2M-RSC: 2000\r\nTransfer-Encoding: chunked\r\n"
        b"X-Trailer-Free: yes\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    server = await serve(_answer_with(chunked))
    answers = await _post_all(server, 3)
    assert [(a.status, a.rsc, a.headers["x-trailer-free"]) for a in answers] == [
        (200, "2000", "yes")
    ] * 3
    assert len(server.connections) == 1  # the connection stayed in step and was kept


async def test_header_names_are_read_in_any_case_and_values_without_their_blanks(
    serve,
) -> None:
    raw = b"HTTP/1.1 201 Created\r\ncontent-LENGTH:\t2 \r\nx-M2M-Rsc:  2001  \r\n\r\nok"
    server = await serve(_answer_with(raw))
    answers = await _post_all(server, 3)
    assert [(a.status, a.rsc) for a in answers] == [(201, "2001")] * 3
    assert len(server.connections) == 1  # the body was found by its length, then kept


async def test_an_answer_delimited_by_the_server_closing_is_complete_when_it_closes(
    serve,
) -> None:
    server = await serve(_answer_with(b"HTTP/1.1 201 Created\r\n\r\nsome body", close=True))
    answers = await _post_all(server, 2)
    assert [a.status for a in answers] == [201, 201]
    assert server.connections == [["0"], ["1"]]


async def test_an_interim_answer_is_skipped_for_the_final_one(serve) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    server = await serve(_answer_with(interim + b"HTTP/1.1 204 No Content\r\n\r\n"))
    answers = await _post_all(server, 2)
    assert [a.status for a in answers] == [204, 204]


async def test_http_1_0_answers_are_not_kept_alive(serve) -> None:
    server = await serve(_answer_with(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    answers = await _post_all(server, 3)
    assert [a.status for a in answers] == [200] * 3
    assert server.connections == [["0"], ["1"], ["2"]]


async def test_a_connection_with_bytes_nobody_asked_for_is_not_reused(serve) -> None:
    async def answer_twice(server, writer, pending) -> bool:
        request_id = pending.pop(0)
        writer.write(_ok(request_id) + _ok(b"unasked"))
        return True

    server = await serve(answer_twice)
    client = PlainHttpClient(timeout=5)
    try:
        for request_id in ("a", "b"):
            await client.post(server.url, b"{}", {"X-Id": request_id})
            await asyncio.sleep(0.05)
    finally:
        await client.close()
    assert server.connections == [["a"], ["b"]]


async def test_an_idle_connection_the_server_closed_is_replaced(serve) -> None:
    async def answer_then_close(server, writer, pending) -> bool:
        writer.write(_ok(pending.pop(0)))  # keep-alive promised, then closed anyway
        return False

    server = await serve(answer_then_close)
    client = PlainHttpClient(timeout=5)
    try:
        first = await client.post(server.url, b"{}", {"X-Id": "1"})
        second = await client.post(server.url, b"{}", {"X-Id": "2"})  # may race the close
    finally:
        await client.close()
    assert (first.status, second.status) == (200, 200)
    assert server.connections == [["1"], ["2"]]


async def test_an_unreadable_answer_fails_the_exchange(serve) -> None:
    server = await serve(_answer_with(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"))
    client = PlainHttpClient(timeout=5)
    try:
        with pytest.raises(HttpClientError, match="unreadable answer"):
            await client.post_pipelined(server.url, _requests(1))
    finally:
        await client.close()
