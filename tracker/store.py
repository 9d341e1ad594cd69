"""The storage interface behind swarm state, and the records that cross it.

One announce is one call (`SwarmStore.announce`): upsert or remove the peer with its
expiry time, pick the peers to return, read the swarm's counts. A shared store (Redis,
issue 8) can do exactly that in one round trip (a Lua script), so the interface is cut
at that grain rather than at get/put. Calls are synchronous: the in-memory store
answers in microseconds, and a networked store is called from a worker thread.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "PeerChange",
    "Role",
    "StoreReply",
    "SwarmCounts",
    "SwarmStore",
]


class Role(enum.IntEnum):
    """Where a peer sits in its swarm; decides which peers it is given."""

    LEECHER = 0
    SEEDER = 1
    ORIGIN = 2
    """An origin seeder: counted as a seeder, always given to leechers (by policy)."""
    UPLOAD_ONLY = 3
    """A partial seed (BEP 21 ``paused``): counted as a leecher, given leechers only."""


@dataclass(frozen=True, slots=True)
class SwarmCounts:
    """A swarm's counts, as announce and scrape report them."""

    seeders: int = 0
    leechers: int = 0
    completed: int = 0
    """``completed`` events seen for this torrent since the tracker started."""


@dataclass(frozen=True, slots=True)
class PeerChange:
    """What one announce does to its swarm."""

    info_hash: bytes
    peer_id: bytes
    address: bytes
    """Compact address: 4-byte IPv4 or 16-byte IPv6, then the 2-byte port (big-endian)."""
    role: Role
    uploaded: int
    downloaded: int
    completed: bool = False
    """The announce carried ``event=completed``."""
    stopped: bool = False
    """The announce carried ``event=stopped``: remove the peer."""


@dataclass(frozen=True, slots=True)
class StoreReply:
    """What the store answers to one announce."""

    counts: SwarmCounts
    peers: list[bytes]
    """Compact addresses of the selected peers (IPv4 and IPv6 mixed)."""
    previous_uploaded: int | None
    """The peer's ``uploaded`` at its previous announce; ``None`` for a new peer."""
    previous_downloaded: int | None


class SwarmStore(Protocol):
    """Where swarm state lives; implementations must behave identically."""

    def announce(
        self,
        change: PeerChange,
        *,
        numwant: int,
        expires_at: float,
        origins_for_leechers: bool,
        rng: random.Random,
    ) -> StoreReply:
        """Apply ``change``, then select up to ``numwant`` other peers for it.

        The peer is dropped by `expire` once ``now >= expires_at``. Seeders,
        origins and upload-only peers are given leechers only; leechers are given
        a random sample of seeders and leechers, and every origin first if
        ``origins_for_leechers``. A stopped peer is given nothing.
        """
        ...

    def expire(self, now: float) -> int:
        """Drop every peer whose expiry time is ``<= now``; return how many."""
        ...

    def scrape(self, info_hashes: Iterable[bytes]) -> dict[bytes, SwarmCounts]:
        """Counts of each of ``info_hashes`` (zeros for a torrent with no peers)."""
        ...

    def swarms(self) -> Iterator[tuple[bytes, SwarmCounts]]:
        """Every swarm with peers, with its counts (for metrics)."""
        ...
