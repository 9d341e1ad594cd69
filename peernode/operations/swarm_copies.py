"""When a film's swarm holds enough copies for the origin to step back (pure).

A super-seeding origin offers each piece once, but it keeps sending at its
full cap until the last customer completes, and once every piece is out
there what it sends is a second copy (measured in `sim/scenarios/flash-crowd.toml`:
the origin busy 23 s at ~3.4 MB/s for a 67 MB film, 1.15 copies). When every
piece is held by at least ``copies`` of the customers connected to the
origin, the customers can finish from each other: the origin's upload for that
film drops to a trickle (it still serves whoever asks, e.g. a customer none of
the others can reach), and comes back as soon as a piece gets scarce again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["min_availability", "origin_film_limit"]


def min_availability(bitfields: Iterable[Sequence[bool]], num_pieces: int) -> int:
    """How many of the peers hold the scarcest piece (0 when one has no holder)."""
    counts = [0] * num_pieces
    for bits in bitfields:
        for piece, have in enumerate(bits[:num_pieces]):
            if have:
                counts[piece] += 1
    return min(counts, default=0)


def origin_film_limit(cap_bps: int, availability: int, *, copies: int = 2,
                      trickle_share: float = 0.05) -> int:
    """The origin's upload limit for one film, bytes/s (0: no limit of its own).

    ``cap_bps`` is the origin's cap; an origin without one keeps no limit either.
    """
    if availability < copies or cap_bps <= 0:
        return 0
    return max(1, int(cap_bps * trickle_share))
