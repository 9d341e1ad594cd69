"""`ServerProtocol`: the server side of one HTTP/1.1 connection, without I/O.

h11 parses and frames; this adds what h11 leaves to its user: bounds on the
request head (h11 bounds only a head still incomplete, so one arriving whole in
a single read is checked here), on the header count and on the body, and the
rules of when a connection may serve another request. Failures are `HttpError`
with the status to answer (h11's hint for a request that breaks HTTP).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence

import h11

from support.http.errors import HttpError
from support.http.limits import HttpLimits
from support.http.messages import Request, Response

__all__ = ["NEED_DATA", "ServerProtocol", "Wait"]


class Wait(enum.Enum):
    """What a read stopped at, other than data."""

    NEED_DATA = "need data"  # feed `ServerProtocol.receive_data`
    CLOSED = "closed"  # the client closed the connection between requests
    END = "end"  # the request body is complete


NEED_DATA = Wait.NEED_DATA
_REQUEST_DONE = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED)


class ServerProtocol:
    """One connection's HTTP state: request heads and bodies in, response bytes out."""

    def __init__(
        self, limits: HttpLimits, *, always_headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """``always_headers`` go with every response (refusals included)."""
        self.limits = limits
        self._always_headers = tuple(always_headers)
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head_bytes)
        self._body_bytes = 0
        self._head_only = False
        self.begun = False  # bytes of the current request have arrived

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the client; ``b""`` at the end of its stream."""
        if data:
            self.begun = True
        self._conn.receive_data(data)

    def next_request(self, read_body: Callable[[], Awaitable[bytes]]) -> Request | Wait:
        """The next request head, `Wait.NEED_DATA`, or `Wait.CLOSED`; ``read_body``
        is what its `Request.body` calls.

        Raises `HttpError`: 431 for a head or header count over the limits, 413
        for a declared body over the limit, 400 (or h11's hint) for broken HTTP.
        """
        event = self._next_event()
        if event is h11.NEED_DATA:
            return NEED_DATA
        if isinstance(event, h11.Request):
            if not self._check_head(event):
                self._next_event()  # its EndOfMessage: the request is complete
            self._head_only = event.method == b"HEAD"
            return Request(event.method, event.target, event.headers, read_body)
        if isinstance(event, h11.ConnectionClosed):
            return Wait.CLOSED
        raise HttpError(400, f"unexpected {type(event).__name__}")  # not reachable with h11

    def _check_head(self, event: h11.Request) -> bool:
        """Check the head against the limits; whether a body follows it."""
        limits = self.limits
        if len(event.headers) > limits.max_header_count:
            raise HttpError(431, f"more than {limits.max_header_count} header fields")
        size = len(event.target)
        has_body = False
        for name, value in event.headers:
            size += len(name) + len(value)
            if name == b"content-length":
                # h11 has checked it is digits; refused before a byte of the body is read
                length = int(value)
                if length > limits.max_body_bytes:
                    raise HttpError(413, f"request body over {limits.max_body_bytes} bytes")
                has_body = has_body or length > 0
            elif name == b"transfer-encoding":
                has_body = True
        if size > limits.max_head_bytes:
            raise HttpError(431, f"request head over {limits.max_head_bytes} bytes")
        return has_body

    @property
    def head_only(self) -> bool:
        """The request is a HEAD: its response has no body."""
        return self._head_only

    @property
    def waiting_for_continue(self) -> bool:
        """The client waits for ``100 Continue`` before it sends the body."""
        return self._conn.they_are_waiting_for_100_continue

    def continue_bytes(self) -> bytes:
        """The ``100 Continue`` that lets the client send its body."""
        return self._conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""

    def next_body_data(self) -> bytes | Wait:
        """The next part of the request body, `Wait.NEED_DATA`, or `Wait.END`.

        Raises `HttpError` 413 once the body passes ``max_body_bytes`` (chunked
        bodies have no length to check first), 400 for broken HTTP.
        """
        if self._conn.their_state is not h11.SEND_BODY:
            return Wait.END
        event = self._next_event()
        if event is h11.NEED_DATA:
            return NEED_DATA
        if isinstance(event, h11.Data):
            self._body_bytes += len(event.data)
            if self._body_bytes > self.limits.max_body_bytes:
                raise HttpError(413, f"request body over {self.limits.max_body_bytes} bytes")
            return bytes(event.data)
        return Wait.END  # EndOfMessage (or the end of the stream, for HTTP/1.0 bodies)

    def _next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            return self._conn.next_event()
        except h11.RemoteProtocolError as e:  # includes an incomplete head over its bound
            # h11 re-raises its error from a frame that holds it: a reference cycle that,
            # through the frames' callers, would keep the whole connection (its TLS state
            # too) until the cyclic garbage collector runs; without its traceback, none
            e.with_traceback(None)
            raise HttpError(e.error_status_hint, f"bad HTTP request: {e}") from None

    @property
    def request_complete(self) -> bool:
        """The whole request (its body included) has been read."""
        return self._conn.their_state in _REQUEST_DONE

    def _drop_buffered_body(self) -> None:
        """Read past what of the body has already arrived: a small body that the
        handler ignored does not cost the connection its keep-alive."""
        try:
            while self._conn.their_state is h11.SEND_BODY:
                if isinstance(self.next_body_data(), Wait):
                    return
        except HttpError:
            return  # the connection will close: nothing more is read

    def response_head(self, response: Response) -> bytes:
        """The status line and headers of ``response`` (a streamed body follows)."""
        return self._send_head(response, list(response.headers))

    def complete_response(self, response: Response, body: bytes) -> bytes:
        """Head, body (none to HEAD) and end of a response, for one write."""
        head = self._send_head(response, [*response.headers, ("Content-Length", str(len(body)))])
        if body and not self._head_only:
            head += self._conn.send(h11.Data(data=body)) or b""
        return head + (self._conn.send(h11.EndOfMessage()) or b"")

    def _send_head(self, response: Response, headers: list[tuple[str, str]]) -> bytes:
        self._drop_buffered_body()
        headers.extend(self._always_headers)
        if response.close or not self.request_complete:
            headers.append(("Connection", "close"))  # h11 then ends the connection after it
        return self._conn.send(h11.Response(status_code=response.status, headers=headers)) or b""

    def body_bytes(self, data: bytes) -> bytes:
        """A part of a streamed body (``b""`` for HEAD: its body is never sent)."""
        if not data or self._head_only:
            return b""
        return self._conn.send(h11.Data(data=data)) or b""

    def end_bytes(self) -> bytes:
        """The end of a streamed body; `h11.LocalProtocolError` if it was not all sent."""
        return self._conn.send(h11.EndOfMessage()) or b""

    @property
    def can_answer(self) -> bool:
        """No byte of a response has been sent yet: an error can still be answered."""
        return self._conn.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    @property
    def unread_request(self) -> bool:
        """Part of a request is unread: closing now could reset the connection."""
        state = self._conn.their_state
        return state in (h11.SEND_BODY, h11.ERROR) or (state is h11.IDLE and self.begun)

    def start_next_cycle(self) -> bool:
        """Get ready for the next request; False if the connection must close instead."""
        if self._conn.our_state is not h11.DONE or self._conn.their_state is not h11.DONE:
            return False
        self._conn.start_next_cycle()
        self._body_bytes = 0
        self.begun = bool(self._conn.trailing_data[0])  # a pipelined request has begun
        return True
