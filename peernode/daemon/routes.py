"""The control API's HTTP/1.1 server: h11 on trio, loopback only, bearer token.

Every request is routed (`daemon_api.route_request`), authenticated, bounded
(head size, body size, read timeout) and answered with JSON; any failure of
one request becomes a JSON error for that request and never reaches the
daemon. ``GET /v1/events`` streams server-sent events until the client leaves.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import h11
import trio

from peernode.daemon.api import MAX_BODY_BYTES, PUBLIC_OPERATIONS, ApiError, Route, route_request
from peernode.daemon.controller import Daemon
from peernode.daemon.events import sse_comment

__all__ = ["serve_daemon_api"]

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
READ_TIMEOUT_S = 30.0
KEEPALIVE_S = 15.0
LINGER_S = 2.0
MAX_CONNECTIONS = 64
_SERVER = ("Server", "peernode-daemon")


class _Closed(Exception):
    """The client went away or broke HTTP; the connection is dropped."""


class _Connection:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)

    async def next_event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            with trio.move_on_after(READ_TIMEOUT_S) as timeout:
                data = await self.stream.receive_some(64 * 1024)
            if timeout.cancelled_caught:
                raise _Closed("read timeout")
            self.conn.receive_data(data)

    async def send(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            await self.stream.send_all(data)

    async def send_json(
        self, status: int, body: Any, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        headers = [_SERVER, ("Content-Type", "application/json"),
                   ("Content-Length", str(len(payload))), ("Cache-Control", "no-store"), *extra]
        await self.send(h11.Response(status_code=status, headers=headers))
        await self.send(h11.Data(data=payload))
        await self.send(h11.EndOfMessage())

    async def send_error(self, error: ApiError, *, close: bool = False) -> None:
        extra = [("WWW-Authenticate", 'Bearer realm="peernode"')] if error.status == 401 else []
        if close:
            extra.append(("Connection", "close"))
        await self.send_json(error.status, error.body(), extra)


async def _read_body(c: _Connection, request: h11.Request) -> bytes:
    for name, value in request.headers:
        if name == b"content-length" and int(value) > MAX_BODY_BYTES:
            raise ApiError("payload_too_large", f"request body over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await c.next_event()
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_BODY_BYTES:
                raise ApiError("payload_too_large", f"request body over {MAX_BODY_BYTES} bytes")
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        elif isinstance(event, h11.ConnectionClosed):
            raise _Closed("closed mid-body")


def _authorized(request: h11.Request, token: bytes) -> bool:
    for name, value in request.headers:
        if name == b"authorization":
            scheme, _, given = bytes(value).partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)
    return False


async def _stream_events(c: _Connection, daemon: Daemon) -> None:
    headers = [_SERVER, ("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")]
    with daemon.hub.subscribe() as events:
        await c.send(h11.Response(status_code=200, headers=headers))
        await c.send(h11.Data(data=sse_comment("peernode events")))
        while True:
            with trio.move_on_after(KEEPALIVE_S):
                try:
                    message = await events.receive()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    # Dropped for not keeping up: end the stream cleanly, the
                    # client reconnects and reads the current state.
                    await c.send(h11.EndOfMessage())
                    return
                await c.send(h11.Data(data=message))
                continue
            # Writing is how a client that left is noticed.
            await c.send(h11.Data(data=sse_comment("keep-alive")))


class _Handler:
    def __init__(self, daemon: Daemon, token: str, openapi: Callable[[], dict[str, Any]]) -> None:
        self.daemon = daemon
        self.token = token.encode()
        self.openapi = openapi
        self.limit = trio.Semaphore(MAX_CONNECTIONS)

    async def serve(self, stream: trio.SocketStream) -> None:
        async with self.limit:
            c = _Connection(stream)
            try:
                while await self._one_request(c):
                    c.conn.start_next_cycle()
            except (_Closed, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            except h11.RemoteProtocolError as e:
                await self._bad_http(c, e)
            except Exception:  # one connection's bug must not stop the daemon
                log.exception("control API connection failed")
            finally:
                if c.conn.their_state not in (h11.DONE, h11.CLOSED, h11.IDLE):
                    await _linger(stream)
                await trio.aclose_forcefully(stream)

    async def _bad_http(self, c: _Connection, e: h11.RemoteProtocolError) -> None:
        if c.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            code = "headers_too_large" if e.error_status_hint == 431 else "invalid_http"
            with contextlib.suppress(trio.BrokenResourceError, h11.LocalProtocolError):
                await c.send_error(ApiError(code, f"bad HTTP request: {e}"), close=True)

    async def _one_request(self, c: _Connection) -> bool:
        event = await c.next_event()
        if isinstance(event, h11.ConnectionClosed):
            return False
        assert isinstance(event, h11.Request)
        method, target = event.method.decode(), event.target.decode("ascii", "replace")
        try:
            route = self._route(method, target, event)
            # Authenticated before the body is read: no stranger makes us buffer 8 MiB.
            body = await _read_body(c, event)
        except ApiError as e:
            await c.send_error(e, close=c.conn.their_state is not h11.DONE)
            return _reusable(c)
        if route.operation == "events":
            await _stream_events(c, self.daemon)
            return False
        await self._answer(c, route, body)
        return _reusable(c)

    def _route(self, method: str, target: str, request: h11.Request) -> Route:
        try:
            route = route_request(method, target)
        except ApiError:
            if not _authorized(request, self.token):
                raise _unauthorized() from None
            raise
        if route.operation not in PUBLIC_OPERATIONS and not _authorized(request, self.token):
            raise _unauthorized()
        return route

    async def _answer(self, c: _Connection, route: Route, body: bytes) -> None:
        try:
            if route.operation == "openapi":
                status, payload = 200, self.openapi()
            else:
                status, payload = await self.daemon.call(route, body)
        except ApiError as e:
            await c.send_error(e)
            return
        except Exception as e:
            log.exception("%s failed", route.operation)
            await c.send_error(ApiError("internal_error", f"{route.operation} failed: {e}"))
            return
        await c.send_json(status, payload)


async def _linger(stream: trio.SocketStream) -> None:
    """Read (a bounded amount of) what the client is still sending before closing.

    Closing a socket with unread data makes the kernel send a reset, which can
    destroy the error response the client has not read yet.
    """
    with trio.move_on_after(LINGER_S), contextlib.suppress(trio.BrokenResourceError,
                                                           trio.ClosedResourceError):
        await stream.send_eof()
        drained = 0
        while drained < MAX_BODY_BYTES + MAX_HEAD_BYTES:
            chunk = await stream.receive_some(64 * 1024)
            if not chunk:
                break
            drained += len(chunk)


def _unauthorized() -> ApiError:
    return ApiError("unauthorized", "missing or wrong bearer token")


def _reusable(c: _Connection) -> bool:
    return c.conn.our_state is h11.DONE and c.conn.their_state is h11.DONE


async def serve_daemon_api(
    daemon: Daemon,
    token: str,
    openapi: Callable[[], dict[str, Any]],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the control API on ``host:port`` until cancelled.

    ``task_status.started(port)`` once listening. Raises `OSError` if the port
    cannot be bound.
    """
    handler = _Handler(daemon, token, openapi)
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound = int(listeners[0].socket.getsockname()[1])
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handler.serve, listeners)
        task_status.started(bound)
