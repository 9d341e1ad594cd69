"""A download's plaintext, readable while the download runs (trio shell over libtorrent).

`FilmSource.stream(start, stop, send)` hands ``send`` the decrypted bytes of a
plaintext range, a batch of segments at a time, as soon as the pieces holding
them are verified: it asks libtorrent for those pieces (deadlines and
priorities planned by `peernode.playback.plan`), waits for them, reads the
ciphertext with ``pread`` in a worker thread and authenticates every segment
(`peernode.container.stream`). Memory per stream is one batch (at most 1 MiB).

Two libtorrent facts shape this module (measured with libtorrent 2.1.1):

* ``have_piece(i)`` turns true when the piece passed its hash check, *before*
  its bytes reach the file: the disk thread keeps verified blocks in a store
  buffer and writes them up to ~3 s later (the file may not even exist yet).
  ``flush_cache()`` when a piece arrives brings that down to a few ms; reads
  that still fail (short, missing, or not authenticating) are retried for
  ``retry_s`` before the segment is declared bad.
* a stream waiting for a piece is woken by the node's verified-piece event
  (`Download.wait_piece`), not by polling; it looks at the rental at least
  every `_RENTAL_CHECK_S` while it waits.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import TypeVar

import libtorrent as lt
import trio

from peernode.container.header import (
    CONTAINER_SEGMENT_BYTES,
    HEADER_MAX_BYTES,
    ContainerHeader,
    decode_header,
)
from peernode.container.stream import ContainerReader, open_container
from peernode.errors import ContainerError, PeernodeError
from peernode.playback.plan import (
    DEFAULT_READ_AHEAD,
    PieceChanges,
    PieceWishes,
    ReadAheadPolicy,
    ReadPlan,
    ReadRate,
    plan_reads,
)
from peernode.playback.ranges import FilmLayout, pieces_for_span
from peernode.runtime.download import Download, RentalExpiredError

__all__ = ["FilmSource"]

log = logging.getLogger(__name__)

# Segments decrypted per worker-thread call: big enough to amortise the thread
# hop, small enough to keep memory constant and the first bytes early.
_BATCH_BYTES = 1024 * 1024
# libtorrent's piece priorities: the read-ahead is fetched before the rest of
# the film, but below the top priority (7) that deadline pieces get: while any
# deadline is set, libtorrent's normal requests only pick top-priority pieces,
# which then are the urgent ones. A piece leaving the window goes back to the
# default (the node sets no priorities of its own).
_READ_AHEAD_PRIORITY = 6
_DEFAULT_PRIORITY = 4
_HEADER = "container header"
_WARM_UP = "warm-up"
_RENTAL_CHECK_S = 0.5
_T = TypeVar("_T")


class FilmSource:
    """The decrypted film of ``download``; one per playback server.

    ``wall_clock`` is the time the rental window is checked against;
    ``policy`` sizes the read-ahead. Raises `PeernodeError` if the torrent is
    not a single-file film torrent.
    """

    def __init__(
        self,
        download: Download,
        *,
        wall_clock: Callable[[], datetime],
        policy: ReadAheadPolicy = DEFAULT_READ_AHEAD,
        poll_s: float = 0.02,
        retry_s: float = 1.0,
    ) -> None:
        _check_single_file(download.ti)
        self._download = download
        self._handle: lt.torrent_handle = download.handle
        self._wall_clock = wall_clock
        self._policy = policy
        self._poll_s = poll_s
        self._retry_s = retry_s
        self._piece_bytes = int(download.ti.piece_length())
        self._wishes = PieceWishes()
        self._have: set[int] = set()
        self._open_lock = trio.Lock()
        self._reader: ContainerReader | None = None
        self._layout: FilmLayout | None = None

    @property
    def film_id(self) -> str:
        return self._download.film_id

    # -- rental ------------------------------------------------------------------
    def rental_refusal(self) -> str | None:
        """Why the rental forbids playing now (a sentence), or None if it allows it."""
        rental = self._download.rental
        now = self._wall_clock()
        if now >= rental.not_after:
            return f"the rental of {self.film_id} ended at {rental.not_after.isoformat()}"
        if now < rental.not_before:
            return f"the rental of {self.film_id} starts at {rental.not_before.isoformat()}"
        return None

    def _check_rental(self) -> None:
        refusal = self.rental_refusal()
        if refusal is not None:
            raise RentalExpiredError(refusal)

    # -- opening -----------------------------------------------------------------
    def warm_up(self) -> None:
        """Ask at once for the pieces every player reads first: the header segment and
        the film's first bytes (before the header says exactly where they are)."""
        span = CONTAINER_SEGMENT_BYTES + self._policy.urgent_bytes
        pieces = pieces_for_span(0, span, self._piece_bytes)
        self._want(_WARM_UP, ReadPlan(deadlines={
            piece: rank * self._policy.urgent_step_ms for rank, piece in enumerate(pieces)
        }))

    async def open(self) -> FilmLayout:
        """The film's layout, once its header pieces are here and the header authenticates.

        Raises `ContainerError` if the header does not authenticate (wrong key,
        other film, tampered), `RentalExpiredError` if the rental ends meanwhile.
        """
        async with self._open_lock:
            if self._layout is None:
                self._reader = await self._open_reader()
                self._layout = FilmLayout(self._reader.header, self._piece_bytes)
            return self._layout

    async def _open_reader(self) -> ContainerReader:
        try:
            # The header's first bytes say how long the header segment is.
            await self._fetch_now(pieces_for_span(0, HEADER_MAX_BYTES, self._piece_bytes))
            peeked = await self._retrying(self._peek_header)
            await self._fetch_now(pieces_for_span(0, peeked.segment_bytes, self._piece_bytes))
            return await self._retrying(functools.partial(
                open_container, self._download.container_path,
                self._download.rental.content_key, film_id=self.film_id,
            ))
        finally:
            self.release(_HEADER)

    async def _fetch_now(self, pieces: range) -> None:
        self._want(_HEADER, ReadPlan(deadlines=dict.fromkeys(pieces, 0)))
        await self._wait_for(pieces)

    def _peek_header(self) -> ContainerHeader:
        fd = os.open(self._download.container_path, os.O_RDONLY)
        try:
            return decode_header(os.pread(fd, HEADER_MAX_BYTES, 0))[0]
        finally:
            os.close(fd)

    # -- streaming ---------------------------------------------------------------
    def release(self, reader: Hashable) -> None:
        """Withdraw what ``reader`` asked for (it finished, seeked or went away)."""
        self._apply(self._wishes.drop(reader, trio.current_time()))

    async def stream(self, start: int, stop: int, send: Callable[[bytes], Awaitable[None]]) -> None:
        """Send the plaintext bytes ``[start, stop)`` to ``send``, decrypted, in order.

        Each batch is sent as soon as its pieces are on disk. Raises
        `ContainerError` if a segment does not authenticate (nothing of it is
        sent), `RentalExpiredError` when the rental ends; errors of ``send``
        propagate. What was asked of libtorrent on the way is withdrawn on exit.
        """
        layout = await self.open()
        self.release(_WARM_UP)  # a real reader now says what it needs
        reader = object()  # this stream's identity among the wishes
        rate = ReadRate()
        position = start
        try:
            while position < stop:
                self._check_rental()
                now = trio.current_time()
                self._want(reader, plan_reads(
                    layout, position, stop, rate.rate_bps(now), self._policy
                ))
                batch_stop = await self._next_batch(layout, position, stop)
                data = await self._retrying(self._decrypt, position, batch_stop - position)
                await send(data)
                rate.record(trio.current_time(), len(data))
                position = batch_stop
        finally:
            self.release(reader)

    async def _next_batch(self, layout: FilmLayout, position: int, stop: int) -> int:
        """Wait for the segment at ``position``, extend over the following segments
        already on disk (up to one batch); returns the batch's end offset."""
        first = layout.segment_of(position)
        await self._wait_for(layout.pieces_for_segments(range(first, first + 1)))
        last = first
        end = layout.segment_span(first)[1]
        while end < stop and end - position < _BATCH_BYTES:
            pieces = layout.pieces_for_segments(range(last + 1, last + 2))
            if not all(self._has(piece) for piece in pieces):
                break
            last += 1
            end = layout.segment_span(last)[1]
        return min(end, stop)

    def _decrypt(self, start: int, length: int) -> bytes:
        assert self._reader is not None  # stream() opened it
        return self._reader.read(start, length)

    # -- pieces ------------------------------------------------------------------
    def _has(self, piece: int) -> bool:
        if piece in self._have:
            return True
        if not self._handle.have_piece(piece):
            return False
        self._have.add(piece)
        self._wishes.arrived({piece})
        self._download.flush_to_disk()  # its verified bytes may still sit in the store buffer
        return True

    async def _wait_for(self, pieces: range) -> None:
        # One scan per round: a piece can arrive between two scans (libtorrent's thread),
        # and a second scan that then finds nothing missing ended the request.
        while (missing := next((p for p in pieces if not self._has(p)), None)) is not None:
            self._check_rental()
            await self._download.wait_piece(missing, timeout_s=_RENTAL_CHECK_S)

    def _want(self, reader: Hashable, plan: ReadPlan) -> None:
        missing = ReadPlan(
            deadlines={p: ms for p, ms in plan.deadlines.items() if not self._has(p)},
            boosted=frozenset(p for p in plan.boosted if not self._has(p)),
        )
        self._apply(self._wishes.want(reader, missing, trio.current_time()))

    def _apply(self, changes: PieceChanges) -> None:
        if not changes or not self._handle.is_valid():
            return
        log.debug("%s: deadlines %s, withdrawn %s, boosted %s, unboosted %s", self.film_id,
                  changes.set_deadlines, sorted(changes.reset_deadlines),
                  sorted(changes.boost), sorted(changes.unboost))
        # libtorrent runs these in order on its network thread: a withdrawn
        # deadline (which drops the piece to the lowest priority) is followed
        # by the priority the piece should have now.
        for piece in changes.reset_deadlines:
            self._handle.reset_piece_deadline(piece)
        for piece, ms in changes.set_deadlines.items():
            self._handle.set_piece_deadline(piece, ms)
        for piece in changes.boost:
            self._handle.piece_priority(piece, _READ_AHEAD_PRIORITY)
        for piece in changes.unboost:
            self._handle.piece_priority(piece, _DEFAULT_PRIORITY)

    async def _retrying(self, read: Callable[..., _T], *args: object) -> _T:
        """Run ``read`` in a worker thread; while it fails, flush libtorrent's store
        buffer and retry for up to ``retry_s`` (see the module docstring)."""
        give_up = trio.current_time() + self._retry_s
        while True:
            try:
                return await trio.to_thread.run_sync(read, *args)
            except (ContainerError, OSError) as e:
                if trio.current_time() >= give_up:
                    if isinstance(e, OSError):
                        raise ContainerError(f"cannot read the container: {e}") from None
                    raise
            self._download.flush_to_disk()
            await trio.sleep(self._poll_s)


def _check_single_file(ti: lt.torrent_info) -> None:
    layout = ti.layout()
    files = [i for i in range(layout.num_files())
             if not layout.file_flags(i) & lt.file_storage.flag_pad_file]
    if files != [0] or layout.file_offset(0) != 0:
        raise PeernodeError(f"torrent {ti.name()!r} is not a single-file film torrent")
