"""Pre-positioning figures of a run (pure): the origin's bytes split into the placement and
the release windows, and the bytes the hosts served.

For a run without hosts there is no placement window: everything the origin sent is the
release window's, and no byte came from a host, so the same keys compare a run with
hosts to the same flash crowd without them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sim.placement_phase import PlacementRecord

__all__ = ["HostingFigures", "hosting_figures"]


def _copies(n: int | None, film_bytes: int) -> float | None:
    return None if n is None or film_bytes <= 0 else round(n / film_bytes, 4)


@dataclass(frozen=True)
class HostingFigures:
    """The report's pre-positioning figures (bytes; copies of the encrypted film)."""

    hosts: int
    hosts_complete_at_release: int
    placement_s: float
    release_window_s: float
    origin_bytes_placement: int | None
    origin_bytes_release_window: int | None
    origin_copies_placement: float | None
    origin_copies_release_window: float | None
    origin_mean_rate_release_bps: float | None
    bytes_from_hosts: int
    """What the hosts uploaded during the release window (their own counters)."""
    host_copies_release_window: float | None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def hosting_figures(
    film_bytes: int,
    origin_total: int | None,
    placement: PlacementRecord | None,
    hosts_uploaded_end: int,
    release_window_s: float,
) -> HostingFigures:
    """The figures from the origin's total count, the placement record (None: no hosts),
    the hosts' upload counters at the end and the release window's length (seconds)."""
    placed: int | None = 0
    hosts, complete, placement_s, host_bytes = 0, 0, 0.0, 0
    if placement is not None:
        placed = placement.origin_bytes
        hosts, complete = placement.hosts, placement.hosts_complete
        placement_s = placement.duration_s
        host_bytes = max(0, hosts_uploaded_end - placement.host_uploaded_at_release)
    release = None if origin_total is None or placed is None else max(0, origin_total - placed)
    rate = (None if release is None or release_window_s <= 0
            else round(release / release_window_s, 1))
    return HostingFigures(
        hosts=hosts,
        hosts_complete_at_release=complete,
        placement_s=round(placement_s, 3),
        release_window_s=round(release_window_s, 3),
        origin_bytes_placement=placed,
        origin_bytes_release_window=release,
        origin_copies_placement=_copies(placed, film_bytes),
        origin_copies_release_window=_copies(release, film_bytes),
        origin_mean_rate_release_bps=rate,
        bytes_from_hosts=host_bytes,
        host_copies_release_window=_copies(host_bytes, film_bytes),
    )
