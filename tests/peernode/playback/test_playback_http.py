"""The h11 connection loop: keep-alive, HEAD, limits and timeouts (memory streams, virtual time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from peernode.playback.http import (
    AbortResponse,
    HttpLimits,
    HttpRequest,
    ResponseWriter,
    serve_http_connection,
)
from peernode.testing.playback_client import HttpConnection

LIMITS = HttpLimits(max_request_bytes=4096, request_timeout_s=5.0, idle_timeout_s=30.0)
BODY = b"0123456789" * 100


async def echo_path(request: HttpRequest, writer: ResponseWriter) -> None:
    """A tiny real handler: the path and method back, or a scripted failure."""
    if request.path == "/abort":
        await writer.start(200, [("Content-Length", str(len(BODY)))])
        await writer.write(BODY[:100])
        raise AbortResponse
    if request.path == "/crash":
        raise RuntimeError("handler bug")
    if request.path == "/big":
        await writer.start(200, [("Content-Length", str(len(BODY)))])
        await writer.write(BODY)
        await writer.finish()
        return
    range_header = request.headers.get("range")
    await writer.simple(200, f"{request.method} {request.target} range={range_header}")


@asynccontextmanager
async def connected() -> AsyncIterator[trio.StapledStream[Any, Any]]:
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_http_connection, server, echo_path, LIMITS)
        yield client
        nursery.cancel_scope.cancel()


async def read_until_closed(stream: trio.abc.Stream) -> bytes:
    data = b""
    while chunk := await stream.receive_some(65536):
        data += chunk
    return data


async def test_keep_alive_serves_requests_one_after_another() -> None:
    async with connected() as stream:
        http = HttpConnection(stream, "test")
        first = await http.request("/a?x=1", headers=[("Range", "bytes=0-1")])
        second = await http.request("/b")
        assert first.body == b"GET /a?x=1 range=bytes=0-1\n"
        assert second.body == b"GET /b range=None\n"
        assert first.complete
        assert second.complete


async def test_head_gets_the_headers_without_the_body() -> None:
    async with connected() as stream:
        http = HttpConnection(stream, "test")
        head = await http.request("/big", method="HEAD")
        after = await http.request("/c")  # the connection is still in step
    assert head.status == 200
    assert head.headers["content-length"] == str(len(BODY))
    assert head.body == b""
    assert after.body == b"GET /c range=None\n"


async def test_an_aborted_response_is_cut_short_and_the_connection_closed() -> None:
    async with connected() as stream:
        response = await HttpConnection(stream, "test").request("/abort")
    assert response.status == 200
    assert not response.complete
    assert response.body == BODY[:100]


async def test_a_failing_handler_answers_500_and_closes() -> None:
    async with connected() as stream:
        response = await HttpConnection(stream, "test").request("/crash")
        assert await stream.receive_some(1) == b""
    assert response.status == 500


async def test_an_oversized_request_head_is_refused_with_431() -> None:
    async with connected() as stream:
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Junk: " + b"a" * 8000 + b"\r\n\r\n")
        reply = await read_until_closed(stream)
    assert reply.startswith(b"HTTP/1.1 431 ")


async def test_a_request_body_over_the_limit_is_refused_with_413() -> None:
    async with connected() as stream:
        await stream.send_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n\r\n" + b"x" * 10000
        )
        reply = await read_until_closed(stream)
    assert reply.startswith(b"HTTP/1.1 413 ")


async def test_garbage_gets_400() -> None:
    async with connected() as stream:
        await stream.send_all(b"\x16\x03\x01 not http at all\r\n\r\n")
        reply = await read_until_closed(stream)
    assert reply.startswith(b"HTTP/1.1 400 ")


async def test_a_client_that_leaves_cancels_its_response_at_once() -> None:
    cancelled = trio.Event()

    async def waits_for_pieces(_request: HttpRequest, writer: ResponseWriter) -> None:
        await writer.start(200, [("Content-Length", "10")])
        try:
            await trio.sleep_forever()  # as a response waiting for a missing piece
        finally:
            cancelled.set()

    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_http_connection, server, waits_for_pieces, LIMITS)
        await client.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert (await client.receive_some(65536)).startswith(b"HTTP/1.1 200 ")
        await client.aclose()
        with trio.fail_after(5):
            await cancelled.wait()


async def test_a_request_pipelined_during_a_response_is_answered_next() -> None:
    async with connected() as stream:
        await stream.send_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n"
                              b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
        replies = b""
        with trio.fail_after(5):
            while b"GET /next" not in replies:
                replies += await stream.receive_some(65536)
    assert replies.count(b"HTTP/1.1 200 ") == 2
    assert BODY in replies


@pytest.mark.parametrize(
    ("sent", "closes_after_s"),
    [
        (b"", LIMITS.idle_timeout_s),  # a silent connection
        (b"GET / HTTP/1.1\r\nHost: t\r\n", LIMITS.request_timeout_s),  # a request that stalls
    ],
)
async def test_silent_and_stalled_connections_are_closed_in_time(
    autojump_clock: trio.testing.MockClock, sent: bytes, closes_after_s: float
) -> None:
    async with connected() as stream:
        start = trio.current_time()
        await stream.send_all(sent)
        assert await read_until_closed(stream) == b""
        assert trio.current_time() - start == pytest.approx(closes_after_s)


async def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected() as stream:
        await HttpConnection(stream, "test").request("/a")
        answered = trio.current_time()
        assert await read_until_closed(stream) == b""
        assert trio.current_time() - answered == pytest.approx(LIMITS.idle_timeout_s)
