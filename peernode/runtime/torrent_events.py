"""Typed events of one torrent, as frozen dataclasses (pure: no libtorrent, no trio).

`peernode.runtime.events` makes them from libtorrent alerts; the download
reducer (`peernode.runtime.download_state`) and the `Download` shell consume
them, so both stay free of libtorrent's alert classes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CacheFlushed",
    "FileFailed",
    "HashFailed",
    "PeerBanned",
    "PieceVerified",
    "ResumeDataFailed",
    "ResumeDataSaved",
    "TorrentEvent",
    "TorrentFailed",
    "TorrentFinished",
    "TorrentRemoved",
    "TrackerFailed",
    "TrackerReplied",
]


@dataclass(frozen=True, slots=True)
class PieceVerified:
    """A piece passed its hash check and is on its way to disk."""

    film_id: str
    piece: int


@dataclass(frozen=True, slots=True)
class CacheFlushed:
    """The disk thread wrote the torrent's verified blocks to its file (asked by
    ``flush_cache``)."""

    film_id: str


@dataclass(frozen=True, slots=True)
class TorrentFinished:
    """Every wanted piece is verified."""

    film_id: str


@dataclass(frozen=True, slots=True)
class HashFailed:
    """A piece failed its hash check; its blocks are requested again."""

    film_id: str
    piece: int


@dataclass(frozen=True, slots=True)
class PeerBanned:
    """A peer was banned for sending corrupt data; ``address`` is HOST:PORT."""

    film_id: str
    address: str


@dataclass(frozen=True, slots=True)
class ResumeDataSaved:
    """Resume data was generated (bencoded ``resume_data``), not yet written to disk."""

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


TorrentEvent = (
    PieceVerified
    | CacheFlushed
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
)
