"""`HttpLimits`: what one client of an HTTP/1.1 server may cost (bytes, seconds)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["HttpLimits"]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds on one connection of an HTTP/1.1 server.

    Sizes are bytes, times seconds. ``response_timeout_s`` bounds the handler and
    the sending of its response (``math.inf``: unbounded, e.g. a film being played
    or an event stream; None: the request's own deadline bounds its answer too);
    ``linger_s`` is how long a connection closed on an unread
    request keeps reading, so that the kernel does not reset it before the client
    has read our answer (0: close at once).
    """

    max_head_bytes: int = 16 * 1024  # request target + header names and values
    max_header_count: int = 64
    max_body_bytes: int = 16 * 1024
    idle_timeout_s: float = 75.0  # for a request to begin (after connecting or a response)
    request_timeout_s: float = 10.0  # for a begun request's head (and body) to arrive
    response_timeout_s: float | None = math.inf
    linger_s: float = 2.0

    def __post_init__(self) -> None:
        sizes = (self.max_head_bytes, self.max_header_count, self.max_body_bytes)
        times = [self.idle_timeout_s, self.request_timeout_s]
        if self.response_timeout_s is not None:
            times.append(self.response_timeout_s)
        if min(sizes) < 0 or min(times) <= 0 or self.linger_s < 0:
            raise ValueError(f"HTTP limits must be positive: {self}")
