"""Which missing pieces a player needs, and how urgently: the read-ahead planner (pure, no I/O).

For each open response, at the reader's position:

* the pieces of the next ``urgent_bytes``, and of whatever the reader will
  reach within ``deadline_horizon_s`` at its recent read rate, get libtorrent
  *deadlines* (``set_piece_deadline``), increasing in file order so they
  arrive in the order they are sent;
* the read-ahead window beyond, ``readahead_s`` seconds at that rate (clamped
  to ``[min_readahead_bytes, max_readahead_bytes]``), is *boosted*: the shell
  raises its piece priority so libtorrent fetches it before the rest of the film.

Why not deadlines for the whole window (measured with libtorrent 2.1.1, see
bench/startup.py): while a torrent has any deadline, libtorrent keeps one
normal request per peer outstanding and requests deadline pieces only once a
second, up to two seconds of queue per peer. A long deadline window therefore
sits in the peers' queues ahead of the next seek's pieces (seek to first byte
0.5 s instead of 0.1 s) and slows the start (ffprobe 1.4 s instead of 0.5 s).
Priorities keep the read-ahead in order without that queue (bench/startup.py
`--policy '{"deadline_horizon_s": 30}'` measures the other way).

`PieceWishes` merges the wishes of all readers (a player may have several
connections open) and says what to change in libtorrent, so a reader that
seeks or goes away releases its old window at once. Times are seconds on any
monotonic clock, passed in.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

from peernode.playback.ranges import FilmLayout

__all__ = [
    "DEFAULT_READ_AHEAD",
    "PieceChanges",
    "PieceWishes",
    "ReadAheadPolicy",
    "ReadPlan",
    "ReadRate",
    "plan_reads",
]


@dataclass(frozen=True)
class ReadAheadPolicy:
    """How far ahead of a reader pieces are asked for, and how urgently (bytes, ms, s)."""

    # 1: a deadline on the piece being read only. Within libtorrent's top priority
    # the picker takes pieces at random, so several deadlines compete and the one
    # the reader waits for may come last (bench/startup.py: seek 0.24 -> 0.10 s);
    # the read-ahead behind it is boosted, in order of need.
    urgent_bytes: int = 1
    urgent_step_ms: int = 10
    deadline_horizon_s: float = 0.0
    readahead_s: float = 30.0
    min_readahead_bytes: int = 4 * 1024 * 1024
    max_readahead_bytes: int = 64 * 1024 * 1024
    # Before a reader has a measured rate: about a 4 Mbit/s film.
    assumed_rate_bps: float = 500_000.0
    max_pieces: int = 256  # bounds the work per update for films with small pieces


DEFAULT_READ_AHEAD = ReadAheadPolicy()


class ReadRate:
    """Bytes per second a reader consumed over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 4.0) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()
        self._bytes = 0

    def record(self, now: float, nbytes: int) -> None:
        """Count ``nbytes`` read at time ``now`` (seconds)."""
        self._samples.append((now, nbytes))
        self._bytes += nbytes
        self._expire(now)

    def rate_bps(self, now: float) -> float | None:
        """Recent read rate in bytes/s, or None before there are two samples to measure."""
        self._expire(now)
        if len(self._samples) < 2:
            return None
        # The first sample's bytes were read before the span starts: leave them out.
        span = now - self._samples[0][0]
        if span <= 0:
            return None
        return (self._bytes - self._samples[0][1]) / span

    def _expire(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self._window_s:
            self._bytes -= self._samples.popleft()[1]


@dataclass(frozen=True)
class ReadPlan:
    """Deadlines (piece -> ms from now) and pieces to fetch first, for one reader."""

    deadlines: dict[int, int] = field(default_factory=dict)
    boosted: frozenset[int] = frozenset()


def plan_reads(
    layout: FilmLayout,
    position: int,
    stop: int,
    rate_bps: float | None,
    policy: ReadAheadPolicy = DEFAULT_READ_AHEAD,
) -> ReadPlan:
    """What a reader at plaintext ``position``, reading up to ``stop`` (exclusive), needs.

    Nothing past ``stop`` is planned. ``rate_bps`` is the reader's recent read
    rate (None: ``policy.assumed_rate_bps``). Pieces the caller already has are
    included; the caller drops them.
    """
    stop = min(stop, layout.plaintext_bytes)
    if position >= stop:
        return ReadPlan()
    rate = rate_bps if rate_bps and rate_bps > 0 else policy.assumed_rate_bps
    urgent_stop = min(stop, max(position + policy.urgent_bytes,
                                position + math.ceil(rate * policy.deadline_horizon_s)))
    deadlines: dict[int, int] = {}
    for rank, piece in enumerate(layout.pieces_for(position, urgent_stop)):
        if rank >= policy.max_pieces:
            break
        deadlines[piece] = rank * policy.urgent_step_ms
    ahead = min(policy.max_readahead_bytes,
                max(policy.min_readahead_bytes, math.ceil(rate * policy.readahead_s)))
    ahead_stop = min(stop, position + ahead)
    boosted: list[int] = []
    for piece in layout.pieces_for(urgent_stop, ahead_stop):
        if len(boosted) >= policy.max_pieces:
            break
        if piece not in deadlines:
            boosted.append(piece)
    return ReadPlan(deadlines, frozenset(boosted))


@dataclass(frozen=True)
class PieceChanges:
    """What to tell libtorrent: deadlines to set (piece -> ms from now) or withdraw,
    pieces to boost or to give back their normal priority."""

    set_deadlines: dict[int, int] = field(default_factory=dict)
    reset_deadlines: frozenset[int] = frozenset()
    boost: frozenset[int] = frozenset()
    unboost: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.set_deadlines or self.reset_deadlines or self.boost or self.unboost)


class PieceWishes:
    """Each reader's `ReadPlan`, merged (earliest deadline wins), against what is applied.

    ``tolerance_s``: an applied deadline is only moved when the merged wish
    differs by more than this, so a reader's steady progress does not re-send
    its deadlines on every update. A piece with a deadline is not boosted too
    (libtorrent gives deadline pieces its top priority itself).
    """

    def __init__(self, tolerance_s: float = 0.5) -> None:
        self._tolerance_s = tolerance_s
        self._deadlines: dict[Hashable, dict[int, float]] = {}
        self._boosts: dict[Hashable, frozenset[int]] = {}
        self._applied_deadlines: dict[int, float] = {}
        self._applied_boosts: set[int] = set()

    @property
    def applied_deadlines(self) -> dict[int, float]:
        """Pieces with a deadline in libtorrent, and when they are due (absolute seconds)."""
        return dict(self._applied_deadlines)

    @property
    def applied_boosts(self) -> frozenset[int]:
        """Pieces boosted (their priority raised for the read-ahead)."""
        return frozenset(self._applied_boosts)

    def want(self, reader: Hashable, plan: ReadPlan, now: float) -> PieceChanges:
        """Replace ``reader``'s wishes with ``plan`` (its deadlines in ms from ``now``)."""
        self._deadlines[reader] = {p: now + ms / 1000 for p, ms in plan.deadlines.items()}
        self._boosts[reader] = plan.boosted
        return self._settle(now)

    def drop(self, reader: Hashable, now: float) -> PieceChanges:
        """Forget ``reader`` (it finished, seeked or went away): withdraw what only it wanted."""
        self._deadlines.pop(reader, None)
        self._boosts.pop(reader, None)
        return self._settle(now)

    def arrived(self, pieces: set[int]) -> None:
        """These pieces are on disk: nothing more to ask for them."""
        for wants in self._deadlines.values():
            for piece in pieces & wants.keys():
                del wants[piece]
        for reader, boosted in self._boosts.items():
            self._boosts[reader] = boosted - pieces
        for piece in pieces & self._applied_deadlines.keys():
            del self._applied_deadlines[piece]
        self._applied_boosts -= pieces

    def _settle(self, now: float) -> PieceChanges:
        merged: dict[int, float] = {}
        for wants in self._deadlines.values():
            for piece, due in wants.items():
                if due < merged.get(piece, math.inf):
                    merged[piece] = due
        to_set: dict[int, int] = {}
        for piece, due in merged.items():
            applied = self._applied_deadlines.get(piece)
            if applied is None or abs(applied - due) > self._tolerance_s:
                self._applied_deadlines[piece] = due
                to_set[piece] = max(0, round((due - now) * 1000))
        reset = frozenset(self._applied_deadlines.keys() - merged.keys())
        for piece in reset:
            del self._applied_deadlines[piece]
        wanted_boosts: set[int] = set().union(*self._boosts.values()) - merged.keys()
        # libtorrent drops a piece whose deadline is withdrawn to the lowest
        # priority, so a withdrawn piece still in some window is boosted again.
        boost = frozenset(wanted_boosts - (self._applied_boosts - reset))
        unboost = frozenset((self._applied_boosts | reset) - wanted_boosts - merged.keys())
        self._applied_boosts = wanted_boosts
        return PieceChanges(to_set, reset, boost, unboost)
