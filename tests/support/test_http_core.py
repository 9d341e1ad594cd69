"""The HTTP core (support.http): limits, deadlines, keep-alive, error statuses, failing
handlers; raw bytes over memory streams (virtual time) and httpx over loopback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from support.http import (
    AbortResponse,
    BodyWriter,
    Handler,
    HttpError,
    HttpLimits,
    Request,
    Response,
    serve_http_connection,
    text_response,
)

LIMITS = HttpLimits(
    max_head_bytes=2048, max_header_count=10, max_body_bytes=1000,
    idle_timeout_s=30.0, request_timeout_s=5.0, linger_s=1.0,
)
BIG = b"0123456789" * 1000


async def handler(request: Request) -> Response:
    """Echoes method, target and body; some paths fail on purpose."""
    if request.path == "/crash":
        raise RuntimeError("handler bug")
    if request.path == "/refuse":
        raise HttpError(403, "not for you")
    if request.path == "/stream":
        async def in_parts(write: BodyWriter) -> None:
            await write(BIG[:100])
            await write(BIG[100:])

        return Response(200, [("Content-Length", str(len(BIG)))], in_parts)
    if request.path == "/abort":
        async def cut(write: BodyWriter) -> None:
            await write(BIG[:100])
            raise AbortResponse

        return Response(200, [("Content-Length", str(len(BIG)))], cut)
    received = await request.body()
    return text_response(200, f"{request.method} {request.target} {len(received)} "
                              f"{request.header('x-tag')}")


async def serve(stream: trio.abc.Stream, handle: Handler, limits: HttpLimits = LIMITS,
                **kwargs: Any) -> None:
    """As the servers run the core: serve, then close (the stream is the caller's)."""
    async with stream:
        await serve_http_connection(stream, handle, limits, **kwargs)


@asynccontextmanager
async def connected(limits: HttpLimits = LIMITS) -> AsyncIterator[trio.abc.Stream]:
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, server, handler, limits)
        yield client
        nursery.cancel_scope.cancel()


async def exchange(request: bytes, limits: HttpLimits = LIMITS) -> bytes:
    """Send ``request``; everything the server sent until it closed (or stopped)."""
    async with connected(limits) as stream:
        await stream.send_all(request)
        return await read_until_closed(stream)


async def read_until_closed(stream: trio.abc.ReceiveStream) -> bytes:
    data = b""
    with trio.move_on_after(60):
        while chunk := await stream.receive_some(65536):
            data += chunk
    return data


ACCEPTED: dict[str, int] = {}  # connections accepted, by server URL


@asynccontextmanager
async def loopback(**kwargs: Any) -> AsyncIterator[str]:
    """The core on a loopback port, as playback and the daemon run it; yields its URL."""
    url = ""

    async def accept(stream: trio.SocketStream) -> None:
        ACCEPTED[url] += 1
        await serve(stream, handler, **kwargs)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, accept, 0, host="127.0.0.1"))
        url = f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}"
        ACCEPTED[url] = 0
        yield url
        nursery.cancel_scope.cancel()


async def test_keep_alive_serves_two_requests_on_one_connection() -> None:
    async with loopback() as url, httpx.AsyncClient(base_url=url) as client:
        first = await client.get("/a?x=1", headers={"X-Tag": "one"})
        second = await client.post("/b", content=b"x" * 500)
        assert ACCEPTED[url] == 1  # both on one connection
    assert first.text == "GET /a?x=1 0 one\n"
    assert second.text == "POST /b 500 None\n"


async def test_a_streamed_body_and_head() -> None:
    async with loopback() as url, httpx.AsyncClient(base_url=url) as client:
        streamed = await client.get("/stream")
        head = await client.head("/stream")
    assert streamed.content == BIG
    assert head.headers["content-length"] == str(len(BIG))
    assert head.content == b""


async def test_an_oversized_head_is_431() -> None:
    reply = await exchange(b"GET / HTTP/1.1\r\nHost: t\r\nX-Junk: " + b"a" * 4000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")


async def test_an_oversized_head_arriving_in_pieces_is_431() -> None:
    async with connected() as stream:
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Junk: ")
        for _ in range(10):
            await stream.send_all(b"a" * 500)
        reply = await read_until_closed(stream)
    assert reply.startswith(b"HTTP/1.1 431 ")


async def test_too_many_headers_is_431() -> None:
    reply = await exchange(b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-H: 1\r\n" * 10 + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert b"header fields" in reply


async def test_a_declared_body_over_the_limit_is_413_unread() -> None:
    head = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"
    reply = await exchange(head + BIG[:5000])
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in reply.lower()


async def test_a_chunked_body_over_the_limit_is_413() -> None:
    chunk = b"%x\r\n%s\r\n" % (600, b"x" * 600)
    reply = await exchange(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + chunk * 2 + b"0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("garbage", [b"\x16\x03\x01 not http at all\r\n\r\n",
                                     b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                                     b"GET / HTTP/1.1\r\n\r\n"])  # HTTP/1.1 without Host
async def test_a_malformed_request_is_400(garbage: bytes) -> None:
    reply = await exchange(garbage)
    assert reply.startswith(b"HTTP/1.1 400 ")


async def test_a_handler_refusal_keeps_its_status() -> None:
    reply = await exchange(b"GET /refuse HTTP/1.1\r\nHost: t\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 403 ")
    assert reply.endswith(b"not for you\n")


async def test_a_head_trickled_past_the_deadline_gets_408_and_is_closed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected() as stream:
        start = trio.current_time()

        async def trickle() -> None:
            for byte in b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"." * 100:
                await stream.send_all(bytes([byte]))
                await trio.sleep(1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle)
            reply = await read_until_closed(stream)
            nursery.cancel_scope.cancel()
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert trio.current_time() - start == pytest.approx(LIMITS.request_timeout_s)


async def test_a_silent_connection_is_closed_at_the_idle_timeout_without_an_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected() as stream:
        start = trio.current_time()
        assert await read_until_closed(stream) == b""
        assert trio.current_time() - start == pytest.approx(LIMITS.idle_timeout_s)


async def test_a_slow_body_gets_408(autojump_clock: trio.testing.MockClock) -> None:
    async with connected() as stream:
        await stream.send_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
        reply = await read_until_closed(stream)
    assert reply.startswith(b"HTTP/1.1 408 ")


async def test_a_failing_handler_answers_500_and_the_server_serves_the_next_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with loopback() as url:
        async with httpx.AsyncClient(base_url=url) as client:
            crashed = await client.get("/crash")
        async with httpx.AsyncClient(base_url=url) as client:
            after = await client.get("/next")
    assert crashed.status_code == 500
    assert crashed.headers["connection"] == "close"
    assert after.text == "GET /next 0 None\n"
    assert any("handler bug" in str(r.exc_info) for r in caplog.records
               if r.levelno == logging.ERROR)


async def test_a_failure_is_logged_with_the_target_as_the_server_shows_it_and_headers_go_always(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A secret in the target stays out of the failure's log line; the headers a server
    sends with everything come with the core's 500 and its 400 too."""
    always = [("X-Content-Type-Options", "nosniff")]
    async with loopback(always_headers=always,
                        loggable_target=lambda t: t.replace("s3cret", "<token>")) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            crashed = await client.get("/crash?s3cret")
            fine = await client.get("/fine")
        host, port = url.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.send_all(b"GET / HTTP/1.1\r\nbroken\r\n\r\n")
        broken = await read_until_closed(stream)
        await stream.aclose()
    assert crashed.status_code == 500
    assert {crashed.headers.get("x-content-type-options"),
            fine.headers.get("x-content-type-options")} == {"nosniff"}
    assert broken.startswith(b"HTTP/1.1 400")
    assert b"nosniff" in broken
    failed = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failed == ["GET /crash?<token> failed"]


async def test_an_aborted_stream_is_cut_short_and_closed() -> None:
    reply = await exchange(b"GET /abort HTTP/1.1\r\nHost: t\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == BIG[:100]


async def test_a_client_that_leaves_cancels_a_watched_handler_at_once() -> None:
    cancelled = trio.Event()

    async def waits(_request: Request) -> Response:
        try:
            await trio.sleep_forever()  # as a response waiting for data that never comes
        finally:
            cancelled.set()

    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(serve, server, waits, cancel_when_client_leaves=True))
        await client.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await trio.testing.wait_all_tasks_blocked()
        await client.aclose()
        with trio.fail_after(5):
            await cancelled.wait()


async def test_pipelined_requests_are_answered_in_order() -> None:
    reply = await exchange(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
                           b"GET /2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200 ") == 2
    assert reply.index(b"GET /1 ") < reply.index(b"GET /2 ")


async def test_a_small_ignored_body_keeps_the_connection() -> None:
    async def ignores_body(request: Request) -> Response:
        return text_response(200, request.target)

    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, server, ignores_body)
        await client.send_all(b"POST /1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                              b"GET /2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reply = await read_until_closed(client)
        nursery.cancel_scope.cancel()
    assert reply.count(b"HTTP/1.1 200 ") == 2


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        HttpLimits(idle_timeout_s=0)


async def test_a_request_pipelined_during_a_watched_response_is_answered_next() -> None:
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(serve, server, handler, cancel_when_client_leaves=True))
        await client.send_all(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"
                              b"GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
        replies = b""
        with trio.fail_after(5):
            while b"GET /next" not in replies:
                replies += await client.receive_some(65536)
        nursery.cancel_scope.cancel()
    assert replies.count(b"HTTP/1.1 200 ") == 2
    assert BIG in replies


async def test_a_kept_alive_connection_is_closed_after_the_idle_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with connected() as stream:
        await stream.send_all(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        reply = b""
        while not reply.endswith(b"\n\n") and b"GET /a" not in reply:
            reply += await stream.receive_some(65536)
        answered = trio.current_time()
        assert await read_until_closed(stream) == b""
        assert trio.current_time() - answered == pytest.approx(LIMITS.idle_timeout_s)


async def test_a_failing_error_page_still_answers_500_and_spares_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_page(_error: HttpError) -> Response:
        raise RuntimeError("error page bug")

    async with loopback(error_response=broken_page) as url:
        with trio.socket.socket() as raw:
            await raw.connect(("127.0.0.1", int(url.rsplit(":", 1)[1])))
            await raw.send(b"GARBAGE\r\n\r\n")
            reply = await raw.recv(65536)
        async with httpx.AsyncClient(base_url=url) as client:
            after = await client.get("/next")
    assert reply.startswith(b"HTTP/1.1 500 ")
    assert after.status_code == 200
    assert "error page bug" in caplog.text
