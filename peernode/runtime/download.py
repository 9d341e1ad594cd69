"""One rented film being downloaded (and shared) by a node.

A `Download` is created by `Node.fetch`; it owns the libtorrent handle, counts
where bytes came from, saves resume data, and stops sharing when the rental
ends. Progress snapshots are plain `DownloadStats` values.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import libtorrent as lt
import msgpack
import trio

from certs import Rental
from peernode.container.stream import ContainerReader, open_container
from peernode.errors import PeernodeError
from peernode.runtime.events import (
    BlockRequested,
    Event,
    FileFailed,
    HashFailed,
    PeerBanned,
    PieceVerified,
    ResumeDataFailed,
    ResumeDataSaved,
    TorrentFailed,
    TorrentFinished,
    TrackerFailed,
    TrackerReplied,
)
from peernode.runtime.offload import OffloadCounter
from support.atomic_write import write_atomic

__all__ = ["Download", "DownloadStats", "RentalExpiredError", "film_bytes"]

log = logging.getLogger(__name__)


class RentalExpiredError(PeernodeError):
    """The rental window ended: the film is no longer shared nor decrypted."""


@dataclass(frozen=True)
class DownloadStats:
    """A snapshot of one download; rates in bytes/s, times in seconds."""

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
        }


def film_bytes(ti: lt.torrent_info) -> int:
    """Size of a single-file film torrent's file (``total_size`` counts v2 tail padding)."""
    return int(ti.layout().file_size(0))


_STATE_NAMES = {
    lt.torrent_status.states.checking_files: "checking",
    lt.torrent_status.states.checking_resume_data: "checking",
    lt.torrent_status.states.downloading_metadata: "downloading",
    lt.torrent_status.states.downloading: "downloading",
    lt.torrent_status.states.finished: "seeding",
    lt.torrent_status.states.seeding: "seeding",
}


class Download:
    """A rented film in the node's session. Create with `Node.fetch`."""

    def __init__(
        self,
        *,
        handle: lt.torrent_handle,
        ti: lt.torrent_info,
        rental: Rental,
        save_dir: Path,
        state_dir: Path,
        wall_clock: Callable[[], datetime],
    ) -> None:
        self.handle = handle
        self.ti = ti
        self.rental = rental
        self.film_id = ti.name()
        self.save_dir = save_dir
        self.container_path = save_dir / self.film_id
        self._state_dir = state_dir
        self._wall_clock = wall_clock
        self._started = time.monotonic()
        self._finished_at: float | None = None
        self.offload = OffloadCounter(ti.piece_length(), film_bytes(ti))
        self._uploaded_before = 0
        self._hash_failures = 0
        self._error: str | None = None
        self._expired = False
        self._finished = trio.Event()
        self._resume_saved = trio.Event()
        # Set by `peernode.playback.start_playback`: http://127.0.0.1:PORT/<token>/<film>
        self.playback_url: str | None = None
        self._load_counters()

    # -- persistent counters -------------------------------------------------
    @property
    def resume_path(self) -> Path:
        return self._state_dir / f"{self.film_id}.resume"

    @property
    def _counters_path(self) -> Path:
        return self._state_dir / f"{self.film_id}.counters"

    def _load_counters(self) -> None:
        try:
            raw = msgpack.unpackb(self._counters_path.read_bytes())
            self.offload.bytes_from_origin = int(raw["origin"])
            self.offload.bytes_from_peers = int(raw["peers"])
            self._uploaded_before = int(raw["uploaded"])
            self._started -= float(raw["seconds"])
        except (OSError, ValueError, KeyError, TypeError, msgpack.UnpackException):
            pass

    def _save_counters(self) -> None:
        record = {
            "origin": self.offload.bytes_from_origin,
            "peers": self.offload.bytes_from_peers,
            "uploaded": self._uploaded_now(),
            "seconds": self._elapsed(),
        }
        write_atomic(self._counters_path, msgpack.packb(record))

    def _write_resume_data(self, resume_data: bytes) -> None:
        """Save resume data; if the disk refuses, drop the stale file instead.

        Stale resume data lists fewer pieces than are on disk and libtorrent
        trusts it, so a full disk would cost a re-download; without it the next
        start checks the file and keeps every piece written.
        """
        try:
            write_atomic(self.resume_path, resume_data)
            self._save_counters()
        except OSError as e:
            log.error("%s: cannot save resume data (%s); the next start re-checks the file",
                      self.film_id, e.strerror or e)
            self.resume_path.unlink(missing_ok=True)

    # -- events --------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        """Apply one libtorrent event to this download (called by the node's pump)."""
        if isinstance(event, BlockRequested):
            self.offload.block_requested(event.piece, event.block, event.peer_id)
        elif isinstance(event, PieceVerified):
            self.offload.piece_verified(event.piece)
        elif isinstance(event, TorrentFinished):
            self._mark_finished()
        elif isinstance(event, ResumeDataSaved):
            self._write_resume_data(event.resume_data)
            self._resume_saved.set()
        elif isinstance(event, ResumeDataFailed):
            self._resume_saved.set()
        elif isinstance(event, HashFailed):
            self.offload.piece_failed(event.piece)
            self._hash_failures += 1
            log.warning("%s: piece %d failed its hash check", self.film_id, event.piece)
        elif isinstance(event, PeerBanned):
            log.warning("%s: banned peer %s (sent corrupt data)", self.film_id, event.address)
        elif isinstance(event, TrackerReplied):
            log.info("%s: tracker returned %d peers", self.film_id, event.num_peers)
        elif isinstance(event, TrackerFailed):
            log.warning(
                "%s: tracker announce failed (%d in a row): %s; retrying in %.0f s",
                self.film_id,
                event.times_in_row,
                event.message,
                self._seconds_to_next_announce(),
            )
        elif isinstance(event, FileFailed | TorrentFailed):
            self._error = event.message
            log.error("%s: %s", self.film_id, event.message)

    def _seconds_to_next_announce(self) -> float:
        if not self.handle.is_valid():
            return 0.0
        return max(0.0, self.handle.status().next_announce.total_seconds())

    def _mark_finished(self) -> None:
        if not self._finished.is_set():
            self._finished_at = time.monotonic()
            self._finished.set()

    # -- queries -------------------------------------------------------------
    def _elapsed(self) -> float:
        end = self._finished_at if self._finished_at is not None else time.monotonic()
        return end - self._started

    def _uploaded_now(self) -> int:
        try:
            return self._uploaded_before + int(self.handle.status().total_payload_upload)
        except RuntimeError:  # handle removed
            return self._uploaded_before

    def stats(self) -> DownloadStats:
        """A snapshot of progress, rates and offload counters."""
        st = self.handle.status() if self.handle.is_valid() else None
        complete = self._finished.is_set() or (st is not None and st.is_seeding)
        if complete:
            self._mark_finished()
        if self._expired:
            state = "expired"
        elif self._error or (st is not None and st.errc.value() != 0):
            state = "error"
        elif st is None:
            state = "stopped"
        elif st.paused and not complete:
            state = "paused"
        else:
            state = _STATE_NAMES.get(st.state, "downloading")
        total = film_bytes(self.ti)
        return DownloadStats(
            film_id=self.film_id,
            state=state,
            progress=1.0 if complete else (st.progress if st else 0.0),
            total_bytes=total,
            done_bytes=total if complete else (int(st.total_wanted_done) if st else 0),
            download_rate_bps=int(st.download_payload_rate) if st else 0,
            upload_rate_bps=int(st.upload_payload_rate) if st else 0,
            peers=int(st.num_peers) if st else 0,
            bytes_from_origin=self.offload.bytes_from_origin,
            bytes_from_peers=self.offload.bytes_from_peers,
            bytes_uploaded=self._uploaded_before
            + (int(st.total_payload_upload) if st else 0),
            bytes_downloaded_session=int(st.total_payload_download) if st else 0,
            hash_failures=self._hash_failures,
            seconds=self._elapsed(),
            complete=complete,
            rental_not_after=self.rental.not_after,
            error=self._error or (st.errc.message() if st and st.errc.value() else None),
        )

    @property
    def is_complete(self) -> bool:
        return self._finished.is_set()

    async def complete(self) -> DownloadStats:
        """Wait until every piece is verified; returns the final stats.

        Raises `PeernodeError` if the torrent hits a disk or torrent error,
        `RentalExpiredError` if the rental ends first.
        """
        while not self._finished.is_set():
            if self._expired:
                raise RentalExpiredError(f"rental for {self.film_id} expired before completion")
            if self._error:
                raise PeernodeError(f"{self.film_id}: {self._error}")
            with trio.move_on_after(0.5):
                await self._finished.wait()
            self.stats()  # resumed-complete torrents finish without an alert
        return self.stats()

    async def progress(self, interval_s: float = 1.0) -> AsyncIterator[DownloadStats]:
        """Yield a snapshot every ``interval_s`` seconds; the last one is complete."""
        while True:
            stats = self.stats()
            yield stats
            if stats.complete or stats.state in ("expired", "error"):
                return
            with trio.move_on_after(interval_s):
                await self._finished.wait()

    def open_reader(self) -> ContainerReader:
        """Random access to the decrypted film (segments must be on disk to be read).

        Raises `RentalExpiredError` once the rental window is over: the content
        key is not used after notAfter.
        """
        if self._wall_clock() >= self.rental.not_after or self._expired:
            raise RentalExpiredError(
                f"rental for {self.film_id} ended at {self.rental.not_after.isoformat()}"
            )
        return open_container(self.container_path, self.rental.content_key, film_id=self.film_id)

    # -- lifecycle -----------------------------------------------------------
    def seconds_until_rental_ends(self) -> float:
        return (self.rental.not_after - self._wall_clock()).total_seconds()

    def expire(self) -> None:
        """Stop sharing: the rental window is over (the bytes stay on disk, encrypted)."""
        if self._expired:
            return
        self._expired = True
        log.warning("%s: rental ended at %s; sharing stopped", self.film_id,
                    self.rental.not_after.isoformat())
        if self.handle.is_valid():
            self.handle.pause()

    async def watch_rental_expiry(self) -> None:
        """Sleep until the rental's notAfter, then stop sharing."""
        delay = self.seconds_until_rental_ends()
        if delay > 0 and math.isfinite(delay):
            await trio.sleep(delay)
        self.expire()

    def request_resume_data(self) -> bool:
        """Ask libtorrent for resume data; `resume_saved` turns true once it is on disk."""
        if not self.handle.is_valid():
            return False
        self._resume_saved = trio.Event()
        # flush_disk_cache: resume data lists only pieces already in the file, so
        # flush the write cache first or a restart loses up to a cache's worth.
        self.handle.save_resume_data(
            lt.save_resume_flags_t.save_info_dict | lt.save_resume_flags_t.flush_disk_cache
        )
        return True

    @property
    def resume_saved(self) -> bool:
        return self._resume_saved.is_set()

    async def save_resume_data(self, timeout_s: float = 5.0) -> bool:
        """Save resume data and wait until it is on disk (needs the alert pump running)."""
        if not self.request_resume_data():
            return False
        with trio.move_on_after(timeout_s):
            await self._resume_saved.wait()
            return True
        log.warning("%s: resume data not saved within %.0f s", self.film_id, timeout_s)
        return False

    async def keep_saving_resume_data(self, interval_s: float) -> None:
        """Save resume data every ``interval_s`` while anything changed."""
        while True:
            await trio.sleep(interval_s)
            if self.handle.is_valid() and self.handle.status().need_save_resume:
                await self.save_resume_data()
