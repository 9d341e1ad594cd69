"""Typed events made from libtorrent alerts (pure: no I/O, no trio).

The alert pump hands every alert to `alert_to_event`; the rest of the node
only sees these frozen dataclasses, never libtorrent's alert classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import libtorrent as lt

__all__ = [
    "BlockRequested",
    "Event",
    "ExternalAddressLearned",
    "FileFailed",
    "HashFailed",
    "PeerBanned",
    "PieceVerified",
    "PortMapFailed",
    "PortMapped",
    "ResumeDataFailed",
    "ResumeDataSaved",
    "TorrentFailed",
    "TorrentFinished",
    "TorrentRemoved",
    "TrackerFailed",
    "TrackerReplied",
    "alert_to_event",
]



@dataclass(frozen=True, slots=True)
class BlockRequested:
    """A 16 KiB block (the last one may be shorter) was requested from a peer."""

    film_id: str
    piece: int
    block: int
    peer_id: bytes


@dataclass(frozen=True, slots=True)
class PieceVerified:
    """A piece passed its hash check and is on its way to disk."""

    film_id: str
    piece: int


@dataclass(frozen=True, slots=True)
class TorrentFinished:
    film_id: str


@dataclass(frozen=True, slots=True)
class HashFailed:
    film_id: str
    piece: int


@dataclass(frozen=True, slots=True)
class PeerBanned:
    film_id: str
    address: str


@dataclass(frozen=True, slots=True)
class ResumeDataSaved:
    film_id: str
    resume_data: bytes


@dataclass(frozen=True, slots=True)
class ResumeDataFailed:
    film_id: str
    message: str


@dataclass(frozen=True, slots=True)
class TrackerReplied:
    film_id: str
    num_peers: int


@dataclass(frozen=True, slots=True)
class TrackerFailed:
    film_id: str
    message: str
    times_in_row: int


@dataclass(frozen=True, slots=True)
class FileFailed:
    """A disk error (e.g. the disk is full): libtorrent pauses the torrent."""

    film_id: str
    message: str


@dataclass(frozen=True, slots=True)
class TorrentFailed:
    film_id: str
    message: str


@dataclass(frozen=True, slots=True)
class TorrentRemoved:
    film_id: str


@dataclass(frozen=True, slots=True)
class PortMapped:
    """The router forwards ``external_port`` to the node (session-wide: no film).

    ``protocol`` is "upnp" or "natpmp", ``transport`` "tcp" or "udp".
    """

    protocol: str
    transport: str
    external_port: int


@dataclass(frozen=True, slots=True)
class PortMapFailed:
    """A router refused (or a protocol gave up on) the port mapping."""

    protocol: str
    message: str


@dataclass(frozen=True, slots=True)
class ExternalAddressLearned:
    """The node's public address as a router (or peers) reported it."""

    address: str


Event = (
    BlockRequested
    | PieceVerified
    | TorrentFinished
    | HashFailed
    | PeerBanned
    | ResumeDataSaved
    | ResumeDataFailed
    | TrackerReplied
    | TrackerFailed
    | FileFailed
    | TorrentFailed
    | TorrentRemoved
    | PortMapped
    | PortMapFailed
    | ExternalAddressLearned
)


def _endpoint(a: lt.peer_alert) -> str:
    ip, port = a.endpoint
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# libtorrent's errors::announce_skipped: a node listening on every interface
# announces from each listen socket, and one that cannot route to the tracker
# (an IPv6 socket and an IPv4 tracker, loopback and a remote one) is skipped
# while another announces; that is no failure to report.
_ANNOUNCE_SKIPPED = 180


def _is_announce_skipped(error: lt.error_code) -> bool:
    return error.value() == _ANNOUNCE_SKIPPED and error.category().name() == "libtorrent"


def alert_to_event(a: lt.alert) -> Event | None:
    """The typed event for an alert the node cares about, else None."""
    # Ordered by frequency: block alerts dominate a download.
    if isinstance(a, lt.block_downloading_alert):
        return BlockRequested(a.torrent_name, a.piece_index, a.block_index, a.pid.to_bytes())
    if isinstance(a, lt.piece_finished_alert):
        return PieceVerified(a.torrent_name, a.piece_index)
    if isinstance(a, lt.torrent_finished_alert):
        return TorrentFinished(a.torrent_name)
    if isinstance(a, lt.save_resume_data_alert):
        return ResumeDataSaved(a.torrent_name, lt.write_resume_data_buf(a.params))
    if isinstance(a, lt.save_resume_data_failed_alert):
        return ResumeDataFailed(a.torrent_name, a.message())
    if isinstance(a, lt.hash_failed_alert):
        return HashFailed(a.torrent_name, a.piece_index)
    if isinstance(a, lt.peer_ban_alert):
        return PeerBanned(a.torrent_name, _endpoint(a))
    if isinstance(a, lt.tracker_reply_alert):
        return TrackerReplied(a.torrent_name, a.num_peers)
    if isinstance(a, lt.tracker_error_alert):
        if _is_announce_skipped(a.error):
            return None
        reason = a.failure_reason() or a.error.message()
        return TrackerFailed(a.torrent_name, reason, a.times_in_row)
    if isinstance(a, lt.file_error_alert):
        return FileFailed(a.torrent_name, f"{a.filename()}: {a.error.message()}")
    if isinstance(a, lt.torrent_error_alert):
        return TorrentFailed(a.torrent_name, a.error.message())
    if isinstance(a, lt.torrent_removed_alert):
        return TorrentRemoved(a.torrent_name)
    if isinstance(a, lt.portmap_alert):
        return PortMapped(str(a.map_transport), str(a.map_protocol), a.external_port)
    if isinstance(a, lt.portmap_error_alert):
        return PortMapFailed(str(a.map_transport), a.error.message())
    if isinstance(a, lt.external_ip_alert):
        return ExternalAddressLearned(str(a.external_address))
    return None
