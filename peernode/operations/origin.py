"""The origin seeder run by operations: seeds every film of a library directory.

New ``*.torrent`` files dropped into the library are picked up while running.
Its peer id carries the origin fingerprint so clients can count its bytes
apart (they are the ones the CDN bills).

Super-seeding (BEP 16) makes the origin offer each piece to one peer at a
time, so it sends about one copy of the film while peers spread it (measured
1.04 copies for 8 clients, against 1.2-1.4 with normal seeding). libtorrent
2.1.1 however sends nothing on a super-seeded connection for its first 10 s:
`bt_peer_connection` writes the "bitfield" (the first HAVEs) while it still
counts as in the handshake, `superseed_piece` then returns early, and only
the 10 s not-interested timer in `peer_connection::second_tick` offers a piece.
In a flash crowd everyone waits those 10 s. So a super-seeding origin runs a
second, normally seeding session beside it (the *warm start*): it serves
while the super-seeder is silent, and hands the film's customers over as soon as
the super-seeder sends bytes for it (``warm_handover="peer"``: each customer as
the super-seeder starts sending to it, `peernode.operations.warm_handover`).
The upload cap is split by the customers each session serves (the super-seeder
never under a tenth), so the origin never sends more than its cap. Measured
(8 clients, 64 MiB, all capped at 4 MB/s): p95 completion 1.92x T_min with plain
super-seeding, 1.30x with the warm start.

Connections per IP are bounded. The origin keeps libtorrent's
``allow_multiple_connections_per_ip`` (customers behind one NAT, simulations on
loopback), and libtorrent has no per-IP limit, so one renter could open
connection after connection until the origin's connection limit is theirs and
every other film starves. Once a second the origin counts its connections by
remote IP (every film, both sessions); an IP over ``max_connections_per_ip`` is
put in the sessions' IP filter for ``ip_block_s``, which closes its connections
and refuses new ones at accept, before any TLS handshake.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import libtorrent as lt
import trio

from peernode.errors import PeernodeError
from peernode.operations.origin_reachability import ReachabilityFeed, ReachableClasses
from peernode.operations.origin_tick import origin_tick_ms
from peernode.operations.reachability_priority import reachability_change
from peernode.operations.swarm_copies import min_availability, origin_film_limit
from peernode.operations.warm_handover import WarmHandover, split_upload_cap
from peernode.runtime.connection_ages import DEFAULT_MAX_CONNECTION_AGE_S
from peernode.runtime.node import Node, NodeConfig, load_torrent, open_node
from peernode.runtime.session_settings import Transport

__all__ = ["IpBlocks", "OriginConfig", "OriginStats", "serve_origin"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OriginConfig:
    """An origin seeder. Rates in bytes/s (0 = unlimited)."""

    library: Path
    cert_pem: bytes
    key_pem: bytes
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    upload_rate_bps: int = 0
    super_seeding: bool = False
    warm_start: bool = True
    rescan_interval_s: float = 2.0
    transport: Transport = "tcp"
    limit_local_peers: bool = False
    max_connections_per_ip: int = 8
    """Connections one remote IP may hold (all films together; 0: no bound)."""
    ip_block_s: float = 60.0
    """How long an IP over the bound is refused."""
    max_connection_age_s: float | None = DEFAULT_MAX_CONNECTION_AGE_S
    """Peer connections older than this are ended and made again, so a customer whose
    rental was revoked keeps none. Must be at most a fifth of the rental service's
    ``cert_lifetime_s`` (the default is a fifth of its default, 2 h): its certificates
    last the other 0.8, so revocation reaches the origin within one lifetime; None: never."""
    warm_handover: Literal["peer", "film"] = "film"
    """Hand a film's customers over from the warm start all at once at the super-seeder's
    first byte, or one by one (`peernode.operations.warm_handover`). Film-wide is the
    default by measurement (flash-crowd.toml, 3 seeds twice: 1.14-1.16 origin copies
    against 1.17-1.24 one by one, whose warm session serves the later customers longer
    and sends more duplicates; p95 from start 1.40 against 1.37 x T_min)."""
    step_back_copies: int = 2
    """Once every piece of a film is held by this many connected customers, the
    origin's upload for it drops to a trickle (`peernode.operations.swarm_copies`);
    0: never."""
    tick_ms: int | None = None
    """libtorrent's tick of both sessions, ms; None: fast for a few customers, slow in a
    crowd (`peernode.operations.origin_tick`)."""
    reachability_url: str | None = None
    """The tracker's unreachable list (`origin_reachability.reachability_url`): those
    customers get the origin's bytes last (`peernode.operations.reachability_priority`);
    None: everyone alike."""
    reachability_poll_s: float = 5.0
    """How often the tracker's list is read."""


class IpBlocks:
    """Which remote IPs are refused, and until when (pure: time is a parameter)."""

    def __init__(self, max_per_ip: int, block_s: float) -> None:
        self.max_per_ip = max_per_ip
        self.block_s = block_s
        self.until: dict[str, float] = {}

    def update(self, remote_ips: Iterable[str], now: float) -> tuple[list[str], bool]:
        """Count the connections' remote IPs; return the IPs newly over the bound and
        whether the blocked set changed (expired blocks are lifted)."""
        expired = [ip for ip, until in self.until.items() if until <= now]
        for ip in expired:
            del self.until[ip]
        if self.max_per_ip <= 0:
            return [], bool(expired)
        over = sorted(ip for ip, n in Counter(remote_ips).items()
                      if n > self.max_per_ip and ip not in self.until)
        for ip in over:
            self.until[ip] = now + self.block_s
        return over, bool(over or expired)

    def ip_filter(self, also: Iterable[str] = ()) -> lt.ip_filter:
        """The libtorrent IP filter that refuses every blocked IP (and ``also``)."""
        f = lt.ip_filter()
        for ip in {*self.until, *also}:
            f.add_rule(ip, ip, 1)  # 1: blocked
        return f


@dataclass(frozen=True)
class OriginStats:
    """Bytes the origin uploaded per film since it started."""

    uploaded_bytes: dict[str, int]
    peers: dict[str, int]


class _Library:
    """The films being seeded, keyed by film id (and their warm-start handles)."""

    def __init__(self, node: Node, warm: Node | None, config: OriginConfig) -> None:
        self._node = node
        self._warm = warm
        self._config = config
        self.handles: dict[str, lt.torrent_handle] = {}
        self.warm_handles: dict[str, lt.torrent_handle] = {}
        # Warm starts a film-wide handover ended: paused, their upload counts still the film's.
        self._warm_ended: dict[str, lt.torrent_handle] = {}
        self._film_limits: dict[str, int] = {}
        self._num_pieces: dict[str, int] = {}
        self.handover = WarmHandover()
        self._shares = (0, 0)
        self._ticks: dict[int, int] = {}
        self._bad: set[Path] = set()
        self.unreachable: frozenset[str] = frozenset()
        self.reconnecting: frozenset[str] = frozenset()
        """IPs whose connections are being remade under a new peer class (blocked for
        one turn of the loop)."""

    def _add(self, node: Node, ti: lt.torrent_info, flags: int) -> lt.torrent_handle:
        return node.add_seed(ti, save_path=self._config.library, cert_pem=self._config.cert_pem,
                             key_pem=self._config.key_pem, flags=flags)

    def scan(self) -> None:
        for path in sorted(self._config.library.glob("*.torrent")):
            if path.stem in self.handles or path in self._bad:
                continue
            try:
                ti = load_torrent(path)
                flags = lt.torrent_flags.super_seeding if self._config.super_seeding else 0
                self.handles[ti.name()] = self._add(self._node, ti, flags)
                self._num_pieces[ti.name()] = ti.num_pieces()
                if self._warm is not None:
                    self.warm_handles[ti.name()] = self._add(self._warm, ti, 0)
            except PeernodeError as e:
                self._bad.add(path)
                log.error("skipping %s: %s", path.name, e)
                continue
            log.info("seeding %s (%d bytes)", ti.name(), ti.total_size())

    def hand_over(self) -> bool:
        """Hand the customers the super-seeder now sends to over from the warm start;
        returns whether that set changed (the warm session's IP filter must follow)."""
        if self._warm is None:
            return False
        if self._config.warm_handover == "film":
            self._end_warm_starts()
            return False
        return self.handover.update(
            (peer.ip[0], int(peer.total_upload))
            for handle in self.handles.values() for peer in handle.get_peer_info()
        )

    def _end_warm_starts(self) -> None:
        """Film-wide handover: pause a film's warm start once its super-seeder sends."""
        for film_id, warm in list(self.warm_handles.items()):
            if self.handles[film_id].status().upload_payload_rate > 0:
                warm.pause()
                self._warm_ended[film_id] = self.warm_handles.pop(film_id)
                log.info("%s: super-seeding is sending; warm start ended", film_id)

    def step_back(self) -> None:
        """Limit a film's upload to a trickle while its customers hold enough copies."""
        copies = self._config.step_back_copies
        if copies <= 0 or self._config.upload_rate_bps <= 0:
            return
        for film_id, handle in self.handles.items():
            peers = handle.get_peer_info()
            available = min_availability((p.pieces for p in peers),
                                         self._num_pieces[film_id]) if peers else 0
            limit = origin_film_limit(self._config.upload_rate_bps, available, copies=copies)
            if limit == self._film_limits.get(film_id, 0):
                continue
            self._film_limits[film_id] = limit
            for h in (handle, self.warm_handles.get(film_id)):
                if h is not None:
                    h.set_upload_limit(limit)
            log.info("%s: %s", film_id, f"every piece held by {copies}+ customers: upload "
                     f"limited to {limit} B/s" if limit else "a piece got scarce: full upload")

    def split_upload_cap(self) -> None:
        """Share the origin's cap by the customers each session serves."""
        if self._warm is None or self._config.upload_rate_bps <= 0:
            return
        warm_ips = [peer.ip[0] for handle in self.warm_handles.values()
                    for peer in handle.get_peer_info()]
        waiting = len(self.handover.waiting(warm_ips))
        shares = split_upload_cap(self._config.upload_rate_bps, waiting,
                                  len(self.handover.handed))
        if shares == self._shares:
            return
        self._shares = shares
        self._node.session.apply_settings({"upload_rate_limit": shares[0]})
        self._warm.session.apply_settings({"upload_rate_limit": shares[1]})

    def pace(self) -> None:
        """Set each session's tick for the customers it is serving now (a fixed
        ``tick_ms`` once: its customers are then counted only for that log line)."""
        fixed = self._config.tick_ms
        sessions: list[tuple[lt.session, Iterable[lt.torrent_handle]]] = [
            (self._node.session, self.handles.values())]
        if self._warm is not None:
            sessions.append((self._warm.session, self.warm_handles.values()))
        for i, (session, handles) in enumerate(sessions):
            if fixed is not None and self._ticks.get(i) == fixed:
                continue  # already set: no need to walk every peer of every handle again
            downloading = sum(1 for handle in handles for peer in handle.get_peer_info()
                              if not peer.flags & lt.peer_info.seed)
            tick = fixed if fixed is not None else origin_tick_ms(downloading)
            if self._ticks.get(i) != tick:
                self._ticks[i] = tick
                session.apply_settings({"tick_interval": tick})
                log.info("%s session: tick %d ms (%d customers downloading)",
                         "warm" if i else "main", tick, downloading)

    def remote_ips(self) -> list[str]:
        """The remote IP of every peer connection of both sessions."""
        handles = [*self.handles.values(), *self.warm_handles.values()]
        return [peer.ip[0] for handle in handles for peer in handle.get_peer_info()]

    def sessions(self) -> list[lt.session]:
        return [self._node.session] + ([self._warm.session] if self._warm else [])

    def stats(self) -> OriginStats:
        """Payload bytes sent per film by both sessions (an ended warm start's too)."""
        uploaded: dict[str, int] = {}
        peers: dict[str, int] = {}
        for film_id, handle in self.handles.items():
            st = handle.status()
            uploaded[film_id] = int(st.total_payload_upload)
            peers[film_id] = int(st.num_peers)
            warm = self.warm_handles.get(film_id) or self._warm_ended.get(film_id)
            if warm is not None:
                warm_st = warm.status()
                uploaded[film_id] += int(warm_st.total_payload_upload)
                peers[film_id] += int(warm_st.num_peers)
        return OriginStats(uploaded, peers)


async def serve_origin(
    config: OriginConfig,
    *,
    on_stats: Callable[[OriginStats], None] | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Seed the library until cancelled; ``task_status.started((host, ssl_port))``.

    ``on_stats`` is called once a second with the per-film upload counters.
    Raises `PeernodeError` if the library does not exist or the port is taken.
    """
    if not config.library.is_dir():
        raise PeernodeError(f"library {config.library} is not a directory")
    node_config = NodeConfig(
        listen_host=config.listen_host,
        listen_port=config.listen_port,
        upload_rate_bps=config.upload_rate_bps,
        transport=config.transport,
        origin=True,
        limit_local_peers=config.limit_local_peers,
        max_connection_age_s=config.max_connection_age_s,
    )
    async with AsyncExitStack() as stack:
        node = await stack.enter_async_context(open_node(node_config))
        warm = None
        if config.super_seeding and config.warm_start:
            warm = await stack.enter_async_context(open_node(replace(node_config, listen_port=0)))
        library = _Library(node, warm, config)
        feed = None
        if config.reachability_url is not None:
            classes = ReachableClasses(library.sessions(),
                                       limit_local_peers=config.limit_local_peers)
            feed = ReachabilityFeed(config.reachability_url, config.reachability_poll_s)
            nursery = await stack.enter_async_context(trio.open_nursery())
            nursery.start_soon(feed.run)
        library.scan()
        library.split_upload_cap()
        library.pace()
        # Handing over every half second: a customer's warm connection closes at most
        # that long after its super-seeded one started sending.
        task_status.started((config.listen_host, node.ssl_port))
        blocks = IpBlocks(config.max_connections_per_ip, config.ip_block_s)
        next_scan = trio.current_time() + config.rescan_interval_s
        next_second = trio.current_time()
        while True:
            await trio.sleep(0.5)
            handed_changed = library.hand_over()
            library.split_upload_cap()
            library.pace()
            if library.reconnecting:  # their connections closed one turn ago: let them in
                library.reconnecting = frozenset()
                handed_changed = True
            if feed is not None and feed.latest is not None:
                change = reachability_change(library.unreachable, feed.latest,
                                             library.remote_ips())
                if change is not None:
                    classes.apply(change.unreachable)
                    library.unreachable = change.unreachable
                    library.reconnecting = change.reconnect
                    handed_changed = handed_changed or bool(change.reconnect)
                    log.info("%d customer IPs the tracker found unreachable are served "
                             "last (%d reconnected)", len(change.unreachable),
                             len(change.reconnect))
            if trio.current_time() < next_second:
                if handed_changed:
                    _apply_filters(library, blocks)
                continue
            next_second += 1.0
            _bound_connections_per_ip(library, blocks, trio.current_time(), handed_changed)
            if trio.current_time() >= next_scan:
                library.scan()
                next_scan = trio.current_time() + config.rescan_interval_s
            library.step_back()
            if on_stats is not None:
                on_stats(library.stats())


def _bound_connections_per_ip(library: _Library, blocks: IpBlocks, now: float,
                              handed_changed: bool) -> None:
    over, changed = blocks.update(library.remote_ips(), now)
    for ip in over:
        log.warning("%s holds more than %d connections: refused for %g s",
                    ip, blocks.max_per_ip, blocks.block_s)
    if changed or handed_changed:
        _apply_filters(library, blocks)


def _apply_filters(library: _Library, blocks: IpBlocks) -> None:
    """Blocked IPs leave both sessions; handed-over customers leave the warm one."""
    sessions = library.sessions()
    sessions[0].set_ip_filter(blocks.ip_filter(also=library.reconnecting))
    for warm in sessions[1:]:
        warm.set_ip_filter(blocks.ip_filter(also=library.handover.handed | library.reconnecting))
