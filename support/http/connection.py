"""`serve_http_connection`: HTTP/1.1 requests on one trio stream, answered by a handler.

The trio half of the HTTP core (`support.http.protocol` is the other): read each
request head against its deadlines, call the handler, send its response, and
again while the connection is kept alive. The stream is the server's own (plain
TCP, or the tracker's TLS stream) and stays the caller's to close.

No exception of one connection escapes: a request that breaks HTTP or a limit is
answered with its status (through ``error_response``) and the connection closed;
a handler that fails is logged, answered 500 if nothing was sent yet, and its
connection closed; a client that leaves is let go quietly.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from typing import Protocol

import trio

from support.http.errors import AbortResponse, HttpError, as_http_error
from support.http.limits import HttpLimits
from support.http.messages import Handler, Request, Response, text_response
from support.http.protocol import NEED_DATA, ServerProtocol, Wait

__all__ = [
    "ConnectionPhases",
    "ErrorResponse",
    "HttpStream",
    "plain_error",
    "serve_http_connection",
]

_RECEIVE_BYTES = 16 * 1024  # a request head (a bigger one is refused anyway)
_RECEIVE_BODY_BYTES = 64 * 1024
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)  # the client left (or we closed)

ErrorResponse = Callable[[HttpError], Response]


class HttpStream(Protocol):
    """What the core needs of a transport: a trio stream, or the tracker's TLS stream."""

    async def receive_some(self, max_bytes: int | None = ..., /) -> bytes | bytearray: ...

    async def send_all(self, data: bytes, /) -> None: ...


class ConnectionPhases(Protocol):
    """Told when a connection waits for a request (idle: ``scope`` may be cancelled to
    close it) and when it answers one (busy); the tracker's connection slots."""

    def set_idle(self, scope: trio.CancelScope) -> None: ...

    def set_busy(self, scope: trio.CancelScope) -> None: ...


def plain_error(error: HttpError) -> Response:
    """The default refusal: the status and its reason as text."""
    return text_response(error.status, error.reason, close=True)


async def serve_http_connection(
    stream: HttpStream,
    handler: Handler,
    limits: HttpLimits,
    *,
    error_response: ErrorResponse = plain_error,
    phases: ConnectionPhases | None = None,
    cancel_when_client_leaves: bool = False,
    log: logging.Logger | None = None,
    always_headers: Sequence[tuple[str, str]] = (),
    loggable_target: Callable[[str], str] = str,
) -> None:
    """Serve requests on ``stream`` until the client leaves, a limit is hit or a response
    says close; a request head must begin within ``idle_timeout_s`` and arrive within
    ``request_timeout_s`` of its first byte (else 408, if it had begun).

    With ``cancel_when_client_leaves`` the connection is read while a handler runs,
    and a client that closes it cancels the handler at once (a response waiting for
    data that has not arrived, an event stream). Failures are logged to ``log``, a
    request target as ``loggable_target`` makes it (a secret in a URL stays out of
    logs). ``always_headers`` go with every response, the core's refusals included.
    Never raises `Exception`; does not close ``stream``.
    """
    served = _Connection(stream, handler, limits, error_response, phases,
                         cancel_when_client_leaves, log or logging.getLogger("support.http"),
                         always_headers, loggable_target)
    try:
        while await served.serve_one() and served.protocol.start_next_cycle():
            pass
        if served.protocol.unread_request and limits.linger_s > 0:
            await _linger(stream, limits)
    except _GONE:
        pass
    except Exception:  # a bug (of the core, or of error_response): one connection only
        served.log.exception("HTTP connection failed")
        with contextlib.suppress(Exception):
            await served.refuse(HttpError(500, "internal error"), plain_error)
    finally:
        # the bound method is a reference cycle (connection -> method -> connection):
        # left in place, every connection, its stream and the stream's TLS state wait
        # for the cyclic garbage collector (a flood of 20,000 hostile connections kept
        # ~1,000 of them alive at once, tens of MiB: bench/tracker_flood.py)
        del served.read_body


class _Connection:
    def __init__(
        self,
        stream: HttpStream,
        handler: Handler,
        limits: HttpLimits,
        error_response: ErrorResponse,
        phases: ConnectionPhases | None,
        watch: bool,
        log: logging.Logger,
        always_headers: Sequence[tuple[str, str]] = (),
        loggable_target: Callable[[str], str] = str,
    ) -> None:
        self.stream = stream
        self.handler = handler
        self.limits = limits
        self.error_response = error_response
        self.phases = phases
        self.watch = watch
        self.log = log
        self.loggable_target = loggable_target
        self.protocol = ServerProtocol(limits, always_headers=always_headers)
        self.deadline = math.inf  # for the current request to arrive
        self.client_left = False
        self.read_body = self._read_body  # bound once: every request gets it
        self.tightens = limits.request_timeout_s < limits.idle_timeout_s

    async def serve_one(self) -> bool:
        """Read and answer one request; False once the connection is to be closed."""
        limits = self.limits
        phases = self.phases
        request: Request | Wait | HttpError = Wait.CLOSED
        answering = False
        # one scope per request: its deadline bounds reading the request, then answering it
        with trio.CancelScope(deadline=trio.current_time() + limits.idle_timeout_s) as scope:
            self.deadline = scope.deadline
            if phases is not None:
                phases.set_idle(scope)
            try:
                request = await self._read_head(scope)
            except HttpError as e:
                # kept as a value, without its tracebacks: they hold this frame, whose
                # local would hold them back, a reference cycle keeping the connection
                # (and its TLS state) alive until the cyclic garbage collector runs
                request = e.with_traceback(None)
                request.__cause__ = request.__context__ = None
            finally:
                if phases is not None:
                    phases.set_busy(scope)
            if isinstance(request, Request):
                answering = True
                if limits.response_timeout_s is not None:
                    scope.deadline = trio.current_time() + limits.response_timeout_s
                return await self._answer(request)
        if scope.cancelled_caught:  # timed out, or closed by the server (evicted, draining)
            if not answering and self.protocol.begun and trio.current_time() >= scope.deadline:
                await self._refuse(HttpError(408, "request not received in time"))
            return False
        if isinstance(request, HttpError):
            await self._refuse(request)
        return False  # refused, or the client closed the connection

    async def _read_head(self, scope: trio.CancelScope) -> Request | Wait:
        protocol = self.protocol
        if protocol.begun:  # pipelined
            self._tighten(scope)
        while (request := protocol.next_request(self.read_body)) is NEED_DATA:
            begun = protocol.begun
            protocol.receive_data(bytes(await self.stream.receive_some(_RECEIVE_BYTES)))
            if not begun:
                self._tighten(scope)
        return request

    def _tighten(self, scope: trio.CancelScope) -> None:
        # once a request has begun it must arrive quickly (slowloris)
        if self.protocol.begun and self.tightens:
            deadline = trio.current_time() + self.limits.request_timeout_s
            if deadline < scope.deadline:  # setting a deadline is not free: only if it moves
                scope.deadline = self.deadline = deadline

    async def _read_body(self) -> bytes:
        """`Request.body` of the current request."""
        protocol = self.protocol
        chunks: list[bytes] = []
        with trio.move_on_at(self.deadline):
            if protocol.waiting_for_continue:
                await self.stream.send_all(protocol.continue_bytes())
            while (item := protocol.next_body_data()) is not Wait.END:
                if item is NEED_DATA:
                    data = await self.stream.receive_some(_RECEIVE_BODY_BYTES)
                    protocol.receive_data(bytes(data))
                elif isinstance(item, bytes):
                    chunks.append(item)
            return b"".join(chunks)
        raise HttpError(408, "request body not received in time")

    async def _answer(self, request: Request) -> bool:
        if self.watch and self.protocol.request_complete:
            failure = await self._respond_watched(request)
        else:
            failure = await self._respond(request)
        if failure is None:
            return not self.client_left
        if self.client_left or isinstance(failure, (AbortResponse, *_GONE)):
            return False  # nothing to tell a client that left, or of a response cut short
        if isinstance(failure, HttpError):
            await self._refuse(failure)
            return False
        if failure is not None:
            self.log.error("%s %s failed", request.method, self.loggable_target(request.target),
                           exc_info=failure)
            await self._refuse(as_http_error(failure))
            return False
        return True

    async def _respond(self, request: Request) -> Exception | None:
        try:
            response = await self.handler(request)
            if isinstance(response.body, bytes):
                await self.stream.send_all(self.protocol.complete_response(response, response.body))
            else:
                await self.stream.send_all(self.protocol.response_head(response))
                if not self.protocol.head_only:
                    await response.body(self._send_body)
                await self.stream.send_all(self.protocol.end_bytes())
        except Exception as e:  # reported by the caller, outside any nursery
            return e
        return None

    async def _send_body(self, data: bytes) -> None:
        out = self.protocol.body_bytes(data)
        if out:
            await self.stream.send_all(out)

    async def _respond_watched(self, request: Request) -> Exception | None:
        failure: Exception | None = None  # stays None if the client left
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_client, nursery.cancel_scope)
            failure = await self._respond(request)
            nursery.cancel_scope.cancel()
        return failure

    async def _watch_client(self, scope: trio.CancelScope) -> None:
        """Read while a response is made: once the client closes or breaks the
        connection, cancel it. A request it pipelines meanwhile is kept for h11,
        up to the head limit."""
        received = 0
        while received <= self.limits.max_head_bytes:
            try:
                data = await self.stream.receive_some(_RECEIVE_BYTES)
            except _GONE:
                data = b""
            if not data:
                self.client_left = True
                scope.cancel()
                return
            received += len(data)
            self.protocol.receive_data(bytes(data))
        await trio.sleep_forever()  # enough is buffered: the next cycle reads the rest

    async def _refuse(self, error: HttpError) -> None:
        await self.refuse(error, self.error_response)

    async def refuse(self, error: HttpError, render: ErrorResponse) -> None:
        """Answer ``error`` if no response has begun (then the connection closes)."""
        self.log.debug("refused %d: %s", error.status, error.reason)
        if not self.protocol.can_answer:
            return
        response = render(error)
        body = response.body if isinstance(response.body, bytes) else b""
        with trio.move_on_after(self.limits.request_timeout_s), contextlib.suppress(*_GONE):
            await self.stream.send_all(self.protocol.complete_response(response, body))


async def _linger(stream: HttpStream, limits: HttpLimits) -> None:
    """Read (a bounded amount of) what the client is still sending before it is closed:
    closing a socket with unread data makes the kernel send a reset, which can destroy
    the answer the client has not read yet."""
    with trio.move_on_after(limits.linger_s), contextlib.suppress(*_GONE):
        if isinstance(stream, trio.abc.HalfCloseableStream):
            await stream.send_eof()
        drained = 0
        while drained <= limits.max_head_bytes + limits.max_body_bytes:
            chunk = await stream.receive_some(_RECEIVE_BODY_BYTES)
            if not chunk:
                return
            drained += len(chunk)
