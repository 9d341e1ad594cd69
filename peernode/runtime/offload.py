"""Offload accounting: which bytes came from the (CDN-billed) origin, which from peers.

Pure: fed with samples of libtorrent's per-peer payload counters (`PeersSampled`,
made by the `peernode.runtime.download` shell every half second while the film
downloads); who is an origin is decided where the sample is read (by the peer
id prefix).

Why counters and not alerts: a block alert per 16 KiB (~17k per 256 MiB)
cost the node a fifth more CPU than a bare libtorrent transfer. A sample is
one call per half second, whatever the rate.

Three libtorrent facts (2.1, read in its source and measured) shape the counting:

* a peer's counter vanishes when it disconnects: what it sent since the last
  sample is not attributable. The torrent's own payload counter, read right
  after the peers, covers every byte, so the rest of it is counted as origin
  bytes (``bytes_unattributed``): offload is never overstated;
* a peer reconnecting to an entry libtorrent still knows starts its new
  connection's counter at the old one's total, rounded down to KiB
  (``prev_amount_download``); an entry it dropped (an IP filter, a full
  peer list) starts at zero. Which of the two happened cannot be read, so a
  new connection from an address is assumed to carry the largest earlier
  connection's last sample it can hold, rounded up to KiB: a wrong guess and
  the rounding only move bytes from the peer to the origin;
* the torrent's counter restarts at zero when the torrent is resumed after a
  pause: a smaller reading starts a new epoch.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

__all__ = ["OffloadCounter", "PeerBytes", "PeerSample", "PeersSampled", "normal_address"]

_KIB = 1024


@dataclass(frozen=True, slots=True)
class PeerSample:
    """One connected peer's payload counter at the moment of a sample.

    ``remote`` and ``local`` (HOST:PORT of both ends) tell connections apart;
    ``address`` is the remote IP (IPv6 without brackets); ``downloaded`` the
    payload bytes libtorrent counted on this connection.
    """

    remote: str
    local: str
    address: str
    origin: bool
    downloaded: int


@dataclass(frozen=True, slots=True)
class PeersSampled:
    """Every connected peer of a torrent, then the torrent's own payload counter.

    ``torrent_downloaded``: payload bytes received this session (since added or
    resumed), read *after* the peers, so it covers every byte they counted.
    """

    film_id: str
    peers: tuple[PeerSample, ...]
    torrent_downloaded: int


@dataclass(frozen=True, slots=True)
class PeerBytes:
    """Payload bytes received from one remote address (this run)."""

    address: str
    bytes: int
    origin: bool

    def to_json(self) -> dict[str, object]:
        return {"address": self.address, "bytes": self.bytes, "origin": self.origin}


def normal_address(ip: str) -> str:
    """An IP as the report shows it: IPv4-mapped IPv6 as IPv4, IPv6 compressed, no brackets."""
    try:
        parsed = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return ip
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


@dataclass
class _Connection:
    address: str
    origin: bool
    base: int  # the part of the counter assumed carried from an earlier connection
    last: int = 0
    credit: int = 0  # bytes credited to the peer: last - base, never below 0


@dataclass
class OffloadCounter:
    """Bytes received from origin peers vs other peers, for one download.

    ``bytes_from_origin`` and ``bytes_from_peers`` start at the counts of earlier
    runs (kept across restarts); `on_sample` adds what this run received.
    """

    origin_before: int = 0
    peers_before: int = 0
    _live: dict[tuple[str, str], _Connection] = field(default_factory=dict)
    _closed: dict[str, list[int]] = field(default_factory=dict)  # address -> last samples
    _credited: dict[tuple[str, bool], int] = field(default_factory=dict)
    _credited_epoch: int = 0
    _epoch_total: int = 0
    _unattributed_before: int = 0

    # -- feeding ---------------------------------------------------------------
    def on_sample(self, sample: PeersSampled) -> None:
        """Count a sample of the peers' and the torrent's payload counters."""
        if sample.torrent_downloaded < self._epoch_total:
            self._unattributed_before += self._unattributed_epoch()
            self._credited_epoch = 0
        self._epoch_total = sample.torrent_downloaded
        present = {(p.remote, p.local) for p in sample.peers}
        for key in [k for k in self._live if k not in present]:
            self._close(key)
        for peer in sample.peers:
            self._count(peer)

    def on_late_total(self, torrent_downloaded: int) -> None:
        """Count payload that arrived after the last peer sample (blocks in flight
        at completion, redundant): no peer's counter is read any more, so they
        are unattributed, counted as origin bytes, and the account still sums to
        the torrent's counter."""
        if torrent_downloaded > self._epoch_total:
            self._epoch_total = torrent_downloaded

    def _count(self, peer: PeerSample) -> None:
        key = (peer.remote, peer.local)
        conn = self._live.get(key)
        if conn is not None and peer.downloaded < conn.last:
            self._close(key)  # the same pair of endpoints, a new connection (uTP)
            conn = None
        if conn is None:
            conn = _Connection(peer.address, peer.origin,
                               self._take_carry(peer.address, peer.downloaded))
            self._live[key] = conn
        if peer.origin != conn.origin:  # its peer id was not known yet
            self._credit(conn, -conn.credit)
            conn.origin = peer.origin
            conn.credit = 0
        conn.last = peer.downloaded
        self._credit(conn, max(0, conn.last - conn.base) - conn.credit)

    def _credit(self, conn: _Connection, delta: int) -> None:
        if delta:
            source = (conn.address, conn.origin)
            self._credited[source] = self._credited.get(source, 0) + delta
            self._credited_epoch += delta
            conn.credit += delta

    def _close(self, key: tuple[str, str]) -> None:
        conn = self._live.pop(key)
        if conn.last > 0:
            self._closed.setdefault(conn.address, []).append(conn.last)

    def _take_carry(self, address: str, downloaded: int) -> int:
        """What a new connection from ``address``, whose counter reads ``downloaded``,
        is assumed to carry from a closed one (the part not credited again).

        libtorrent carries ``floor_KiB(F)`` of the old connection's final count F,
        which is at least its last sample L: a counter below ``floor_KiB(L)`` of
        every closed connection started at zero. Otherwise the largest such L is
        taken, as ``min(ceil_KiB(L), downloaded)``: the bytes the two connections are
        credited with then never exceed what they counted (F - L is unattributed).
        """
        closed = self._closed.get(address)
        if not closed:
            return 0
        fits = [last for last in closed if last // _KIB * _KIB <= downloaded]
        if not fits:
            return 0
        taken = max(fits)
        closed.remove(taken)
        return min(-(-taken // _KIB) * _KIB, downloaded)

    def _unattributed_epoch(self) -> int:
        return max(0, self._epoch_total - self._credited_epoch)

    # -- results ---------------------------------------------------------------
    @property
    def bytes_unattributed(self) -> int:
        """Bytes of this run no peer's counter accounts for (counted as origin bytes)."""
        return self._unattributed_before + self._unattributed_epoch()

    @property
    def bytes_from_origin(self) -> int:
        credited = sum(n for (_, origin), n in self._credited.items() if origin)
        return self.origin_before + credited + self.bytes_unattributed

    @property
    def bytes_from_peers(self) -> int:
        credited = sum(n for (_, origin), n in self._credited.items() if not origin)
        return self.peers_before + credited

    @property
    def bytes_received(self) -> int:
        return self.bytes_from_origin + self.bytes_from_peers

    @property
    def offload(self) -> float:
        """Fraction of received bytes that did not come from the origin (0 when nothing came)."""
        total = self.bytes_received
        return self.bytes_from_peers / total if total else 0.0

    def received_by_peer(self) -> tuple[PeerBytes, ...]:
        """Bytes credited to each remote address this run, largest first."""
        rows = [PeerBytes(address, n, origin)
                for (address, origin), n in self._credited.items() if n > 0]
        return tuple(sorted(rows, key=lambda r: (-r.bytes, r.address, r.origin)))
