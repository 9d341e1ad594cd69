"""One HTTP/1.1 server core (h11) for the tracker, the playback server and the daemon.

Pure half, no trio: `HttpLimits`, `Request`/`Response` (what a `Handler` gets and
returns), `HttpError` (a refusal with its status) and `ServerProtocol` (h11 plus
the limits it lacks). trio half: `serve_http_connection`, which serves one stream
with a handler. Each server brings its handler and its transport.

Every name loads on first use (PEP 562): a pure core importing `HttpLimits` does
not load trio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

_LAZY = {
    "AbortResponse": "support.http.errors",
    "BodyStream": "support.http.messages",
    "BodyWriter": "support.http.messages",
    "ConnectionPhases": "support.http.connection",
    "ErrorResponse": "support.http.connection",
    "Handler": "support.http.messages",
    "HttpError": "support.http.errors",
    "HttpLimits": "support.http.limits",
    "HttpStream": "support.http.connection",
    "Request": "support.http.messages",
    "Response": "support.http.messages",
    "ServerProtocol": "support.http.protocol",
    "as_http_error": "support.http.errors",
    "plain_error": "support.http.connection",
    "serve_http_connection": "support.http.connection",
    "text_response": "support.http.messages",
}

if TYPE_CHECKING:
    from support.http.connection import (
        ConnectionPhases,
        ErrorResponse,
        HttpStream,
        plain_error,
        serve_http_connection,
    )
    from support.http.errors import AbortResponse, HttpError, as_http_error
    from support.http.limits import HttpLimits
    from support.http.messages import (
        BodyStream,
        BodyWriter,
        Handler,
        Request,
        Response,
        text_response,
    )
    from support.http.protocol import ServerProtocol

__all__ = [
    "AbortResponse",
    "BodyStream",
    "BodyWriter",
    "ConnectionPhases",
    "ErrorResponse",
    "Handler",
    "HttpError",
    "HttpLimits",
    "HttpStream",
    "Request",
    "Response",
    "ServerProtocol",
    "as_http_error",
    "plain_error",
    "serve_http_connection",
    "text_response",
]

__getattr__ = lazy_attributes(__name__, _LAZY)
