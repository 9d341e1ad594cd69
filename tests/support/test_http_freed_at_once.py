"""A served connection is freed by reference counting alone, the moment it ends.

Its stream holds the connection's TLS state (tens of KiB of C memory at the tracker);
a reference cycle would keep it until the cyclic garbage collector runs, and under a
flood of 20,000 hostile connections that kept ~1,000 of them alive at once, tens of MiB
(bench/tracker_flood.py). Each case runs with the collector off and checks that the
stream is gone as soon as the core is done with it.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
import trio

from support.http import HttpLimits, Request, Response, serve_http_connection, text_response

LIMITS = HttpLimits(
    max_head_bytes=2048, max_header_count=10, max_body_bytes=1000,
    idle_timeout_s=30.0, request_timeout_s=5.0, linger_s=0,
)


class _Scripted(trio.abc.Stream):
    """Gives the client's bytes, then the end of the stream; keeps what is sent."""

    def __init__(self, incoming: bytes) -> None:
        self._incoming = incoming
        self.sent = b""

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        given, self._incoming = self._incoming[: max_bytes or 65536], b""
        return given

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        self.sent += bytes(data)

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def _echo(request: Request) -> Response:
    body = await request.body()
    return text_response(200, f"{request.method} {len(body)}")


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize(("incoming", "status"), [
    (b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n", b"200"),
    (b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", b"200"),
    (b"GET /" + b"x" * 4096 + b" HTTP/1.1\r\nHost: t\r\n\r\n", b"431"),  # over the head limit
    (b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n", b"400"),  # broken
], ids=["request", "request_with_body", "oversized_head", "broken_head"])
def test_a_served_connection_is_freed_without_the_cyclic_collector(
    no_cyclic_gc: None, incoming: bytes, status: bytes
) -> None:
    async def main() -> weakref.ref[_Scripted]:
        stream = _Scripted(incoming)
        await serve_http_connection(stream, _echo, LIMITS)
        assert stream.sent.startswith(b"HTTP/1.1 " + status)
        return weakref.ref(stream)

    gone = trio.run(main)
    assert gone() is None
