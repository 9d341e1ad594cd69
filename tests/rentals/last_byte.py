"""When a libtorrent handle last received payload (for revocation measurements)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import libtorrent as lt

__all__ = ["LastByte"]


class LastByte:
    """When a handle last received payload, from looks at its connections.

    The torrent's own total is added up once a second (libtorrent's tick), so it is read
    per connection, counted as bytes arrive. A new connection to a peer starts from what
    the earlier ones to that peer received (libtorrent carries it over, in whole KiB):
    so bytes are counted per peer, as the highest total seen. A connection that was
    receiving at the last look and is gone at this one may have received more before it
    ended: its end counts as a byte (pessimistic by at most one look)."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self._most: dict[tuple[Any, ...], int] = {}  # per peer (address)
        self._receiving: set[tuple[Any, ...]] = set()  # connections (peer, local end)

    def look(self, handle: lt.torrent_handle, now: datetime) -> None:
        receiving: set[tuple[Any, ...]] = set()
        current: set[tuple[Any, ...]] = set()
        for p in handle.get_peer_info():
            peer = tuple(p.ip)
            connection = (peer, tuple(p.local_endpoint()))
            current.add(connection)
            total = int(p.total_download)
            if total > self._most.get(peer, 0):
                receiving.add(connection)
            self._most[peer] = max(total, self._most.get(peer, 0))
        if receiving or self._receiving - current:
            self.at = now
        self._receiving = receiving
