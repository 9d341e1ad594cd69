"""The request a handler gets and the response it returns (no I/O, no trio).

A handler is ``async def handle(request: Request) -> Response``. A response body
is either ``bytes`` (sent with its Content-Length, in one write with the head) or
a `BodyStream`, an async function given a `BodyWriter` to send the body part by
part (a film, an event stream); it then sets its own Content-Length, or gets
chunked encoding.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["BodyStream", "BodyWriter", "Handler", "Request", "Response", "text_response"]

BodyWriter = Callable[[bytes], Awaitable[None]]
BodyStream = Callable[[BodyWriter], Awaitable[None]]


async def _no_body() -> bytes:
    return b""


@dataclass(frozen=True, slots=True, eq=False)
class Request:
    """A request head as h11 parsed it (header names lower-case), and its body on demand.

    The body is read only when a handler awaits `body` (after checking who asks,
    say), bounded by the server's ``max_body_bytes``: over it, `body` raises
    `HttpError` 413.
    """

    raw_method: bytes
    raw_target: bytes
    raw_headers: Sequence[tuple[bytes, bytes]]
    _read_body: Callable[[], Awaitable[bytes]] = field(default=_no_body, repr=False)

    @property
    def method(self) -> str:
        """The method, e.g. ``"GET"``."""
        return self.raw_method.decode("ascii")

    @property
    def target(self) -> str:
        """The request target (path and query) as sent."""
        return self.raw_target.decode("latin-1")

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.partition("?")[0]

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (repeated fields joined by ``", "``), or None."""
        wanted = name.lower().encode("ascii")
        values = [value.decode("latin-1") for key, value in self.raw_headers if key == wanted]
        return ", ".join(values) if values else None

    async def body(self) -> bytes:
        """The whole body (``b""`` for none); `HttpError` if too large, late or broken."""
        return await self._read_body()


@dataclass(frozen=True, slots=True)
class Response:
    """A response; ``close`` ends the connection after it (``Connection: close``).

    The HTTP core adds Content-Length for a ``bytes`` body, and sends no body to
    HEAD (a `BodyStream` is then not called).
    """

    status: int
    headers: Sequence[tuple[str, str]] = ()
    body: bytes | BodyStream = b""
    close: bool = False


def text_response(
    status: int, text: str, headers: Sequence[tuple[str, str]] = (), *, close: bool = False
) -> Response:
    """A short plain-text response (an error and its reason, say), never cached."""
    return Response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"), *headers],
        (text + "\n").encode(),
        close=close,
    )


Handler = Callable[[Request], Awaitable[Response]]
