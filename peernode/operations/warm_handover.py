"""Which customers the origin's warm start still serves: handed over one by one (pure).

A super-seeding origin is silent on each new connection for its first ~10 s
(`peernode.operations.origin`), so a normally seeding *warm* session serves a
customer meanwhile. The handover is per customer: as soon as the super-seeder
sends payload to a remote IP, that IP leaves the warm session (its IP filter),
while customers whose super-seeded connection is still silent keep being served.
Handing a whole film over at the first byte the super-seeder sent cut every
later arrival off for the rest of its silent 10 s (a 1-2 s dip of the swarm).

The warm session is told by IP (libtorrent's IP filter is the one way to close
another session's connection from Python), so customers behind one NAT are
handed over together. An IP no longer connected to the super-seeder is
forgotten: a customer who comes back is served warm again.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["WarmHandover", "split_upload_cap"]


class WarmHandover:
    """The remote IPs handed over to the super-seeder."""

    def __init__(self) -> None:
        self.handed: frozenset[str] = frozenset()

    def update(self, super_seeded: Iterable[tuple[str, int]]) -> bool:
        """Apply one sample of the super-seeder's connections, as (remote IP, payload
        bytes sent on that connection); returns whether the handed-over set changed."""
        connected: dict[str, bool] = {}
        for ip, sent in super_seeded:
            connected[ip] = connected.get(ip, False) or sent > 0
        handed = frozenset(ip for ip, sending in connected.items() if sending)
        handed |= self.handed & connected.keys()
        changed = handed != self.handed
        self.handed = handed
        return changed

    def waiting(self, warm_ips: Iterable[str]) -> frozenset[str]:
        """The warm session's peers not handed over yet (its customers still served)."""
        return frozenset(warm_ips) - self.handed


def split_upload_cap(cap_bps: int, waiting: int, handed: int) -> tuple[int, int]:
    """The origin's cap shared as (super-seeder, warm session), bytes/s.

    The warm session gets the waiting customers' share of it, the super-seeder
    the rest but never less than a tenth (its pieces are the ones sent once); with
    no one waiting the warm session gets 1 byte/s (0 would mean unlimited).
    ``cap_bps`` 0 (unlimited) stays unlimited for both.
    """
    if cap_bps <= 0:
        return 0, 0
    if waiting <= 0:
        return cap_bps - 1, 1
    warm = cap_bps * waiting // (waiting + handed)
    warm = max(1, min(warm, cap_bps - cap_bps // 10))
    return cap_bps - warm, warm
