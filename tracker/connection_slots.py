"""A cap on open connections that idle clients cannot exhaust.

A connection is *idle* while it handshakes or waits for a complete request, and
*busy* while a request it sent is being answered. At the cap, the connection that
has been idle longest is closed to make room, so clients that connect and send
nothing (or trickle bytes) cannot keep a valid announce out; busy connections are
never interrupted. While draining (graceful shutdown) every idle connection is
closed at once and a connection that turns idle closes itself.
"""

from __future__ import annotations

from collections import OrderedDict

import trio

__all__ = ["ConnectionSlots"]


class ConnectionSlots:
    """Admission of connections under ``limit``, evicting the longest-idle one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.evicted = 0
        self.draining = False
        self._idle: OrderedDict[int, trio.CancelScope] = OrderedDict()
        self._changed = trio.Event()

    async def acquire(self) -> None:
        """Wait for room for one more connection, evicting the longest-idle one if full."""
        while self.open >= self.limit:
            if self._idle:
                _, scope = self._idle.popitem(last=False)
                scope.cancel()
                self.evicted += 1
            await self._changed.wait()
        self.open += 1

    def release(self) -> None:
        """A connection ended."""
        self.open -= 1
        self._changed.set()
        self._changed = trio.Event()

    def set_idle(self, scope: trio.CancelScope) -> None:
        """The connection running in ``scope`` is idle: evictable, and closed if draining."""
        if self.draining:
            scope.cancel()
        self._idle[id(scope)] = scope

    def set_busy(self, scope: trio.CancelScope) -> None:
        """The connection running in ``scope`` is answering a request (or has ended)."""
        self._idle.pop(id(scope), None)

    def drain(self) -> None:
        """Start a graceful shutdown: close idle connections now and as they turn idle."""
        self.draining = True
        for scope in self._idle.values():
            scope.cancel()
        self._idle.clear()
