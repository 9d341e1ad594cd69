"""The flow-level swarm model: every film's swarm stepped through time at once (numpy only).

Each rental is one leecher of its film's swarm from its arrival step. In a step of
``step_s`` seconds, per film:

- demand ``D`` is the sum of its leechers' download rates;
- peer supply is the upload of its seeds plus that of its leechers, times the share of
  peer pairs that can connect at all (NAT), and a lone leecher uploads to nobody
  (leecher upload counts ``(n - 1) / n``);
- the origin fills the gap ``D - peers``, within its per-swarm cap and its share of the
  total origin capacity (swarms share it in proportion to what they want);
- until a full copy is in the swarm (a seed, or one copy sent by the origin this
  session) the origin also streams new content, at its per-swarm rate or one leecher's
  download rate, whichever is less;
- with a warm start (`SwarmInputs.warm_start_silence_s`) the origin is instead a plain
  seed, drawn from in proportion to its rate, until some leecher has been connected
  that long;
- everyone then progresses at the same share of their download rate, but never past the
  swarm's content frontier: until a full copy is in the swarm no leecher holds more than
  the origin has sent, which is Kumar & Ross's ``F / u_s`` term; ``F / d_min`` and
  ``N F / (u_s + sum u)`` hold by construction;
- a *swarm session* is a stretch during which the swarm is not empty; when one ends the
  origin is billed at least ``copies_per_session`` copies for it (the measured cost of the
  super-seeding origin), never more than the session delivered.

A rental that finishes seeds (if it shares) for its own number of steps. Rates are
bytes/s, sizes bytes, times in steps of ``step_s`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Rentals", "SwarmInputs", "SwarmOutcome", "run_swarms"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Rentals:
    """Every rental of the run as parallel arrays, sorted by ``arrival_step``.

    ``target_bytes`` is what the rental downloads before it leaves (the film, or less for
    one that abandons); ``upload_bps`` is 0 for one that does not share; ``seed_steps``
    is how long it seeds after completing (0: it leaves at once; abandoners never seed).
    """

    film: IntArray
    arrival_step: IntArray
    download_bps: FloatArray
    upload_bps: FloatArray
    target_bytes: FloatArray
    seed_steps: IntArray

    def __len__(self) -> int:
        return int(self.film.shape[0])


@dataclass(frozen=True)
class SwarmInputs:
    """The films and the origin: sizes in bytes, rates in bytes/s (``0`` = unlimited)."""

    film_bytes: FloatArray
    step_s: float
    steps: int
    """Every step, the warm-up included."""
    origin_capacity_bps: float
    origin_per_swarm_bps: float = 0.0
    copies_per_session: float = 1.0
    warm_start_bps: float = 0.0
    """The warm start's per-swarm rate (0: ``origin_per_swarm_bps``)."""
    warm_start_silence_s: float = 0.0
    """0: the origin only fills gaps. Else the super-seeding origin's warm start: from a
    session's start the origin seeds plainly, one more peer that leechers draw from in
    proportion to its rate, until some leecher has been connected this long (the
    super-seeder's silence on a new connection); then it only fills gaps."""
    pair_connectivity: float = 1.0
    """Share of peer pairs that can open a connection (both behind NAT: no)."""
    prepositioned_seeds: IntArray | None = None
    """Per film, hosts seeding it from ``preposition_step`` on (before its release)."""
    preposition_step: IntArray | None = None
    preposition_upload_bps: float = 0.0
    preposition_seed_steps: int = 0
    warmup_steps: int = 0
    """Steps run first to fill the swarms and left out of every output (a plan does not
    start with every swarm empty)."""


@dataclass(frozen=True)
class SwarmOutcome:
    """What the model computed after the warm-up: per step totals, per film totals (bytes)."""

    origin_bytes_per_step: FloatArray
    peer_bytes_per_step: FloatArray
    origin_bytes_per_film: FloatArray
    delivered_bytes_per_film: FloatArray
    sessions_per_film: IntArray
    unserved_steps: int
    """Steps in which the origin's total capacity, not demand, set its rate."""
    completion_step: IntArray
    """Per rental, the step in which it completed (or left); -1 if still downloading."""


def _starts(sorted_steps: IntArray, steps: int) -> IntArray:
    """Index of the first rental of each step (and one past the last), for slicing."""
    return np.searchsorted(sorted_steps, np.arange(steps + 1)).astype(np.int64)


def run_swarms(rentals: Rentals, inputs: SwarmInputs) -> SwarmOutcome:
    """Step every film's swarm through ``inputs.steps`` steps; see the module docstring.

    Raises `ValueError` for rentals not sorted by arrival or naming a film that does
    not exist.
    """
    n_films = int(inputs.film_bytes.shape[0])
    steps, dt = inputs.steps, inputs.step_s
    warmup = min(max(0, inputs.warmup_steps), steps)
    if len(rentals) and (np.any(np.diff(rentals.arrival_step) < 0)):
        raise ValueError("rentals must be sorted by arrival_step")
    if len(rentals) and (rentals.film.min() < 0 or rentals.film.max() >= n_films):
        raise ValueError("a rental names a film outside the catalogue")
    starts = _starts(rentals.arrival_step, steps)
    film_bytes = inputs.film_bytes.astype(np.float64)
    per_swarm = np.inf if inputs.origin_per_swarm_bps <= 0 else inputs.origin_per_swarm_bps
    warm_bps = per_swarm if inputs.warm_start_bps <= 0 else inputs.warm_start_bps
    capacity = np.inf if inputs.origin_capacity_bps <= 0 else inputs.origin_capacity_bps
    kappa = max(1.0, inputs.copies_per_session)
    conn = inputs.pair_connectivity

    # Active leechers (all films together), compacted as they leave.
    a_film = np.empty(0, np.int64)
    a_recv = np.empty(0, np.float64)
    a_target = np.empty(0, np.float64)
    a_down = np.empty(0, np.float64)
    a_up = np.empty(0, np.float64)
    a_seed = np.empty(0, np.int64)
    a_arr = np.empty(0, np.int64)
    a_idx = np.empty(0, np.int64)
    completion = np.full(len(rentals), -1, np.int64)
    # Seeds: their upload per film, and what leaves at which step.
    seed_up = np.zeros(n_films)
    seed_count = np.zeros(n_films, np.int64)
    leaving: dict[int, list[tuple[IntArray, FloatArray]]] = {}
    pre_seeds = inputs.prepositioned_seeds
    pre_step = inputs.preposition_step
    arriving_pre: dict[int, IntArray] = {}
    if pre_seeds is not None and pre_step is not None:
        films_pre = np.flatnonzero(pre_seeds > 0)
        for step in np.unique(pre_step[films_pre]):
            arriving_pre[int(step)] = films_pre[pre_step[films_pre] == step]

    session_origin = np.zeros(n_films)
    warm_over = np.ones(n_films, bool)
    silence = inputs.warm_start_silence_s
    session_delivered = np.zeros(n_films)
    has_copy = np.zeros(n_films, bool)  # a full copy in the swarm this session
    in_session = np.zeros(n_films, bool)
    origin_step = np.zeros(steps)
    peer_step = np.zeros(steps)
    origin_film = np.zeros(n_films)
    delivered_film = np.zeros(n_films)
    sessions = np.zeros(n_films, np.int64)
    unserved = 0

    def close_sessions(mask: npt.NDArray[np.bool_], t: int) -> None:
        # The super-seeding origin's measured cost: at least kappa copies per session,
        # never more than the session delivered; billed when the session ends.
        floor = np.minimum(kappa * film_bytes[mask], session_delivered[mask])
        top_up = np.maximum(0.0, floor - session_origin[mask])
        origin_film[mask] += top_up
        total = float(top_up.sum())
        origin_step[t] += total
        peer_step[t] -= total
        session_origin[mask] = 0.0
        session_delivered[mask] = 0.0
        has_copy[mask] = False
        in_session[mask] = False

    at_warmup = (origin_film.copy(), delivered_film.copy(), sessions.copy(), unserved)
    for t in range(steps):
        for films_done, ups in leaving.pop(t, ()):
            np.subtract.at(seed_up, films_done, ups)
            np.subtract.at(seed_count, films_done, 1)
        if t in arriving_pre and pre_seeds is not None:
            films_pre = arriving_pre[t]
            k = pre_seeds[films_pre]
            seed_up[films_pre] += k * inputs.preposition_upload_bps
            seed_count[films_pre] += k
            # Pre-positioning is a swarm session of its own among the hosts.
            cost = np.minimum(kappa, k) * film_bytes[films_pre]
            origin_film[films_pre] += cost
            session_origin[films_pre] += cost
            origin_step[t] += float(cost.sum())
            has_copy[films_pre] = True
            in_session[films_pre] = True
            end = t + inputs.preposition_seed_steps
            leaving.setdefault(end, []).append(
                (np.repeat(films_pre, k), np.full(int(k.sum()), inputs.preposition_upload_bps)))
        lo, hi = starts[t], starts[t + 1]
        if hi > lo:
            a_film = np.concatenate([a_film, rentals.film[lo:hi]])
            a_recv = np.concatenate([a_recv, np.zeros(hi - lo)])
            a_target = np.concatenate([a_target, rentals.target_bytes[lo:hi]])
            a_down = np.concatenate([a_down, rentals.download_bps[lo:hi]])
            a_up = np.concatenate([a_up, rentals.upload_bps[lo:hi]])
            a_seed = np.concatenate([a_seed, rentals.seed_steps[lo:hi]])
            a_arr = np.concatenate([a_arr, rentals.arrival_step[lo:hi]])
            a_idx = np.concatenate([a_idx, np.arange(lo, hi, dtype=np.int64)])
            new = rentals.film[lo:hi]
            opened = new[~in_session[new]]  # may repeat a film: indexed writes, not adds
            sessions[opened] += 1
            warm_over[opened] = silence <= 0
            in_session[new] = True
        leechers: IntArray | int = 0
        if a_film.size:
            n_l = np.bincount(a_film, minlength=n_films)
            leechers = n_l
            demand = np.bincount(a_film, weights=a_down, minlength=n_films)
            up_l = np.bincount(a_film, weights=a_up, minlength=n_films)
            others = np.where(n_l > 0, (n_l - 1) / np.maximum(n_l, 1), 0.0)
            peers_up = conn * (seed_up + up_l * others)
            peers = np.minimum(demand, peers_up)
            gap = np.minimum(demand - peers, per_swarm)
            # Before a full copy is in the swarm, the origin pushes new content even where
            # peers could cover the demand: one stream, at its per-swarm rate or as fast
            # as a leecher takes it, which keeps the content frontier ahead of everyone.
            stream = demand / np.maximum(n_l, 1)
            push = np.where(has_copy, 0.0, np.minimum(stream, per_swarm))
            want = np.maximum(gap, push)
            if np.isfinite(per_swarm) and not warm_over.all():
                # The warm start: a plain seed among peers gets its proportional share,
                # for the part of this step before the oldest leecher's silence is over.
                first = np.full(n_films, t, np.int64)
                np.minimum.at(first, a_film, a_arr)
                warm = np.where(warm_over, 0.0,
                                np.clip((silence - (t - first) * dt) / dt, 0, 1))
                warm_over |= (t + 1 - first) * dt >= silence
                supply = peers_up + warm_bps
                plain = warm_bps * np.minimum(
                    1.0, np.divide(demand, supply, out=np.ones(n_films), where=supply > 0))
                want = np.where(in_session, warm * np.maximum(plain, gap) + (1 - warm) * want,
                                want)
            total_want = float(want.sum())
            if total_want > capacity:
                want = want * (capacity / total_want)
                unserved += 1
            rate = np.minimum(demand, peers + want)
            share = np.divide(rate, demand, out=np.zeros(n_films), where=demand > 0)
            frontier = np.where(has_copy, np.inf, session_origin + want * dt)
            before = a_recv
            a_recv = np.minimum(np.minimum(before + a_down * share[a_film] * dt, a_target),
                                frontier[a_film])
            got = np.bincount(a_film, weights=a_recv - before, minlength=n_films)
            from_origin = np.minimum(want * dt, got)
            origin_step[t] += float(from_origin.sum())
            peer_step[t] += float(got.sum() - from_origin.sum())
            origin_film += from_origin
            delivered_film += got
            session_origin += from_origin
            session_delivered += got
            has_copy |= session_origin >= film_bytes
            done = a_recv >= a_target * (1 - 1e-12)
            if done.any():
                seeding = done & (a_seed > 0) & (a_up > 0) & (a_target >= film_bytes[a_film])
                if seeding.any():
                    films_s, ups_s = a_film[seeding], a_up[seeding]
                    np.add.at(seed_up, films_s, ups_s)
                    np.add.at(seed_count, films_s, 1)
                    has_copy[films_s] = True
                    for end in np.unique(a_seed[seeding]):
                        pick = a_seed[seeding] == end
                        leaving.setdefault(t + 1 + int(end), []).append(
                            (films_s[pick], ups_s[pick]))
                leechers = n_l - np.bincount(a_film[done], minlength=n_films)
                keep = ~done
                a_film, a_recv, a_target = a_film[keep], a_recv[keep], a_target[keep]
                a_down, a_up, a_seed = a_down[keep], a_up[keep], a_seed[keep]
                completion[a_idx[done]] = t
                a_arr, a_idx = a_arr[keep], a_idx[keep]
        # A session ends when its swarm is empty: no leecher, no seed.
        empty = in_session & (leechers == 0) & (seed_count <= 0)
        if empty.any():
            close_sessions(empty, t)
        if t + 1 == warmup:
            at_warmup = (origin_film.copy(), delivered_film.copy(), sessions.copy(), unserved)
    if in_session.any():
        close_sessions(in_session.copy(), steps - 1)
    if warmup:
        origin_film = origin_film - at_warmup[0]
        delivered_film = delivered_film - at_warmup[1]
        sessions = sessions - at_warmup[2]
        unserved -= at_warmup[3]
    return SwarmOutcome(
        origin_bytes_per_step=origin_step[warmup:],
        peer_bytes_per_step=peer_step[warmup:],
        origin_bytes_per_film=origin_film,
        delivered_bytes_per_film=delivered_film,
        sessions_per_film=sessions,
        unserved_steps=unserved,
        completion_step=completion,
    )
