"""Which home each client lives in (pure): router kinds and ISPs from a `NetworkSpec`.

Shares become exact counts by largest-remainder rounding (24 clients at 25 % each are
6 + 6 + 6 + 6, never 7 + 5 + ...), dealt to the clients in a seeded random order; ISPs
get their exact counts the same way, dealt kind by kind so that every ISP holds a fair
mix of every kind (with two equal ISPs, each kind splits evenly, or within one home).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from sim.scenario.homes import HomeKind, HomePlan
from sim.scenario.network import NetworkSpec

__all__ = ["largest_remainder", "plan_homes", "spread_evenly"]


def largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """``total`` split in proportion to ``weights``: each gets the floor of its quota, and
    what is left goes one each to the largest remainders (ties: the earlier weight).

    The counts add up to ``total`` exactly. Raises `ValueError` for no weights, a negative
    weight, all weights zero or a negative total.
    """
    if not weights or any(w < 0 for w in weights) or sum(weights) <= 0 or total < 0:
        raise ValueError("largest_remainder needs non-negative weights, not all zero, "
                         "and a total of at least 0")
    whole = sum(weights)
    quotas = [w / whole * total for w in weights]
    counts = [int(q) for q in quotas]
    left = total - sum(counts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[:left]:
        counts[i] += 1
    return counts


def spread_evenly(counts: Sequence[int]) -> list[int]:
    """A sequence of indices in which index ``i`` appears ``counts[i]`` times, interleaved
    so that every stretch of it holds each index close to its share (at each step the one
    furthest behind its quota goes next; ties: the lower index)."""
    n = sum(counts)
    given = [0] * len(counts)
    order = []
    for step in range(1, n + 1):
        # Behind by counts[i] * step / n - given[i]; compared times n, in integers.
        pick = max((i for i in range(len(counts)) if given[i] < counts[i]),
                   key=lambda i: (counts[i] * step - given[i] * n, -i))
        given[pick] += 1
        order.append(pick)
    return order


def plan_homes(network: NetworkSpec, count: int, rng: random.Random) -> list[HomePlan]:
    """One `HomePlan` for each of ``count`` clients (client ``i`` lives in home ``i``):
    kinds in exact counts by largest remainder, shuffled; ISPs in exact counts by weight,
    dealt through each kind's clients in turn so each ISP gets a fair mix of kinds.

    Draws from ``rng`` in a fixed order: the kinds' order, then the order within a kind.
    """
    shares = network.homes
    kind_counts = largest_remainder([h.share for h in shares], count)
    kinds: list[HomeKind] = [h.kind for h, n in zip(shares, kind_counts, strict=True)
                             for _ in range(n)]
    rng.shuffle(kinds)
    rank = {h.kind: i for i, h in enumerate(shares)}
    order = list(range(count))
    rng.shuffle(order)
    order.sort(key=lambda i: rank[kinds[i]])  # stable: shuffled within each kind
    isp_counts = largest_remainder([isp.weight for isp in network.isps], count)
    isp_of = {}
    for client, isp in zip(order, spread_evenly(isp_counts), strict=True):
        isp_of[client] = network.isps[isp].name
    return [HomePlan(number=i + 1, kind=kinds[i], isp=isp_of[i]) for i in range(count)]
