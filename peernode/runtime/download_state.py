"""The state of one download as a pure reducer: ``reduce(state, event, now) -> state``.

The `peernode.runtime.download.Download` shell feeds it the torrent's events
(`peernode.runtime.torrent_events`), the status it polls from libtorrent
(`StatusPolled`) and the end of the rental (`RentalEnded`); `download_stats`
derives the `DownloadStats` snapshot. Offload accounting (which bytes came
from the origin) is the `OffloadCounter` fed alongside with samples of the
peers' counters; its per-connection bookkeeping is not copied on every event.
``now`` is the shell's clock in seconds (any monotonic origin); no libtorrent,
no trio, no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from peernode.runtime.offload import PeerBytes
from peernode.runtime.torrent_events import (
    FileFailed,
    HashFailed,
    TorrentEvent,
    TorrentFailed,
    TorrentFinished,
)

__all__ = [
    "REDUCED_EVENTS",
    "DownloadEvent",
    "DownloadState",
    "DownloadStats",
    "RentalEnded",
    "RentalRenewed",
    "SavedCounters",
    "StatusPolled",
    "TorrentStatus",
    "download_stats",
    "initial_state",
    "reduce",
    "rental_over",
    "saved_counters",
    "seconds_until_rental_ends",
]


@dataclass(frozen=True)
class DownloadStats:
    """A snapshot of one download; rates in bytes/s, times in seconds.

    ``bytes_from_origin`` includes ``bytes_unattributed``: payload no peer's
    counter accounts for (a peer that left between two samples). ``received_by_peer``
    is what each remote address sent this run, largest first.
    """

    film_id: str
    state: str
    progress: float
    total_bytes: int
    done_bytes: int
    download_rate_bps: int
    upload_rate_bps: int
    peers: int
    bytes_from_origin: int
    bytes_from_peers: int
    bytes_uploaded: int
    bytes_downloaded_session: int
    hash_failures: int
    seconds: float
    complete: bool
    rental_not_after: datetime
    error: str | None = None
    bytes_unattributed: int = 0
    received_by_peer: tuple[PeerBytes, ...] = ()
    renewal: Mapping[str, object] | None = None
    """The certificate renewal's status (`peernode.runtime.renewal_schedule.RenewalStatus`
    as JSON), None before it started."""

    @property
    def eta_s(self) -> float | None:
        """Seconds to completion at the current rate (None if unknown)."""
        if self.complete:
            return 0.0
        if self.download_rate_bps <= 0:
            return None
        return (self.total_bytes - self.done_bytes) / self.download_rate_bps

    def summary(self) -> dict[str, object]:
        """The JSON summary promised by ``peernode fetch --json``."""
        return {
            "film_id": self.film_id,
            "complete": self.complete,
            "state": self.state,
            "seconds": round(self.seconds, 3),
            "bytes_total": self.total_bytes,
            "bytes_from_origin": self.bytes_from_origin,
            "bytes_from_peers": self.bytes_from_peers,
            "bytes_uploaded": self.bytes_uploaded,
            "bytes_downloaded_session": self.bytes_downloaded_session,
            "hash_failures": self.hash_failures,
            "rental_not_after": self.rental_not_after.isoformat(),
            "error": self.error,
            "bytes_unattributed": self.bytes_unattributed,
            "received_by_peer": [peer.to_json() for peer in self.received_by_peer],
            "renewal": None if self.renewal is None else dict(self.renewal),
        }


@dataclass(frozen=True, slots=True)
class TorrentStatus:
    """What a download needs of libtorrent's torrent status; bytes, bytes/s.

    ``state`` is ``checking``, ``downloading`` or ``seeding``; ``uploaded_bytes``
    and ``downloaded_bytes`` count payload since the torrent was added (this run);
    ``error`` is the torrent's error message, None when there is none.
    """

    state: str
    paused: bool
    is_seeding: bool
    progress: float
    done_bytes: int
    download_rate_bps: int
    upload_rate_bps: int
    peers: int
    uploaded_bytes: int
    downloaded_bytes: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StatusPolled:
    """The shell read the torrent's status; None: the handle is gone (removed)."""

    status: TorrentStatus | None


@dataclass(frozen=True, slots=True)
class RentalEnded:
    """The rental's notAfter passed: sharing stops, the key is no longer used."""


@dataclass(frozen=True, slots=True)
class RentalRenewed:
    """A renewed certificate was set: the rental now ends at ``not_after`` (and a download
    that stopped sharing when the old one expired shares again)."""

    not_after: datetime


DownloadEvent = TorrentEvent | StatusPolled | RentalEnded | RentalRenewed


@dataclass(frozen=True, slots=True)
class SavedCounters:
    """Counters kept across restarts (bytes, seconds of earlier runs)."""

    bytes_from_origin: int = 0
    bytes_from_peers: int = 0
    bytes_uploaded: int = 0
    seconds: float = 0.0

    def to_record(self) -> dict[str, int | float]:
        """The record the shell writes (msgpack) next to the resume data."""
        return {"origin": self.bytes_from_origin, "peers": self.bytes_from_peers,
                "uploaded": self.bytes_uploaded, "seconds": self.seconds}

    @classmethod
    def from_record(cls, raw: Mapping[str, Any]) -> SavedCounters:
        """Read `to_record`'s output; `ValueError`, `KeyError` or `TypeError` if damaged."""
        return cls(int(raw["origin"]), int(raw["peers"]), int(raw["uploaded"]),
                   float(raw["seconds"]))


@dataclass(frozen=True, slots=True)
class DownloadState:
    """Everything known about one download but the offload bookkeeping.

    ``started_at`` and ``finished_at`` are clock readings (seconds); ``started_at``
    is moved back by the seconds of earlier runs so elapsed time adds up across
    restarts. ``status`` is the last one polled (None before the first poll or
    once the handle is gone).
    """

    film_id: str
    total_bytes: int
    rental_not_after: datetime
    started_at: float
    uploaded_before: int = 0
    finished_at: float | None = None
    hash_failures: int = 0
    error: str | None = None
    expired: bool = False
    status: TorrentStatus | None = None

    @property
    def finished(self) -> bool:
        """Every piece verified (libtorrent said so, or the torrent is seeding)."""
        return self.finished_at is not None


def initial_state(
    film_id: str,
    total_bytes: int,
    rental_not_after: datetime,
    now: float,
    saved: SavedCounters | None = None,
) -> DownloadState:
    """The state of a download added at clock time ``now``, continuing ``saved`` counters."""
    saved = saved or SavedCounters()
    return DownloadState(film_id, total_bytes, rental_not_after,
                         started_at=now - saved.seconds, uploaded_before=saved.bytes_uploaded)


def _finish(state: DownloadState, now: float) -> DownloadState:
    return state if state.finished else replace(state, finished_at=now)


def _finished(state: DownloadState, _event: Any, now: float) -> DownloadState:
    return _finish(state, now)


def _hash_failed(state: DownloadState, _event: Any, _now: float) -> DownloadState:
    return replace(state, hash_failures=state.hash_failures + 1)


def _failed(state: DownloadState, event: FileFailed | TorrentFailed, _now: float) -> DownloadState:
    return replace(state, error=event.message)


def _rental_ended(state: DownloadState, _event: Any, _now: float) -> DownloadState:
    return state if state.expired else replace(state, expired=True)


def _rental_renewed(state: DownloadState, event: RentalRenewed, _now: float) -> DownloadState:
    return replace(state, rental_not_after=max(state.rental_not_after, event.not_after),
                   expired=False)


def _polled(state: DownloadState, event: StatusPolled, now: float) -> DownloadState:
    state = replace(state, status=event.status)
    # A torrent resumed complete finishes without an alert: seeding says it.
    if event.status is not None and event.status.is_seeding:
        state = _finish(state, now)
    return state


# Event class -> how it changes the state; every other event leaves it as it is.
_REDUCERS: dict[type[Any], Callable[[DownloadState, Any, float], DownloadState]] = {
    TorrentFinished: _finished,
    HashFailed: _hash_failed,
    FileFailed: _failed,
    TorrentFailed: _failed,
    RentalEnded: _rental_ended,
    RentalRenewed: _rental_renewed,
    StatusPolled: _polled,
}

# The event classes `reduce` does something with (the shell skips the others).
REDUCED_EVENTS: frozenset[type[Any]] = frozenset(_REDUCERS)


def reduce(state: DownloadState, event: DownloadEvent | object, now: float) -> DownloadState:
    """The state after ``event`` happened at clock time ``now`` (seconds).

    Any event is accepted: one not in the table (`REDUCED_EVENTS`), e.g. a
    node-level event, leaves the state as it is.
    """
    step = _REDUCERS.get(type(event))
    return state if step is None else step(state, event, now)


def _elapsed(state: DownloadState, now: float) -> float:
    end = state.finished_at if state.finished_at is not None else now
    return end - state.started_at


def _state_name(state: DownloadState) -> str:
    st = state.status
    if state.expired:
        return "expired"
    if state.error or (st is not None and st.error):
        return "error"
    if st is None:
        return "stopped"
    if st.paused and not state.finished:
        return "paused"
    return st.state


def download_stats(
    state: DownloadState,
    now: float,
    *,
    bytes_from_origin: int,
    bytes_from_peers: int,
    bytes_unattributed: int = 0,
    received_by_peer: tuple[PeerBytes, ...] = (),
    renewal: Mapping[str, object] | None = None,
) -> DownloadStats:
    """The snapshot at clock time ``now``, with the offload counter's totals (bytes)."""
    st = state.status
    complete = state.finished
    return DownloadStats(
        film_id=state.film_id,
        state=_state_name(state),
        progress=1.0 if complete else (st.progress if st else 0.0),
        total_bytes=state.total_bytes,
        done_bytes=state.total_bytes if complete else (st.done_bytes if st else 0),
        download_rate_bps=st.download_rate_bps if st else 0,
        upload_rate_bps=st.upload_rate_bps if st else 0,
        peers=st.peers if st else 0,
        bytes_from_origin=bytes_from_origin,
        bytes_from_peers=bytes_from_peers,
        bytes_uploaded=state.uploaded_before + (st.uploaded_bytes if st else 0),
        bytes_downloaded_session=st.downloaded_bytes if st else 0,
        hash_failures=state.hash_failures,
        seconds=_elapsed(state, now),
        complete=complete,
        rental_not_after=state.rental_not_after,
        error=state.error or (st.error if st else None),
        bytes_unattributed=bytes_unattributed,
        received_by_peer=received_by_peer,
        renewal=renewal,
    )


def saved_counters(
    state: DownloadState, now: float, *, bytes_from_origin: int, bytes_from_peers: int
) -> SavedCounters:
    """The counters to keep for the next run, at clock time ``now``."""
    st = state.status
    return SavedCounters(bytes_from_origin, bytes_from_peers,
                         state.uploaded_before + (st.uploaded_bytes if st else 0),
                         _elapsed(state, now))


def rental_over(state: DownloadState, wall_now: datetime) -> bool:
    """True once the rental has ended (at wall-clock time ``wall_now``, aware UTC)."""
    return state.expired or wall_now >= state.rental_not_after


def seconds_until_rental_ends(state: DownloadState, wall_now: datetime) -> float:
    """Seconds from ``wall_now`` to the rental's notAfter (negative once it has passed)."""
    return (state.rental_not_after - wall_now).total_seconds()
