"""HTTP/1.1 over any trio stream with h11: one bounded request in, one response out.

Shared by the HTTPS tracker and the plain-HTTP metrics listener. Bounds: the size
of the request head and of the body (``max_request_bytes`` each; announces have no
body) and the number of header lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import h11

__all__ = ["HttpRefusal", "read_request", "response_bytes"]

_RECEIVE_BYTES = 16384


class ReceiveStream(Protocol):
    """Anything with trio's ``receive_some`` (a socket stream, a TLS stream)."""

    async def receive_some(self, max_bytes: int | None = ..., /) -> bytes | bytearray: ...


@dataclass(frozen=True, slots=True)
class HttpRefusal:
    """A request refused at the HTTP layer: answer ``status`` and close."""

    status: int
    reason: str


async def read_request(
    stream: ReceiveStream,
    conn: h11.Connection,
    *,
    max_request_bytes: int,
    max_header_count: int,
) -> h11.Request | HttpRefusal | None:
    """Read one complete request (its body, if any, is read and dropped).

    Returns the request, an `HttpRefusal` for a malformed or oversized one, or
    ``None`` when the client closed the connection between requests. Raises
    `trio.BrokenResourceError` if the transport fails.
    """
    request: h11.Request | None = None
    body_bytes = 0
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as e:  # includes a head over h11's size bound
            return HttpRefusal(e.error_status_hint, str(e))
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:
                return HttpRefusal(417, "expectations are not supported")
            data = await stream.receive_some(_RECEIVE_BYTES)
            conn.receive_data(bytes(data))  # b"": end of stream, an event for h11
        elif isinstance(event, h11.Request):
            # h11 bounds only an *incomplete* head: one arriving whole in a single
            # read is not checked, so its size is checked here
            head_bytes = len(event.target) + sum(len(k) + len(v) for k, v in event.headers)
            if head_bytes > max_request_bytes or len(event.headers) > max_header_count:
                return HttpRefusal(431, "request head too large")
            request = event
        elif isinstance(event, h11.Data):
            body_bytes += len(event.data)
            if body_bytes > max_request_bytes:
                return HttpRefusal(413, f"request body over {max_request_bytes} bytes")
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif isinstance(event, h11.ConnectionClosed):
            return None


def response_bytes(
    conn: h11.Connection,
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"text/plain",
    close: bool = False,
) -> bytes:
    """Encode a complete response (head, body, end) for one ``send_all`` call.

    One write means one TLS record and one TCP segment for a small answer.
    """
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    if close:
        headers.append((b"connection", b"close"))
    # h11's send() returns None only for ConnectionClosed, never sent here
    out = conn.send(h11.Response(status_code=status, headers=headers)) or b""
    if body:
        out += conn.send(h11.Data(data=body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")
