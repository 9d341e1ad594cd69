"""Recognise the one request libtorrent sends per connection, without the HTTP machinery (pure).

libtorrent opens a new TLS connection for every announce and sends one
``GET /announce?... HTTP/1.1`` with ``Connection: close`` and a few headers, all in one
TLS record. For exactly that shape the tracker answers from the bytes of one read with
one write and closes (`tracker.connection`): no h11 state machine, no keep-alive
cycle. Anything else — another method or version, a body, a header h11 would judge,
a second request, bytes past the head, a head that is not complete yet — is left to
the full HTTP core (`support.http`) with the same bytes, so every limit and refusal
stays that core's. This function only says "simple" for requests the core would
accept and answer the same way, and closes after.
"""

from __future__ import annotations

import re

__all__ = ["simple_request_target", "simple_response"]

_REQUEST_LINE = re.compile(rb"GET (/[\x21-\x7e]*) HTTP/1\.1")
_HEADER = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\x20-\x7e]*?)[ \t]*")
# headers whose presence means the request is not a plain GET without a body
_NOT_SIMPLE = frozenset({b"content-length", b"transfer-encoding", b"expect", b"upgrade"})


def simple_request_target(
    data: bytes, *, max_head_bytes: int, max_header_count: int
) -> bytes | None:
    """The target of ``data`` if it is exactly one bodiless ``GET`` with ``Connection:
    close`` and one ``Host``, within the limits; ``None`` for anything else."""
    if len(data) > max_head_bytes or not data.endswith(b"\r\n\r\n"):
        return None
    lines = data[:-4].split(b"\r\n")
    request = _REQUEST_LINE.fullmatch(lines[0])
    if request is None or len(lines) - 1 > max_header_count:
        return None
    hosts = 0
    close = False
    for line in lines[1:]:
        header = _HEADER.fullmatch(line)
        if header is None:
            return None  # an empty line (a second request), obs-fold, a bad byte...
        name = header.group(1).lower()
        if name in _NOT_SIMPLE:
            return None
        if name == b"host":
            hosts += 1
        elif name == b"connection":
            if close or header.group(2).lower() != b"close":
                return None
            close = True
    if hosts != 1 or not close:
        return None
    return request.group(1)


def simple_response(status: int, body: bytes) -> bytes:
    """The whole response to a simple request: text/plain, its length, and close."""
    head = b"HTTP/1.1 %d \r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % (
        status,
        len(body),
    )
    return head + b"Connection: close\r\n\r\n" + body
