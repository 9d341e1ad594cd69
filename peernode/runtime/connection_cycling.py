"""Honest nodes end peer connections older than a bound, so revocation reaches peers.

libtorrent keeps a TLS peer connection for as long as both ends like, whatever
happens to the certificates it was made with. `keep_connections_young` looks at a
torrent's peers every few seconds and, at the last look before the oldest connection
could reach ``max_age_s``, pauses and resumes the torrent: every connection of the torrent
ends (the Python binding of libtorrent 2.1 has no call that ends one peer's
connection), and libtorrent connects again at once, each new connection with a new
handshake in which both certificates must be valid. Downloads go on; pieces in
flight are requested again. A revoked node, which cannot renew, then has no
connection left once its certificate expired plus ``max_age_s``.

libtorrent waits ``min_reconnect_time`` (2 s here) before it connects again to a peer
it was just connected to: measured, a cycle then costs the torrent about 2 s without
a byte. `FastReconnect` sets it to 0 for a moment around each cycle: the gap is half a
second (libtorrent's tick). Peers that failed are retried sooner during that moment too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Hashable

import libtorrent as lt
import trio

from peernode.runtime.connection_ages import ConnectionAges, cycle_due

__all__ = ["FastReconnect", "check_interval_s", "cycle_connections", "keep_connections_young"]

# How long reconnection is immediate after a cycle (seconds): a few libtorrent ticks.
FAST_RECONNECT_S = 1.5

log = logging.getLogger(__name__)


def check_interval_s(max_age_s: float) -> float:
    """How often the peers are looked at: a tenth of the bound, within [0.2 s, 30 s]."""
    return min(30.0, max(0.2, max_age_s / 10))


def _connection_keys(handle: lt.torrent_handle) -> list[Hashable]:
    keys: list[Hashable] = []
    for p in handle.get_peer_info():
        if p.flags & (lt.peer_info.connecting | lt.peer_info.handshake):
            continue  # not a connection yet: nothing flows over it
        keys.append((tuple(p.ip), tuple(p.local_endpoint()), p.pid.to_bytes()))
    return keys


class FastReconnect:
    """One session's ``min_reconnect_time``, set to 0 while any of its torrents cycles."""

    def __init__(self, session: lt.session) -> None:
        self._session = session
        self._active = 0
        self._saved = 0

    def _apply(self, seconds: int) -> None:
        self._session.apply_settings({"min_reconnect_time": seconds})

    async def hold(self, seconds: float = FAST_RECONNECT_S) -> None:
        """Make reconnection immediate for ``seconds``, then restore the setting (unless
        another cycle still holds it)."""
        if self._active == 0:
            self._saved = int(self._session.get_settings()["min_reconnect_time"])
            self._apply(0)
        self._active += 1
        try:
            await trio.sleep(seconds)
        finally:
            self._active -= 1
            if self._active == 0:
                self._apply(self._saved)


def cycle_connections(handle: lt.torrent_handle) -> bool:
    """End every connection of a running torrent and let it connect again; False if the
    torrent is paused (by the customer, or because its rental expired) or gone."""
    if not handle.is_valid() or handle.status(0).paused:
        return False
    handle.pause()
    handle.resume()
    return True


async def keep_connections_young(
    handle: lt.torrent_handle,
    max_age_s: float,
    *,
    fast_reconnect: FastReconnect | None = None,
    clock: Callable[[], float] = trio.current_time,
    on_cycle: Callable[[float], None] | None = None,
) -> None:
    """Cycle ``handle``'s connections before the oldest is ``max_age_s`` old (seconds);
    ``on_cycle(oldest_age_s)`` after each cycle. Returns once the handle is gone."""
    ages = ConnectionAges()
    interval = check_interval_s(max_age_s)
    async with trio.open_nursery() as nursery:
        while handle.is_valid():
            with contextlib.suppress(RuntimeError):  # removed between the check and the call
                oldest = ages.observe(_connection_keys(handle), clock())
                if cycle_due(oldest, max_age_s, interval):
                    if fast_reconnect is not None:
                        nursery.start_soon(fast_reconnect.hold)
                        await trio.sleep(0)  # the setting is in before the cycle
                    if cycle_connections(handle):
                        log.info("%s: peer connections cycled (oldest %.1f s, bound %.1f s)",
                                 handle.status(0).name, oldest, max_age_s)
                        if on_cycle is not None:
                            on_cycle(oldest)
            await trio.sleep(interval)
