"""The control API's HTTP/1.1 server: the handler of `support.http`, loopback only,
bearer token.

Every request is routed (`peernode.daemon.api.route_request`), authenticated, and
answered with JSON; the HTTP core bounds it (head and body size, deadlines) and
its refusals are JSON errors too. Any failure of one request becomes a JSON error
for that request and never reaches the daemon. ``GET /v1/events`` streams
server-sent events until the client leaves.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import trio

from peernode.daemon.api import MAX_BODY_BYTES, PUBLIC_OPERATIONS, ApiError, Route, route_request
from peernode.daemon.controller import Daemon
from peernode.daemon.events import sse_comment
from peernode.daemon.state_dir import MIN_TOKEN_CHARS
from support.http import (
    BodyWriter,
    HttpError,
    HttpLimits,
    Request,
    Response,
    serve_http_connection,
)

__all__ = ["API_LIMITS", "serve_daemon_api"]

log = logging.getLogger(__name__)

KEEPALIVE_S = 15.0
MAX_CONNECTIONS = 128
"""Connections served at once; past it a connection is answered 503 at once (never queued)."""
MAX_BUSY_CONNECTIONS = 64
"""Connections being told 503 at once; past both caps a connection is closed unread."""
_SERVER = ("Server", "peernode-daemon")

# Bodies are a torrent and a rental (MAX_BODY_BYTES, milliseconds on loopback); a client
# app keeps its connection between calls, and a request under way (head and body) must
# arrive within 10 s of its first byte, however slowly it trickles.
API_LIMITS = HttpLimits(
    max_head_bytes=16 * 1024,
    max_body_bytes=MAX_BODY_BYTES,
    idle_timeout_s=30.0,
    request_timeout_s=10.0,
    linger_s=2.0,
)
# A connection past the cap: its request head must come at once, then 503 and close.
_BUSY_LIMITS = HttpLimits(max_head_bytes=16 * 1024, max_body_bytes=0, idle_timeout_s=2.0,
                          request_timeout_s=2.0, linger_s=0.5)

# The API's error code for what the HTTP core refuses (the rest is broken HTTP).
_HTTP_ERROR_CODES = {408: "request_timeout", 413: "payload_too_large", 431: "headers_too_large",
                     500: "internal_error"}


def _json(
    status: int, body: Any, extra: Sequence[tuple[str, str]] = (), *, close: bool = False
) -> Response:
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = [_SERVER, ("Content-Type", "application/json"), ("Cache-Control", "no-store"),
               *extra]
    return Response(status, headers, payload, close=close)


def _error(error: ApiError, *, close: bool = False) -> Response:
    extra = [("WWW-Authenticate", 'Bearer realm="peernode"')] if error.status == 401 else []
    if error.allow is not None:
        extra.append(("Allow", error.allow))
    return _json(error.status, error.body(), extra, close=close)


def _refusal(error: HttpError) -> Response:
    """What the HTTP core refuses (broken HTTP, a limit, a handler's failure), as API JSON."""
    code = _HTTP_ERROR_CODES.get(error.status, "invalid_http")
    return _json(error.status, {"code": code, "message": error.reason}, close=True)


def _authorized(request: Request, token: bytes) -> bool:
    value = request.header("authorization")
    if value is None or len(token) < MIN_TOKEN_CHARS:  # a short token authorises nobody
        return False
    scheme, _, given = value.encode("latin-1").partition(b" ")
    given = given.strip()
    return (scheme.lower() == b"bearer" and len(given) >= MIN_TOKEN_CHARS
            and hmac.compare_digest(given, token))


async def _busy(_request: Request) -> Response:
    return _error(ApiError("unavailable", f"more than {MAX_CONNECTIONS} connections; retry"),
                  close=True)


def _unauthorized() -> ApiError:
    return ApiError("unauthorized", "missing or wrong bearer token")


class _Handler:
    def __init__(self, daemon: Daemon, token: str, openapi: Callable[[], dict[str, Any]]) -> None:
        self.daemon = daemon
        self.token = token.encode()
        self.openapi = openapi
        self.slots = trio.Semaphore(MAX_CONNECTIONS)
        self.busy_slots = trio.Semaphore(MAX_BUSY_CONNECTIONS)

    async def serve(self, stream: trio.SocketStream) -> None:
        async with stream:
            try:
                self.slots.acquire_nowait()
            except trio.WouldBlock:
                await self._refuse_busy(stream)
                return
            try:
                await serve_http_connection(stream, self.handle, API_LIMITS,
                                            error_response=_refusal, log=log)
            finally:
                self.slots.release()

    async def _refuse_busy(self, stream: trio.SocketStream) -> None:
        try:
            self.busy_slots.acquire_nowait()
        except trio.WouldBlock:
            return  # closed unread: what a flood of connections costs is bounded
        try:
            await serve_http_connection(stream, _busy, _BUSY_LIMITS,
                                        error_response=_refusal, log=log)
        finally:
            self.busy_slots.release()

    async def handle(self, request: Request) -> Response:
        """Answer one API call with JSON (or the event stream)."""
        try:
            route = self._route(request)
            # Authenticated before the body is read: no stranger makes us buffer 8 MiB.
            body = await request.body()
        except ApiError as e:
            return _error(e)
        if route.operation == "events":
            headers = [_SERVER, ("Content-Type", "text/event-stream"),
                       ("Cache-Control", "no-store")]
            return Response(200, headers, self._stream_events)
        try:
            if route.operation == "openapi":
                status, payload = 200, self.openapi()
            else:
                status, payload = await self.daemon.call(route, body)
        except ApiError as e:
            return _error(e)
        except Exception as e:  # one call's bug must not stop the daemon
            log.exception("%s failed", route.operation)
            return _error(ApiError("internal_error", f"{route.operation} failed: {e}"))
        return _json(status, payload)

    def _route(self, request: Request) -> Route:
        try:
            route = route_request(request.method, request.target)
        except ApiError:
            if not _authorized(request, self.token):
                raise _unauthorized() from None
            raise
        if route.operation not in PUBLIC_OPERATIONS and not _authorized(request, self.token):
            raise _unauthorized()
        return route

    async def _stream_events(self, write: BodyWriter) -> None:
        with self.daemon.hub.subscribe() as events:
            await write(sse_comment("peernode events"))
            while True:
                with trio.move_on_after(KEEPALIVE_S):
                    try:
                        message = await events.receive()
                    except (trio.EndOfChannel, trio.ClosedResourceError):
                        # Dropped for not keeping up: end the stream cleanly, the
                        # client reconnects and reads the current state.
                        return
                    await write(message)
                    continue
                # Writing is how a client that left is noticed.
                await write(sse_comment("keep-alive"))


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
    listeners = await trio.open_tcp_listeners(port, host=host, backlog=MAX_CONNECTIONS)
    bound = int(listeners[0].socket.getsockname()[1])
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handler.serve, listeners)
        task_status.started(bound)
