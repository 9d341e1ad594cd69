"""The swarm model's invariants on hand-built swarms: no peers no offload, 1 - 1/N at
most, Kumar & Ross's bound never beaten."""

from __future__ import annotations

import numpy as np
import pytest

from sim.analysis.figures import kumar_ross_t_min, offload_limit
from sim.planner.swarm_model import Rentals, SwarmInputs, run_swarms

from .conftest import rentals

STEP_S = 0.5


def inputs(films: int = 1, *, size: float = 64e6, origin_bps: float = 4e6,
           copies: float = 1.0, steps: int = 4000, **kw: object) -> SwarmInputs:
    return SwarmInputs(film_bytes=np.full(films, size), step_s=STEP_S, steps=steps,
                       origin_capacity_bps=origin_bps, origin_per_swarm_bps=origin_bps,
                       copies_per_session=copies, **kw)  # type: ignore[arg-type]


def offload_of(r: Rentals, i: SwarmInputs) -> float:
    out = run_swarms(r, i)
    delivered = out.delivered_bytes_per_film.sum()
    assert delivered == pytest.approx(r.target_bytes.sum())
    assert out.origin_bytes_per_film.sum() == pytest.approx(out.origin_bytes_per_step.sum())
    return float(1 - out.origin_bytes_per_film.sum() / delivered)


def test_zero_peer_upload_means_no_offload() -> None:
    r = rentals([0, 0, 1, 3, 10, 11], up=0.0, seed_steps=100)
    assert offload_of(r, inputs()) == pytest.approx(0.0, abs=1e-9)


def test_one_rental_per_film_without_overlap_means_no_offload() -> None:
    r = rentals(list(range(0, 50, 5)), film=list(range(10)), seed_steps=0)
    assert offload_of(r, inputs(films=10)) == pytest.approx(0.0, abs=1e-9)


def test_rentals_of_one_film_one_after_another_get_no_offload() -> None:
    # Each finishes (64 MB at 4 MB/s = 16 s = 32 steps) before the next arrives.
    r = rentals([0, 100, 200, 300], seed_steps=0)
    out = run_swarms(r, inputs())
    assert out.sessions_per_film[0] == 4
    assert out.origin_bytes_per_film[0] == pytest.approx(4 * 64e6)


@pytest.mark.parametrize("n", [10, 100, 1000])
@pytest.mark.parametrize("copies", [1.0, 1.2])
def test_flash_crowd_approaches_but_never_exceeds_one_minus_one_over_n(
        n: int, copies: float) -> None:
    r = rentals([0] * n, seed_steps=1000)
    share = offload_of(r, inputs(copies=copies, origin_bps=0.0))
    assert share <= offload_limit(n) + 1e-12
    assert share >= 1 - 1.01 * copies / n


def test_completions_never_beat_kumar_ross() -> None:
    for up in (1e6, 4e6, 16e6):
        r = rentals([0] * 20, up=up, seed_steps=2000)
        out = run_swarms(r, inputs())
        t_min = kumar_ross_t_min(64_000_000, 4_000_000, [4_000_000] * 20, [int(up)] * 20)
        assert (out.completion_step >= 0).all()
        assert (out.completion_step + 1).max() * STEP_S >= t_min * (1 - 1e-9)


def test_origin_capacity_is_shared_and_never_exceeded() -> None:
    r = rentals([0, 0, 0], film=[0, 1, 2], up=0.0)
    out = run_swarms(r, inputs(films=3, origin_bps=3e6, steps=200))
    assert out.origin_bytes_per_step.max() <= 3e6 * STEP_S * (1 + 1e-9)
    assert out.unserved_steps > 0


def test_abandoning_rentals_download_part_and_never_seed() -> None:
    r = rentals([0, 0])
    half = Rentals(r.film, r.arrival_step, r.download_bps, r.upload_bps,
                   np.array([32e6, 64e6]), np.array([1000, 1000], np.int64))
    out = run_swarms(half, inputs())
    assert out.delivered_bytes_per_film[0] == pytest.approx(96e6)


def test_prepositioned_hosts_serve_the_first_rental() -> None:
    r = rentals([100])
    plain = run_swarms(r, inputs()).origin_bytes_per_film[0]
    pre = inputs(prepositioned_seeds=np.array([5], np.int64),
                 preposition_step=np.array([0], np.int64), preposition_upload_bps=4e6,
                 preposition_seed_steps=1000)
    out = run_swarms(r, pre)
    # One copy to pre-position, then the rental is served by the hosts.
    assert out.origin_bytes_per_film[0] == pytest.approx(64e6, rel=0.01)
    assert plain == pytest.approx(64e6)


def test_unsorted_rentals_are_refused() -> None:
    with pytest.raises(ValueError, match="sorted"):
        run_swarms(rentals([3, 1]), inputs())
