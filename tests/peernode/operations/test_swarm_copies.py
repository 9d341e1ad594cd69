"""The origin steps back once its customers hold enough copies of a film (pure core)."""

from __future__ import annotations

from peernode.operations.swarm_copies import min_availability, origin_film_limit


def test_min_availability_counts_the_holders_of_the_scarcest_piece() -> None:
    a = [True, True, False]
    b = [True, False, True]
    assert min_availability([a, b], 3) == 1
    assert min_availability([a, b, [True, True, True]], 3) == 2
    assert min_availability([a], 3) == 0
    assert min_availability([], 3) == 0


def test_the_origin_trickles_while_every_piece_has_two_holders_and_comes_back() -> None:
    cap = 4_000_000
    assert origin_film_limit(cap, availability=1) == 0  # 0: no limit of its own
    assert origin_film_limit(cap, availability=2) == 200_000
    assert origin_film_limit(cap, availability=5, copies=6) == 0
    assert origin_film_limit(0, availability=9) == 0  # an uncapped origin keeps no limit
