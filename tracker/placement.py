"""Placement: which opted-in hosts carry a film before its release (pure).

`plan_placement` assigns a film to ``copies`` hosts, spreading the copies over the
locality networks the tracker uses for peer lists (`tracker.locality.NetworkMap`: the
operator's prefix map, else /24 and /48), so that on release night renters on every
network find copies nearby. Rules, in order:

1. a host already carrying the film keeps it while it is online and within its quota;
   one that left or is over quota is dropped (its credential is then revoked) and
   **replaced**;
2. a new copy goes to the network with the fewest copies so far, to an online host
   with room for the whole film (quota minus what it already hosts), the one with the
   most room first; name order breaks ties, so a plan is reproducible;
3. a host whose quota is reached gets no more placement; if no host has room the plan
   says how many copies are missing (``shortfall``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address

from tracker.errors import ConfigError
from tracker.locality import NetworkMap

__all__ = ["HostEntry", "PlacementPlan", "host_network", "plan_placement"]


@dataclass(frozen=True)
class HostEntry:
    """An opted-in host as the operator knows it."""

    name: str
    address: str
    """The IP it is reached at (names its network)."""
    quota_bytes: int
    online: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("hosts: every host needs a name")
        try:
            ip_address(self.address)
        except ValueError:
            raise ConfigError(f"hosts: {self.name}: {self.address!r} is not an IP") from None
        if self.quota_bytes < 0:
            raise ConfigError(f"hosts: {self.name}: quota_bytes must not be negative")


@dataclass(frozen=True)
class PlacementPlan:
    """What to do for one film: hosts kept, added, dropped, copies that found no host."""

    film_id: str
    keep: tuple[str, ...]
    add: tuple[str, ...]
    drop: tuple[str, ...]
    shortfall: int
    networks: dict[str, int] = field(default_factory=dict)
    """Copies per network once the plan is carried out."""

    @property
    def hosts(self) -> tuple[str, ...]:
        return self.keep + self.add


def host_network(host: HostEntry, networks: NetworkMap) -> str:
    """The locality network of a host's address."""
    return networks.name_of(ip_address(host.address).packed)


def plan_placement(
    film_id: str,
    film_bytes: int,
    copies: int,
    hosts: Sequence[HostEntry],
    assigned: Mapping[str, Mapping[str, int]],
    networks: NetworkMap | None = None,
) -> PlacementPlan:
    """Plan ``copies`` copies of ``film_id`` (``film_bytes`` each) over ``hosts``.

    ``assigned``: film id -> {host name -> bytes that film takes there}, every film
    placed so far (this one included), which is what fills the quotas.
    Raises `ConfigError` for duplicate host names or a negative count.
    """
    if copies < 0 or film_bytes < 0:
        raise ConfigError("copies and film size must not be negative")
    by_name = {h.name: h for h in hosts}
    if len(by_name) != len(hosts):
        raise ConfigError("hosts: duplicate host names")
    networks = networks or NetworkMap()
    used: Counter[str] = Counter()
    for film, placed in assigned.items():
        if film != film_id:
            for name, size in placed.items():
                used[name] += size
    current = sorted(assigned.get(film_id, {}))
    keep: list[str] = []
    drop: list[str] = []
    for name in current:
        host = by_name.get(name)
        if host is None or not host.online or used[name] + film_bytes > host.quota_bytes:
            drop.append(name)
        else:
            keep.append(name)
    if len(keep) > copies:  # fewer copies wanted now: drop from the most crowded network
        while len(keep) > copies:
            counts = Counter(host_network(by_name[n], networks) for n in keep)
            crowded = max(keep, key=lambda n: (counts[host_network(by_name[n], networks)], n))
            keep.remove(crowded)
            drop.append(crowded)
    per_network = Counter(host_network(by_name[n], networks) for n in keep)
    taken = set(keep) | set(current)
    candidates = [
        h for h in sorted(hosts, key=lambda h: h.name)
        if h.online and h.name not in taken and used[h.name] + film_bytes <= h.quota_bytes
    ]
    all_networks = {host_network(h, networks) for h in hosts if h.online}
    for net in all_networks:
        per_network.setdefault(net, 0)
    add: list[str] = []
    while len(keep) + len(add) < copies and candidates:
        def rank(h: HostEntry) -> tuple[int, int, str]:
            return (per_network[host_network(h, networks)], -(h.quota_bytes - used[h.name]),
                    h.name)
        chosen = min(candidates, key=rank)
        candidates.remove(chosen)
        add.append(chosen.name)
        per_network[host_network(chosen, networks)] += 1
    shortfall = copies - len(keep) - len(add)
    placed = {n: c for n, c in sorted(per_network.items()) if c}
    return PlacementPlan(film_id, tuple(keep), tuple(add), tuple(sorted(drop)), shortfall,
                         placed)
