"""One rented film being downloaded (and shared) by a node: the libtorrent shell.

A `Download` is created by `Node.fetch`; it owns the libtorrent handle, feeds
the torrent's events and polled status to the pure reducer
(`peernode.runtime.download_state`), samples the peers' payload counters for
the offload counter (`peernode.runtime.offload`) every half second while the
film downloads, saves resume data, and stops sharing when the rental ends.
Progress snapshots are plain `DownloadStats` values.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import libtorrent as lt
import msgpack
import trio

from certs import Rental
from peernode.container.stream import ContainerReader, open_container
from peernode.errors import PeernodeError
from peernode.runtime.download_state import (
    REDUCED_EVENTS,
    DownloadEvent,
    DownloadState,
    DownloadStats,
    RentalEnded,
    RentalRenewed,
    SavedCounters,
    StatusPolled,
    TorrentStatus,
    download_stats,
    initial_state,
    reduce,
    rental_over,
    saved_counters,
    seconds_until_rental_ends,
)
from peernode.runtime.events import (
    CacheFlushed,
    Event,
    FileFailed,
    HashFailed,
    PeerBanned,
    PieceVerified,
    ResumeDataFailed,
    ResumeDataSaved,
    TorrentFailed,
    TrackerFailed,
    TrackerReplied,
    peer_sample,
)
from peernode.runtime.offload import OffloadCounter, PeersSampled
from peernode.runtime.renewal_schedule import RenewalStatus
from peernode.runtime.session_settings import set_handle_certificate
from support.atomic_write import write_atomic

__all__ = ["Download", "DownloadStats", "RentalExpiredError", "film_bytes", "torrent_status"]

log = logging.getLogger(__name__)


class RentalExpiredError(PeernodeError):
    """The rental window ended: the film is no longer shared nor decrypted."""


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


def torrent_status(st: lt.torrent_status) -> TorrentStatus:
    """The reducer's copy of a libtorrent torrent status."""
    return TorrentStatus(
        state=_STATE_NAMES.get(st.state, "downloading"),
        paused=bool(st.paused),
        is_seeding=bool(st.is_seeding),
        progress=float(st.progress),
        done_bytes=int(st.total_wanted_done),
        download_rate_bps=int(st.download_payload_rate),
        upload_rate_bps=int(st.upload_payload_rate),
        peers=int(st.num_peers),
        uploaded_bytes=int(st.total_payload_upload),
        downloaded_bytes=int(st.total_payload_download),
        error=st.errc.message() if st.errc.value() != 0 else None,
    )


class Download:
    """A rented film in the node's session. Create with `Node.fetch`.

    ``clock`` reads seconds for elapsed times (trio's clock by default, so a
    `Download` lives inside its node's trio run); ``wall_clock`` reads aware
    UTC datetimes for the rental window.
    """

    def __init__(
        self,
        *,
        handle: lt.torrent_handle,
        ti: lt.torrent_info,
        rental: Rental,
        save_dir: Path,
        state_dir: Path,
        wall_clock: Callable[[], datetime],
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self.handle = handle
        self.ti = ti
        self.rental = rental
        self.film_id = ti.name()
        self.save_dir = save_dir
        self.container_path = save_dir / self.film_id
        self._state_dir = state_dir
        self._wall_clock = wall_clock
        self._clock = clock
        total = film_bytes(ti)
        saved = self._load_counters()
        self.offload = OffloadCounter(saved.bytes_from_origin, saved.bytes_from_peers)
        self._peers_final = False  # the last sample after completion was taken
        self._seconds_left = math.inf  # to completion at the last sample's rate
        self.state: DownloadState = initial_state(self.film_id, total, rental.not_after,
                                                  clock(), saved)
        self._finished = trio.Event()
        # flush_cache requests made through `flush_to_disk`, and cache_flushed_alerts seen
        # (one per request): a wait counts its own, not an earlier playback flush's
        self._flushes_asked = 0
        self._flushes_done = 0
        self._flush_progress = trio.Event()
        self._written_through = False  # flushed after completion: the file holds the film
        self._resume_saved = trio.Event()
        self._piece_waiters: dict[int, trio.Event] = {}
        # Set by `peernode.playback.start_playback`: http://127.0.0.1:PORT/<token>/<film>
        self.playback_url: str | None = None
        # Kept up to date by `peernode.runtime.renewal.keep_renewing`.
        self.renewal: RenewalStatus | None = None
        self._paused_by_expiry = False

    # -- the reducer -----------------------------------------------------------
    def _apply(self, event: DownloadEvent | Event) -> DownloadState:
        was_finished = self.state.finished
        self.state = reduce(self.state, event, self._clock())
        if self.state.finished and not was_finished:
            self._finished.set()
        return self.state

    def _poll(self) -> DownloadState:
        """Feed the handle's current status to the reducer (None once it is removed)."""
        status = torrent_status(self.handle.status()) if self.handle.is_valid() else None
        return self._apply(StatusPolled(status))

    def on_event(self, event: Event) -> None:
        """Apply one libtorrent event to this download (called by the node's pump)."""
        kind = type(event)
        if kind in REDUCED_EVENTS:
            self._apply(event)
        effect = _EFFECTS.get(kind)
        if effect is not None:
            effect(self, event)

    # -- offload: the peers' payload counters ------------------------------------
    def count_peers(self) -> None:
        """Sample every peer's payload counter, then the torrent's, for the offload counter.

        Synchronous (libtorrent's network thread answers, the GIL released): the
        binding cannot hand out a ``peer_info_alert``'s list. Once the torrent is
        complete, one last sample is taken and no more; blocks still in flight then
        are counted as unattributed (origin) bytes by later calls.
        """
        self._seconds_left = math.inf
        if not self.handle.is_valid():
            return
        if self._peers_final:  # peers no longer sampled; late blocks still counted
            self.offload.on_late_total(int(self.handle.status(0).total_payload_download))
            return
        peers = tuple(peer_sample(p) for p in self.handle.get_peer_info())
        status = self.handle.status(0)  # after the peers: it covers every byte they counted
        self.offload.on_sample(PeersSampled(self.film_id, peers,
                                            int(status.total_payload_download)))
        if status.is_seeding:
            self._peers_final = True
        elif status.download_payload_rate > 0:
            left = int(status.total_wanted) - int(status.total_wanted_done)
            self._seconds_left = left / int(status.download_payload_rate)

    async def keep_counting_peers(self, interval_s: float = 0.5,
                                  final_interval_s: float = 0.05) -> None:
        """Sample the peers' counters every ``interval_s`` until the film is complete,
        every ``final_interval_s`` in its last second.

        What a peer sends between its last sample and its disconnection counts as
        origin bytes, so the interval bounds how much offload a departure hides;
        the origin drops its connection as the download completes.
        """
        while not self._peers_final:
            with contextlib.suppress(RuntimeError):  # the handle went away meanwhile
                self.count_peers()
            await trio.sleep(final_interval_s if self._seconds_left <= 1.0 else interval_s)

    # -- persistent counters -------------------------------------------------
    @property
    def resume_path(self) -> Path:
        return self._state_dir / f"{self.film_id}.resume"

    @property
    def _counters_path(self) -> Path:
        return self._state_dir / f"{self.film_id}.counters"

    def _load_counters(self) -> SavedCounters:
        try:
            return SavedCounters.from_record(msgpack.unpackb(self._counters_path.read_bytes()))
        except (OSError, ValueError, KeyError, TypeError, msgpack.UnpackException):
            return SavedCounters()

    def _save_counters(self) -> None:
        # The upload count of this run; a handle being removed keeps the last one polled.
        with contextlib.suppress(RuntimeError):
            self.count_peers()
            self._poll()
        counters = saved_counters(self.state, self._clock(),
                                  bytes_from_origin=self.offload.bytes_from_origin,
                                  bytes_from_peers=self.offload.bytes_from_peers)
        write_atomic(self._counters_path, msgpack.packb(counters.to_record()))

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

    # -- effects of events (logging, files) -------------------------------------
    def _on_resume_saved(self, event: ResumeDataSaved) -> None:
        self._write_resume_data(event.resume_data)
        self._resume_saved.set()

    def _on_resume_failed(self, _event: ResumeDataFailed) -> None:
        self._resume_saved.set()

    def _on_cache_flushed(self, _event: CacheFlushed) -> None:
        self._flushes_done += 1
        self._flush_progress.set()
        self._flush_progress = trio.Event()

    def _on_piece_verified(self, event: PieceVerified) -> None:
        waiter = self._piece_waiters.pop(event.piece, None)
        if waiter is not None:
            waiter.set()

    def _on_hash_failed(self, event: HashFailed) -> None:
        log.warning("%s: piece %d failed its hash check", self.film_id, event.piece)

    def _on_peer_banned(self, event: PeerBanned) -> None:
        log.warning("%s: banned peer %s (sent corrupt data)", self.film_id, event.address)

    def _on_tracker_replied(self, event: TrackerReplied) -> None:
        log.info("%s: tracker returned %d peers", self.film_id, event.num_peers)

    def _on_tracker_failed(self, event: TrackerFailed) -> None:
        log.warning("%s: tracker announce failed (%d in a row): %s; retrying in %.0f s",
                    self.film_id, event.times_in_row, event.message,
                    self._seconds_to_next_announce())

    def _on_failed(self, event: FileFailed | TorrentFailed) -> None:
        log.error("%s: %s", self.film_id, event.message)

    def _seconds_to_next_announce(self) -> float:
        if not self.handle.is_valid():
            return 0.0
        return max(0.0, self.handle.status().next_announce.total_seconds())

    # -- queries -------------------------------------------------------------
    def stats(self) -> DownloadStats:
        """A snapshot of progress, rates and offload counters (polls the handle)."""
        self._poll()
        if self.state.finished:
            self.count_peers()  # the final counts (once), not the last half-second's
        return download_stats(self.state, self._clock(),
                              bytes_from_origin=self.offload.bytes_from_origin,
                              bytes_from_peers=self.offload.bytes_from_peers,
                              bytes_unattributed=self.offload.bytes_unattributed,
                              received_by_peer=self.offload.received_by_peer(),
                              renewal=None if self.renewal is None else self.renewal.to_json())

    @property
    def is_complete(self) -> bool:
        return self.state.finished

    def have_piece(self, piece: int) -> bool:
        """Whether ``piece`` passed its hash check (its bytes may still be on their way
        to the file: libtorrent writes verified blocks a little later)."""
        return self.handle.is_valid() and bool(self.handle.have_piece(piece))

    async def wait_piece(self, piece: int, *, timeout_s: float = math.inf) -> bool:
        """Wait until ``piece`` passed its hash check, woken by the node's verified-piece
        event (no polling); whether it has, after at most ``timeout_s`` seconds.

        Needs the node's alert pump running. Pieces found on disk by libtorrent's
        check post no event: those are seen when the wait ends, so give a finite
        ``timeout_s`` while a check may run.
        """
        with trio.move_on_after(timeout_s):
            while not self.have_piece(piece):
                waiter = self._piece_waiters.setdefault(piece, trio.Event())
                await waiter.wait()
        return self.have_piece(piece)

    async def complete(self) -> DownloadStats:
        """Wait until every piece is verified; returns the final stats.

        Raises `PeernodeError` if the torrent hits a disk or torrent error,
        `RentalExpiredError` if the rental ends first.
        """
        while not self.state.finished:
            if self.state.expired:
                raise RentalExpiredError(f"rental for {self.film_id} expired before completion")
            if self.state.error:
                raise PeernodeError(f"{self.film_id}: {self.state.error}")
            with trio.move_on_after(0.5):
                await self._finished.wait()
            self.stats()  # resumed-complete torrents finish without an alert
        await self._written()
        return self.stats()

    async def _written(self, timeout_s: float = 10.0) -> None:
        """Wait until the verified bytes are in the file.

        libtorrent 2.1 keeps verified blocks in its disk thread's store buffer and
        writes them up to ~3 s after the hash check (measured), so "complete" can
        come before the file holds the film: a reader opening it at once found it
        too short for a header. ``flush_cache`` writes them and posts an alert; the
        wait is for this request's alert, not one of an earlier flush (playback asks for
        one per arriving piece), which may not cover the last pieces.
        """
        if self._written_through or not self.handle.is_valid():
            return
        asked = self.flush_to_disk()
        with trio.move_on_after(timeout_s):
            while self._flushes_done < asked:
                await self._flush_progress.wait()
        self._written_through = self._flushes_done >= asked

    def flush_to_disk(self) -> int:
        """Ask libtorrent to write the verified blocks it still holds in its store
        buffer (a `CacheFlushed` event follows); the request's number."""
        self._flushes_asked += 1
        self.handle.flush_cache()
        return self._flushes_asked

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
        if rental_over(self.state, self._wall_clock()):
            raise RentalExpiredError(
                f"rental for {self.film_id} ended at {self.rental.not_after.isoformat()}"
            )
        return open_container(self.container_path, self.rental.content_key, film_id=self.film_id)

    # -- lifecycle -----------------------------------------------------------
    def seconds_until_rental_ends(self) -> float:
        return seconds_until_rental_ends(self.state, self._wall_clock())

    def expire(self) -> None:
        """Stop sharing: the certificate expired (the bytes stay on disk, encrypted)."""
        if self.state.expired:
            return
        self._apply(RentalEnded())
        why = ""
        if self.renewal is not None and self.renewal.state == "refused":
            why = f" (renewal refused: {self.renewal.refused_reason}: {self.renewal.message})"
        elif self.renewal is not None and self.renewal.last_error:
            why = f" (renewal failing: {self.renewal.last_error})"
        log.warning("%s: rental certificate ended at %s; sharing stopped%s", self.film_id,
                    self.rental.not_after.isoformat(), why)
        if self.handle.is_valid():
            self._paused_by_expiry = not self.handle.status(0).paused
            self.handle.pause()

    def renew_certificate(self, rental: Rental, key_pem: bytes) -> None:
        """Set a renewed certificate of the same rental on the handle (connections go on;
        new ones present it); a download that stopped sharing at expiry shares again."""
        if self.handle.is_valid():
            set_handle_certificate(self.handle, rental.cert_pem, key_pem)
        was_expired = self.state.expired
        self.rental = rental
        self._apply(RentalRenewed(rental.not_after))
        if was_expired and self._paused_by_expiry and self.handle.is_valid():
            self._paused_by_expiry = False
            self.handle.resume()

    async def watch_rental_expiry(self) -> None:
        """Stop sharing whenever the certificate's notAfter passes (a renewal moves it;
        after a late renewal sharing resumes, and the watch goes on)."""
        while True:
            ends = self.state.rental_not_after
            delay = self.seconds_until_rental_ends()
            if delay > 0 and math.isfinite(delay):
                await trio.sleep(delay)
            if self.state.rental_not_after > ends:
                continue  # renewed meanwhile
            self.expire()
            while self.state.rental_not_after <= ends:
                if not self.renewal_pending():
                    return  # nothing will renew it
                await trio.sleep(1.0)

    def renewal_pending(self) -> bool:
        """Whether something may still renew the certificate (a renewal scheduled or
        being retried), so that `watch_rental_expiry` waits for it and then watches the
        renewed certificate's end."""
        return self.renewal is not None and self.renewal.state in ("scheduled", "retrying")

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


# Event class -> what the shell does about it besides reducing (files, logs).
_EFFECTS: dict[type[Any], Callable[[Download, Any], None]] = {
    ResumeDataSaved: Download._on_resume_saved,
    ResumeDataFailed: Download._on_resume_failed,
    PieceVerified: Download._on_piece_verified,
    CacheFlushed: Download._on_cache_flushed,
    HashFailed: Download._on_hash_failed,
    PeerBanned: Download._on_peer_banned,
    TrackerReplied: Download._on_tracker_replied,
    TrackerFailed: Download._on_tracker_failed,
    FileFailed: Download._on_failed,
    TorrentFailed: Download._on_failed,
}
