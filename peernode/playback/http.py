"""One HTTP/1.1 connection served with h11 over a trio stream: keep-alive, limits, timeouts.

h11 does the protocol (parsing, framing, keep-alive rules, HEAD); this module
only moves bytes and enforces the limits that keep a local server cheap to run:
a request head of at most ``max_request_bytes``, no request bodies to speak of,
and a deadline to receive each request. What to answer is the ``handler``'s
business (`peernode.playback.server`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import h11
import trio

__all__ = [
    "DEFAULT_HTTP_LIMITS",
    "AbortResponse",
    "HttpLimits",
    "HttpRequest",
    "RequestHandler",
    "ResponseWriter",
    "serve_http_connection",
]

log = logging.getLogger(__name__)

_RECEIVE_BYTES = 16 * 1024


@dataclass(frozen=True)
class HttpLimits:
    """Bounds on what one client may cost (bytes, seconds)."""

    max_request_bytes: int = 16 * 1024  # request line + headers (and any body)
    request_timeout_s: float = 10.0  # to receive a whole request once it has begun
    idle_timeout_s: float = 75.0  # between requests on a kept-alive connection


DEFAULT_HTTP_LIMITS = HttpLimits()


@dataclass(frozen=True)
class HttpRequest:
    """A request head; header names lower-case, repeated fields joined by ``", "``."""

    method: str
    target: str
    headers: Mapping[str, str]

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.partition("?")[0]


class AbortResponse(Exception):
    """Raised by a handler to drop the connection mid-response (the client sees a short body)."""


class ResponseWriter:
    """Sends the one response to a request; the body is skipped for HEAD (h11 knows)."""

    def __init__(self, conn: h11.Connection, stream: trio.abc.Stream, method: str) -> None:
        self._conn = conn
        self._stream = stream
        self.is_head = method == "HEAD"
        self.started = False
        self.finished = False

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Send the status line and headers."""
        self.started = True
        await self._send(h11.Response(status_code=status, headers=headers))

    async def write(self, data: bytes) -> None:
        """Send part of the body (nothing for HEAD)."""
        if data and not self.is_head:
            await self._send(h11.Data(data=data))

    async def finish(self) -> None:
        """End the response (it must have sent exactly its Content-Length)."""
        await self._send(h11.EndOfMessage())
        self.finished = True

    async def simple(
        self, status: int, text: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        """A complete short plain-text response, e.g. an error with its reason."""
        body = (text + "\n").encode()
        await self.start(status, [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *(headers or []),
        ])
        await self.write(body)
        await self.finish()

    async def _send(self, event: h11.Event) -> None:
        data = self._conn.send(event)
        if data:
            await self._stream.send_all(data)


RequestHandler = Callable[[HttpRequest, ResponseWriter], Awaitable[None]]


class _Closed(Exception):
    """The client closed, broke or stalled the connection; stop serving it."""


async def serve_http_connection(
    stream: trio.abc.Stream, handler: RequestHandler, limits: HttpLimits = DEFAULT_HTTP_LIMITS
) -> None:
    """Serve requests on ``stream`` until the client leaves, a limit is hit or a response aborts.

    ``handler(request, writer)`` must answer through ``writer``; if it raises
    `AbortResponse` (or fails) the connection is closed. Never raises for
    anything the client does; always closes ``stream``.
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_request_bytes)
    try:
        while True:
            request = await _receive_request(conn, stream, limits)
            writer = ResponseWriter(conn, stream, request.method)
            client_left, failure = await _answer(conn, stream, handler, request, writer, limits)
            if client_left or isinstance(failure, AbortResponse | trio.BrokenResourceError
                                         | trio.ClosedResourceError):
                return  # nothing to tell a client that left, or of a response cut short
            if failure is not None:
                log.error("playback: %s %s failed", request.method, request.target,
                          exc_info=failure)
                if not writer.started:
                    await writer.simple(500, "internal error")
                return
            done = writer.finished and conn.our_state is conn.their_state is h11.DONE
            if not done:  # e.g. "Connection: close", or a handler that did not finish
                return
            conn.start_next_cycle()
    except _Closed:
        pass
    except h11.RemoteProtocolError as e:
        await _refuse(conn, stream, e.error_status_hint, str(e))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await trio.aclose_forcefully(stream)


async def _answer(
    conn: h11.Connection,
    stream: trio.abc.Stream,
    handler: RequestHandler,
    request: HttpRequest,
    writer: ResponseWriter,
    limits: HttpLimits,
) -> tuple[bool, Exception | None]:
    """Run the handler while watching the connection: a client that closes it
    cancels the handler at once, even one waiting for pieces that have not
    arrived (so what it asked of libtorrent is withdrawn). Returns whether the
    client left, and the handler's exception if it failed."""
    client_left = False
    failure: Exception | None = None
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            nonlocal client_left
            client_left = await _closed_by_client(conn, stream, limits)
            if client_left:
                nursery.cancel_scope.cancel()

        nursery.start_soon(watch)
        try:
            await handler(request, writer)
        except Exception as e:  # reported by the caller, outside the nursery
            failure = e
        nursery.cancel_scope.cancel()
    return client_left, failure


async def _closed_by_client(
    conn: h11.Connection, stream: trio.abc.Stream, limits: HttpLimits
) -> bool:
    """Read while a response is sent: True once the client closes or breaks the
    connection. What it sends meanwhile (a pipelined request) is kept for h11,
    up to the request size limit."""
    while len(conn.trailing_data[0]) <= limits.max_request_bytes:
        try:
            data = await stream.receive_some(_RECEIVE_BYTES)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return True
        if not data:
            return True
        conn.receive_data(bytes(data))
    await trio.sleep_forever()  # enough is buffered: the next cycle reads the rest


async def _receive_request(
    conn: h11.Connection, stream: trio.abc.Stream, limits: HttpLimits
) -> HttpRequest:
    """The next request head, its (tiny) body drained; `_Closed` if none comes in time."""
    deadline = trio.current_time() + limits.idle_timeout_s
    request: h11.Request | None = None
    head_bytes = body_bytes = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            with trio.move_on_at(deadline):
                data = await stream.receive_some(_RECEIVE_BYTES)
                # Once a request has begun it must complete quickly (slow-loris).
                deadline = min(deadline, trio.current_time() + limits.request_timeout_s)
                if request is None:
                    head_bytes += len(data)
                conn.receive_data(bytes(data))
                continue
            raise _Closed
        if isinstance(event, h11.Request):
            # h11 bounds only a head still incomplete; one that arrives whole is
            # bounded here (what was received, less what h11 has not parsed yet).
            if head_bytes - len(conn.trailing_data[0]) > limits.max_request_bytes:
                await _refuse(conn, stream, 431, "request header fields too large")
                raise _Closed
            request = event
        elif isinstance(event, h11.Data):
            body_bytes += len(event.data)
            if body_bytes > limits.max_request_bytes:
                await _refuse(conn, stream, 413, "request body too large")
                raise _Closed
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            return _to_request(request)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            raise _Closed


def _to_request(event: h11.Request) -> HttpRequest:
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key = name.decode("ascii").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return HttpRequest(
        method=event.method.decode("ascii"),
        target=event.target.decode("latin-1"),
        headers=headers,
    )


async def _refuse(conn: h11.Connection, stream: trio.abc.Stream, status: int, reason: str) -> None:
    """Answer a request we will not serve, if the protocol state still allows an answer."""
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    body = f"{reason}\n".encode()
    head = h11.Response(status_code=status, headers=[
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
    ])
    try:
        events = (head, h11.Data(data=body), h11.EndOfMessage())
        await stream.send_all(b"".join(conn.send(event) or b"" for event in events))
    except (h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
