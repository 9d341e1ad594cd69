"""When to try an unreachable Redis again: a small circuit breaker (pure; the clock is a parameter).

While Redis is down every announce would otherwise wait for a socket timeout on the
event loop. The breaker lets one call through per ``retry_s`` and fails the others at
once, and says when an outage starts and ends so that each is logged once.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["OutageBreaker"]


class OutageBreaker:
    """Tracks whether the store is reachable and when to try it again.

    ``clock`` returns seconds on any monotonic clock.
    """

    def __init__(self, clock: Callable[[], float], *, retry_s: float) -> None:
        if retry_s <= 0:
            raise ValueError("retry_s must be positive")
        self._clock = clock
        self.retry_s = retry_s
        self._retry_at = 0.0
        self.down_reason: str | None = None
        """Why the last call failed, while the store is considered down; else ``None``."""

    def allows_call(self) -> bool:
        """True if a call may go to the store now (it is up, or a retry is due)."""
        return self.down_reason is None or self._clock() >= self._retry_at

    def failed(self, reason: str) -> bool:
        """Record a failed call; True if this begins an outage (log it)."""
        began = self.down_reason is None
        self.down_reason = reason
        self._retry_at = self._clock() + self.retry_s
        return began

    def succeeded(self) -> bool:
        """Record a successful call; True if this ends an outage (log it)."""
        ended = self.down_reason is not None
        self.down_reason = None
        return ended
