"""A minimal HTTP/1.1 client of a playback URL (h11 over trio), for checks and benchmarks.

Players are the real clients; this one lets the demo, the benchmark and the
tests ask precise questions (one range, keep-alive, the first byte's arrival,
whether the body was cut short) without a player in the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import trio

from peernode.errors import PeernodeError

__all__ = ["HttpConnection", "HttpResponse", "fetch_url", "open_http_connection"]

_RECEIVE_BYTES = 64 * 1024


@dataclass(frozen=True)
class HttpResponse:
    """A response; header names lower-case. ``complete`` is False if the body was cut short
    by the server, ``first_byte_at`` the trio time its first body byte arrived (or None)."""

    status: int
    headers: dict[str, str]
    body: bytes
    complete: bool
    first_byte_at: float | None


class HttpConnection:
    """One kept-alive connection to a server; requests are sent one after another."""

    def __init__(self, stream: trio.abc.Stream, host: str) -> None:
        self._stream = stream
        self._host = host
        self._conn = h11.Connection(h11.CLIENT)

    async def request(
        self,
        target: str,
        *,
        method: str = "GET",
        headers: Sequence[tuple[str, str]] = (),
        max_body_bytes: int | None = None,
        on_head: Callable[[int], None] | None = None,
    ) -> HttpResponse:
        """Send one request and read its response.

        With ``max_body_bytes`` the connection is closed once that many body bytes
        arrived (how a player abandons a response when it seeks). ``on_head(status)``
        is called as soon as the status line and headers are in. Raises
        `PeernodeError` if the server breaks the protocol or closes before answering.
        """
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        head = h11.Request(method=method, target=target,
                           headers=[("Host", self._host), *headers])
        await self._send(head)
        await self._send(h11.EndOfMessage())
        status, response_headers = 0, {}
        body = bytearray()
        first_byte_at: float | None = None
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Response):
                status = event.status_code
                response_headers = {k.decode().lower(): v.decode("latin-1")
                                    for k, v in event.headers}
                if on_head is not None:
                    on_head(status)
            elif isinstance(event, h11.Data):
                if first_byte_at is None:
                    first_byte_at = trio.current_time()
                body += event.data
                if max_body_bytes is not None and len(body) >= max_body_bytes:
                    await self.aclose()
                    return HttpResponse(status, response_headers, bytes(body), False,
                                        first_byte_at)
            elif isinstance(event, h11.EndOfMessage):
                return HttpResponse(status, response_headers, bytes(body), True, first_byte_at)
            elif event is None:  # closed mid-body
                if not status:
                    raise PeernodeError("the server closed the connection without answering")
                return HttpResponse(status, response_headers, bytes(body), False, first_byte_at)

    async def _next_event(self) -> h11.Event | None:
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as e:
                if self._conn.their_state is h11.ERROR and "without sending complete" in str(e):
                    return None
                raise PeernodeError(f"HTTP protocol error from the server: {e}") from None
            if event is h11.NEED_DATA:
                try:
                    data = await self._stream.receive_some(_RECEIVE_BYTES)
                except trio.BrokenResourceError:
                    data = b""
                self._conn.receive_data(bytes(data))
                continue
            if isinstance(event, h11.ConnectionClosed):
                return None
            if isinstance(event, h11.Event):
                return event
            raise PeernodeError(f"unexpected HTTP state {event!r}")

    async def _send(self, event: h11.Event) -> None:
        data = self._conn.send(event)
        if data:
            await self._stream.send_all(data)

    async def aclose(self) -> None:
        """Close the connection."""
        await trio.aclose_forcefully(self._stream)


def _split_url(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise PeernodeError(f"not a playback URL: {url!r}")
    return parts.hostname, parts.port, parts.path + (f"?{parts.query}" if parts.query else "")


@asynccontextmanager
async def open_http_connection(url: str) -> AsyncIterator[tuple[HttpConnection, str]]:
    """A connection to ``url``'s server and ``url``'s target (path and query)."""
    host, port, target = _split_url(url)
    stream = await trio.open_tcp_stream(host, port)
    connection = HttpConnection(stream, f"{host}:{port}")
    try:
        yield connection, target
    finally:
        await connection.aclose()


async def fetch_url(
    url: str,
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    max_body_bytes: int | None = None,
    on_head: Callable[[int], None] | None = None,
) -> HttpResponse:
    """One request on a fresh connection (see `HttpConnection.request`)."""
    async with open_http_connection(url) as (connection, target):
        return await connection.request(
            target, method=method, headers=headers, max_body_bytes=max_body_bytes,
            on_head=on_head,
        )
