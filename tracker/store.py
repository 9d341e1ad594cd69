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
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "MEMBER_BYTES",
    "NO_OWNER",
    "OWNER_BYTES",
    "PeerChange",
    "Role",
    "StoreRefusal",
    "StoreReply",
    "SwarmCounts",
    "SwarmStore",
    "member_addresses",
    "member_owner",
    "merge_member",
    "owner_bytes",
]

OWNER_BYTES = 20
"""An owner is a certificate serial as 20 big-endian bytes (RFC 5280: at most 20 octets)."""
NO_OWNER = bytes(OWNER_BYTES)
"""The owner of records made without a certificate (pure tests, benchmarks): never capped."""
_V4, _V6 = 6, 18
MEMBER_BYTES = OWNER_BYTES + _V4 + _V6
"""A member's stored part: owner, its IPv4 address slot, its IPv6 address slot.

An empty slot is zero bytes (port 0 is never announced). libtorrent announces once
per listen socket, so one node reaches the tracker over IPv4 and over IPv6 with one
peer id: each announce fills its family's slot of the same member.
"""
_EMPTY_V4, _EMPTY_V6 = bytes(_V4), bytes(_V6)


def owner_bytes(serial: int | None) -> bytes:
    """The owner field for a certificate serial (``None``: `NO_OWNER`)."""
    if serial is None:
        return NO_OWNER
    return (serial % (1 << (8 * OWNER_BYTES))).to_bytes(OWNER_BYTES, "big")


def merge_member(previous: bytes | None, owner: bytes, address: bytes) -> bytes:
    """The member after an announce from compact ``address``: its family's slot replaced."""
    v4 = previous[OWNER_BYTES : OWNER_BYTES + _V4] if previous else _EMPTY_V4
    v6 = previous[OWNER_BYTES + _V4 :] if previous else _EMPTY_V6
    if len(address) == _V4:
        v4 = address
    else:
        v6 = address
    return owner + v4 + v6


def member_owner(member: bytes) -> bytes:
    """The owner field of a member."""
    return member[:OWNER_BYTES]


def member_addresses(member: bytes) -> tuple[bytes | None, bytes | None]:
    """The member's compact IPv4 and IPv6 addresses (``None`` for an empty slot)."""
    v4 = member[OWNER_BYTES : OWNER_BYTES + _V4]
    v6 = member[OWNER_BYTES + _V4 :]
    return (None if v4 == _EMPTY_V4 else v4), (None if v6 == _EMPTY_V6 else v6)


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
    owner: bytes = NO_OWNER
    """`owner_bytes` of the certificate serial announcing: a record is its creator's only."""
    max_per_owner: int = 0
    """New peer ids beyond this many per owner in the swarm are refused (0: no cap)."""


class StoreRefusal(enum.StrEnum):
    """Why the store did not apply an announce; the value is a metric label."""

    OTHER_OWNER = "other_owner"
    """The peer id's record was created by another certificate serial."""
    OWNER_CAP = "owner_cap"
    """The serial already has ``max_per_owner`` peer ids in this swarm."""


@dataclass(frozen=True, slots=True)
class StoreReply:
    """What the store answers to one announce."""

    counts: SwarmCounts
    peers: list[bytes]
    """Members (`MEMBER_BYTES` each) sampled uniformly: the candidates for the peer list."""
    previous_uploaded: int | None
    """The peer's ``uploaded`` at its previous announce; ``None`` for a new peer."""
    previous_downloaded: int | None
    origins: list[bytes] = field(default_factory=list)
    """Every origin's member, for a leecher when ``origins_for_leechers``."""
    member: bytes = b""
    """The announcing peer's member after this announce (also when not stored)."""
    refusal: StoreRefusal | None = None
    """Set when nothing was changed: the announce must be answered with a failure."""


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
        """Apply ``change``, then sample up to ``numwant`` other members for it.

        A record is keyed by peer id and owned by the serial that created it: a
        change from another owner is refused (`StoreRefusal.OTHER_OWNER`), as is a
        new peer id over ``change.max_per_owner`` (`StoreRefusal.OWNER_CAP`). The peer
        is dropped by `expire` once ``now >= expires_at``. Seeders, origins and
        upload-only peers are given leechers only; leechers are given a random sample
        of seeders and leechers, and every origin (in ``origins``, not counted in
        ``numwant``) if ``origins_for_leechers``. A stopped peer is given nothing.
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

    def members(self, now: float) -> Iterator[tuple[bytes, list[bytes]]]:
        """Every swarm with its members that are not origins and not expired at ``now``
        (`MEMBER_BYTES` each; for the operator's member listing)."""
        ...
