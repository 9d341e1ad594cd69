"""`HttpError`: a request refused with an HTTP status, and the status of any failure."""

from __future__ import annotations

import h11

__all__ = ["AbortResponse", "HttpError", "as_http_error"]


class HttpError(Exception):
    """A request refused with ``status``; ``reason`` is a one-line text for the client.

    Raised by the HTTP core for a request over a limit or broken, and by handlers
    for a request they refuse: the connection is answered and then closed.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class AbortResponse(Exception):
    """Raised by a streamed body to cut its response short: the connection is closed,
    so the client sees a short body (never a wrong byte), and nothing is logged."""


def as_http_error(exc: BaseException) -> HttpError:
    """The refusal to answer for ``exc``: its own status for an `HttpError`, h11's
    hint for a request that breaks HTTP (400, 431, ...), 500 for anything else."""
    if isinstance(exc, HttpError):
        return exc
    if isinstance(exc, h11.RemoteProtocolError):
        return HttpError(exc.error_status_hint, f"bad HTTP request: {exc}")
    return HttpError(500, "internal error")
