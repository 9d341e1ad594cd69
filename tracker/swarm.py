"""Swarm state: turn an admitted announce into a peer list (pure core).

`Swarms.announce(request, peer_ip, now, rng, is_origin=..., serial=...)` is the
tracker's whole announce logic once a request is admitted: the store applies it and
samples candidates, `tracker.peer_selection` shapes the list (reachability classes
from `Swarms.reachability`, networks from `Swarms.networks`); a leecher nobody can
reach with few connectable peers is asked back at the min interval (``lonely_below``).
`Swarms.expire(now)` is the separate cleaning pass. Time (``now``, seconds on any
monotonic clock) and randomness (``rng``) are parameters, so tests drive both.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from tracker.config import SwarmPolicy
from tracker.locality import NetworkMap
from tracker.memory_store import MemoryStore
from tracker.peer_selection import ListShape, PeerList, shape_peer_list
from tracker.reachability import Reachability, ReachabilityTable
from tracker.request import AnnounceRequest, Event
from tracker.store import (
    PeerChange,
    Role,
    StoreRefusal,
    SwarmCounts,
    SwarmStore,
    member_addresses,
    owner_bytes,
)

__all__ = ["AnnounceResult", "Swarms", "compact_address"]


@dataclass(frozen=True, slots=True)
class AnnounceResult:
    """The answer to one admitted announce, before bencoding."""

    interval_s: int
    min_interval_s: int
    counts: SwarmCounts
    peers: bytes
    """Compact IPv4 peers (BEP 23): 6 bytes each."""
    peers6: bytes
    """Compact IPv6 peers (BEP 7): 18 bytes each."""
    uploaded_delta: int
    """Bytes the peer reports having uploaded since its previous announce."""
    downloaded_delta: int
    """Bytes the peer reports having downloaded since its previous announce."""
    refusal: StoreRefusal | None = None
    """Set when the swarm refused the announce (nothing was changed, no peers)."""
    address: bytes = b""
    """The compact address recorded for the peer (connection address, announced port)."""
    same_network: int = 0
    """Members in the lists on the peer's own network (`tracker.locality`)..."""
    other_network: int = 0
    """...and on other networks."""


def compact_address(ip: IPv4Address | IPv6Address, port: int) -> bytes:
    """The compact form of ``ip:port``; IPv4-mapped IPv6 addresses become IPv4."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.packed + port.to_bytes(2, "big")


def _role(request: AnnounceRequest, is_origin: bool) -> Role:
    if request.left == 0:
        return Role.ORIGIN if is_origin else Role.SEEDER
    if request.event is Event.PAUSED:
        return Role.UPLOAD_ONLY
    return Role.LEECHER


def _delta(now: int, before: int | None) -> int:
    # a counter that went backwards is a new client session counting from zero
    return now - before if before is not None and now >= before else now


class Swarms:
    """Every swarm the tracker knows, behind a `SwarmStore` (in memory by default)."""

    def __init__(
        self,
        policy: SwarmPolicy | None = None,
        store: SwarmStore | None = None,
        *,
        reachability: ReachabilityTable | None = None,
        networks: NetworkMap | None = None,
    ):
        self.policy = policy or SwarmPolicy()
        self.store: SwarmStore = store or MemoryStore(
            max_peers_per_swarm=self.policy.max_peers_per_swarm
        )
        self.reachability = reachability or ReachabilityTable()
        self.networks = networks or NetworkMap(
            v4_prefix=self.policy.local_prefix_v4, v6_prefix=self.policy.local_prefix_v6
        )

    def announce(
        self,
        request: AnnounceRequest,
        peer_ip: IPv4Address | IPv6Address,
        now: float,
        rng: random.Random,
        *,
        is_origin: bool = False,
        serial: int | None = None,
        include_origins: bool = True,
    ) -> AnnounceResult:
        """Record an admitted announce and select peers for it.

        ``peer_ip`` is the connection's remote address (never the request's ``ip``
        parameter); the peer's port is the announced one. ``is_origin`` marks an
        origin seeder (admitted by SAN ``*``). ``serial`` is the client certificate's:
        the record belongs to it (another serial's announce for the same peer id is
        refused) and it may hold at most ``max_peers_per_serial`` peer ids per swarm
        (origins exempt). ``None`` (pure tests, benchmarks only) binds to no serial.
        ``include_origins`` false leaves the origins out of the list (complete hosts
        serve the film: `SwarmPolicy.origin_backup_hosts`).
        """
        policy = self.policy
        wanted = min(
            policy.numwant_default if request.numwant is None else request.numwant,
            policy.numwant_max,
        )
        address = compact_address(peer_ip, request.port)
        change = PeerChange(
            info_hash=request.info_hash,
            peer_id=request.peer_id,
            address=address,
            role=_role(request, is_origin),
            uploaded=request.uploaded,
            downloaded=request.downloaded,
            completed=request.event is Event.COMPLETED,
            stopped=request.event is Event.STOPPED,
            owner=owner_bytes(serial),
            max_per_owner=0 if is_origin or serial is None else policy.max_peers_per_serial,
        )
        reply = self.store.announce(
            change,
            numwant=math.ceil(wanted * policy.candidates_per_wanted) if wanted else 0,
            expires_at=now + policy.peer_ttl_s,
            origins_for_leechers=policy.origin_always_included,
            rng=rng,
        )
        listed = PeerList(b"", b"")
        if wanted and reply.refusal is None and not change.stopped:
            listed = shape_peer_list(
                reply.member,
                reply.origins if include_origins else (),
                reply.peers,
                ListShape(
                    wanted,
                    policy.max_listed_per_serial,
                    policy.local_share,
                    policy.locality,
                    max_remote=policy.max_listed_remote,
                    local_enough=policy.local_enough,
                    min_connectable=policy.connectable_wanted,
                    remote_share=policy.remote_share,
                ),
                self.reachability.classes,
                self.networks,
            )
        interval = policy.announce_interval_s
        if (
            wanted
            and listed.connectable < policy.lonely_below
            and change.role is Role.LEECHER
            and not change.stopped
            and not self._connectable(reply.member)
        ):
            interval = policy.min_announce_interval_s
        return AnnounceResult(
            interval_s=interval,
            min_interval_s=policy.min_announce_interval_s,
            counts=reply.counts,
            peers=listed.peers,
            peers6=listed.peers6,
            uploaded_delta=_delta(request.uploaded, reply.previous_uploaded),
            downloaded_delta=_delta(request.downloaded, reply.previous_downloaded),
            refusal=reply.refusal,
            address=address,
            same_network=listed.same_network,
            other_network=listed.other_network,
        )

    def _connectable(self, member: bytes) -> bool:
        """Whether one of the member's addresses is known to accept connections."""
        class_of = self.reachability.class_of
        return any(
            a is not None and class_of(a) is Reachability.CONNECTABLE
            for a in member_addresses(member)
        )

    def expire(self, now: float) -> int:
        """Drop peers not heard from for the policy's peer TTL; return how many."""
        self.reachability.expire(now, self.policy.peer_ttl_s)
        return self.store.expire(now)

    def scrape(self, info_hashes: Iterable[bytes]) -> dict[bytes, SwarmCounts]:
        """Counts for each of ``info_hashes`` (BEP 48)."""
        return self.store.scrape(info_hashes)

    def swarms(self) -> Iterator[tuple[bytes, SwarmCounts]]:
        """Every swarm with peers, with its counts."""
        return self.store.swarms()

    def members(self, now: float) -> Iterator[tuple[bytes, list[bytes]]]:
        """Every swarm with its members that are not origins (see `SwarmStore.members`)."""
        return self.store.members(now)
