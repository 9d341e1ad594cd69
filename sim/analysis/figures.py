"""The swarm's figures of merit as plain formulas (pure, unit-tested on hand-computed cases).

Sizes in bytes, rates in bytes/s, times in seconds. A rate of ``0`` means
unlimited, as everywhere on the command line, and contributes no bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "attribution_gap",
    "cdn_egress_saved_gb",
    "kumar_ross_t_min",
    "offload",
    "offload_limit",
    "origin_copies",
    "percentile",
    "percentile_of_all",
]


def _capacity(rate_bps: int) -> float:
    return math.inf if rate_bps == 0 else float(rate_bps)


def kumar_ross_t_min(
    film_bytes: int,
    origin_upload_bps: int,
    client_download_bps: Sequence[int],
    client_upload_bps: Sequence[int],
) -> float:
    """Kumar & Ross's minimum time to get a file of F bytes to all N clients, in seconds.

    ``T_min = max(F/u_s, F/d_min, N·F/(u_s + Σu_i))``: the origin must send every
    byte once, the slowest client must receive every byte, and the swarm must
    upload N copies with everyone's upload together. Unlimited rates (0) drop out
    of their term. Raises `ValueError` for no clients or lists of different lengths.
    """
    n = len(client_download_bps)
    if n == 0 or n != len(client_upload_bps):
        raise ValueError("one download and one upload rate per client, at least one client")
    if film_bytes < 0:
        raise ValueError("film_bytes must not be negative")
    u_s = _capacity(origin_upload_bps)
    d_min = min(_capacity(d) for d in client_download_bps)
    total_upload = u_s + sum(_capacity(u) for u in client_upload_bps)
    return max(film_bytes / u_s, film_bytes / d_min, n * film_bytes / total_upload)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks (numpy's default).

    Raises `ValueError` for no values or ``q`` outside 0-100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be in 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def percentile_of_all(finished: Sequence[float], unfinished: int, q: float) -> float | None:
    """The ``q``-th percentile of a group where ``unfinished`` members never finished.

    Every member counts: those that did not finish rank above every time. With all
    finished this is `percentile` (linear between ranks). Otherwise it is the nearest-rank
    percentile over everyone (the ceil(q/100 * n)-th smallest), and None ("not reached")
    when that rank falls on a member that did not finish: the p95 is not reached once
    more than 5 % did not finish. None for an empty group.
    """
    if unfinished < 0:
        raise ValueError("unfinished must not be negative")
    n = len(finished) + unfinished
    if n == 0:
        return None
    if unfinished == 0:
        return percentile(finished, q)
    if not 0 <= q <= 100:
        raise ValueError("q must be in 0..100")
    rank = max(1, math.ceil(q / 100 * n))
    if rank > len(finished):
        return None
    return sorted(finished)[rank - 1]


def attribution_gap(attributed_bytes: int, measured_bytes: int) -> float | None:
    """How far the clients' attribution of origin bytes is from the origin's own count,
    relative to the latter (0.02 = attributed 2 % more). None without a measurement."""
    if measured_bytes <= 0:
        return None
    return (attributed_bytes - measured_bytes) / measured_bytes


def origin_copies(origin_bytes: int, film_bytes: int) -> float:
    """How many copies of the film the origin (the CDN) sent."""
    return origin_bytes / film_bytes if film_bytes else 0.0


def offload(origin_bytes: int, delivered_bytes: int) -> float:
    """1 - origin bytes / bytes delivered: the share of the bytes the CDN did not bill."""
    return 1 - origin_bytes / delivered_bytes if delivered_bytes else 0.0


def offload_limit(clients: int) -> float:
    """1 - 1/N: the origin must send at least one copy to N clients."""
    return 1 - 1 / clients if clients > 0 else 0.0


def cdn_egress_saved_gb(film_bytes: int, offload_share: float, rentals: int = 1000) -> float:
    """CDN egress saved for ``rentals`` rentals of this film at this offload, in GB (1e9 B)."""
    return rentals * film_bytes * offload_share / 1e9
