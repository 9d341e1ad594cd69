"""The docker backend's home-network address plan (pure): an "internet" network, one
network per home, a router per home and ISPs as address ranges.

The internet is ``10.87.0.0/16`` and ``fd00:87::/64`` (tracker ``.0.2``, origin ``.0.3``,
the STUN server ``.0.4`` and ``.0.5``). ISP ``k`` (1-based, in order of first appearance)
owns ``10.87.k.0/24`` for its routers' internet (WAN) addresses, ``10.(100+k).0.0/16``
for the networks of its `public` homes and ``fd00:90:k::/48`` for its homes' IPv6
prefixes, so the tracker's network map (`network_map`, CIDR -> ISP) groups every home
by ISP whatever its kind. The ``h``-th home of ISP ``k``:

- NATed IPv4 (`nat`, `nat-upnp`, `dual-stack`): LAN ``10.90.n.0/24`` (``n`` the home's
  number), router ``.1``, client ``.2``; the world sees the router's WAN ``10.87.k.h``;
- `public`: LAN ``10.(100+k).h.0/24``, routed to the router's WAN;
- IPv6 (`dual-stack`, `v6-only`): LAN ``fd00:90:k:h::/64`` (router ``::1``, client
  ``::2``), routed to the router's WAN ``fd00:87::k:h``.

Docker's own gateway address on each home network (the host's side of its bridge) is
``.254`` / ``::fe``, out of the way. No container has a route to the host: traffic
between homes goes router to router over the internet network along the routes of
`HomeTopology.routes` (each internet-side container has all of them), and nothing
leaves the machine (`sim.backends.docker_homes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sim.errors import ScenarioError
from sim.scenario.homes import HomeKind, HomePlan

__all__ = [
    "INTERNET_V4",
    "INTERNET_V6",
    "MAX_HOMES",
    "MAX_HOMES_PER_ISP",
    "MAX_ISPS",
    "ORIGIN_V4",
    "ORIGIN_V6",
    "STUN_V4",
    "STUN_V6",
    "TRACKER_NAME",
    "TRACKER_V4",
    "TRACKER_V6",
    "HomeNet",
    "HomeTopology",
    "plan_topology",
]

_NET = 87
"""The internet's second octet (IPv4) and group (IPv6). It was 88 until a run's internet
network was left in docker 20.10 with a stale endpoint count ("has active endpoints" with
none attached, moby/moby#42119; only restarting dockerd clears it), which holds its
subnets for good: moving the internet is this one number."""
INTERNET_V4, INTERNET_V6 = f"10.{_NET}.0.0/16", f"fd00:{_NET}::/64"
TRACKER_V4, TRACKER_V6 = f"10.{_NET}.0.2", f"fd00:{_NET}::2"
ORIGIN_V4, ORIGIN_V6 = f"10.{_NET}.0.3", f"fd00:{_NET}::3"
STUN_V4 = (f"10.{_NET}.0.4", f"10.{_NET}.0.5")
STUN_V6 = f"fd00:{_NET}::4"
"""The STUN server's two addresses (miniupnpd's check sends change requests)."""
TRACKER_NAME = "tracker.peernode.test"
"""The tracker's name in the torrent: each node resolves it (``/etc/hosts``) to the
tracker's addresses of the families it has, so a v6-only home announces over IPv6
(a name needs a dot, `.test` is reserved for testing: RFC 6761)."""
MAX_HOMES, MAX_HOMES_PER_ISP, MAX_ISPS = 250, 250, 50


@dataclass(frozen=True)
class HomeNet:
    """One home's networks and addresses; None where its kind has no such family."""

    client: str
    """The client's name (``client-N``)."""
    plan: HomePlan
    isp_index: int
    """1-based, the ISP's place in order of first appearance."""
    slot: int
    """1-based, the home's place among its ISP's homes."""

    @property
    def kind(self) -> HomeKind:
        return self.plan.kind

    @property
    def isp(self) -> str:
        return self.plan.isp

    @property
    def subnet_v4(self) -> str:
        """The home network's IPv4 subnet (docker wants one even on a `v6-only` home,
        whose router and client then drop their IPv4 addresses)."""
        if self.kind is HomeKind.PUBLIC:
            return f"10.{100 + self.isp_index}.{self.slot}.0/24"
        return f"10.90.{self.plan.number}.0/24"

    @property
    def gateway_v4(self) -> str:
        """Docker's (the host's) address on the home network, unused by the home."""
        return self.subnet_v4.replace(".0/24", ".254")

    @property
    def subnet_v6(self) -> str | None:
        return f"fd00:90:{self.isp_index:x}:{self.slot:x}::/64" if self.kind.has_v6 else None

    @property
    def gateway_v6(self) -> str | None:
        return None if self.subnet_v6 is None else self.subnet_v6.replace("::/64", "::fe")

    def _lan(self, host: int) -> tuple[str, str | None]:
        v4 = self.subnet_v4.replace(".0/24", f".{host}")
        v6 = None if self.subnet_v6 is None else self.subnet_v6.replace("::/64", f"::{host}")
        return v4, v6

    @property
    def router_lan(self) -> tuple[str, str | None]:
        """The router's addresses on the home network (the client's gateways)."""
        return self._lan(1)

    @property
    def client_addresses(self) -> tuple[str, str | None]:
        """The client's addresses on the home network (the IPv4 one is dropped in a
        `v6-only` home)."""
        return self._lan(2)

    @property
    def wan_v4(self) -> str:
        """The router's internet IPv4 address (a `v6-only` router drops it)."""
        return f"10.{_NET}.{self.isp_index}.{self.slot}"

    @property
    def wan_v6(self) -> str:
        """The router's internet IPv6 address (every router has one: docker gives each
        container on an IPv6 network an address, so the plan names it)."""
        return f"fd00:{_NET}::{self.isp_index:x}:{self.slot:x}"

    @property
    def listen_host(self) -> str:
        """Where the client's node listens: its own IPv4 address (port mapping needs a
        concrete local address), its IPv6 one in a `v6-only` home, every interface
        (both families) in a `dual-stack` one."""
        v4, v6 = self.client_addresses
        if self.kind is HomeKind.DUAL_STACK:
            return "::"
        if self.kind is HomeKind.V6_ONLY:
            assert v6 is not None
            return v6
        return v4

    @property
    def seen_at(self) -> tuple[str, ...]:
        """The addresses the internet sees this home's client at: the router's WAN
        address behind NAT, the client's own otherwise (and its IPv6 one)."""
        v4, v6 = self.client_addresses
        seen = []
        if self.kind.nat_v4:
            seen.append(self.wan_v4)
        elif self.kind.has_v4:
            seen.append(v4)
        if v6 is not None:
            seen.append(v6)
        return tuple(seen)

    @property
    def routed(self) -> tuple[tuple[str, str], ...]:
        """(network, via) routes the internet needs to reach this home's client."""
        routes = []
        if self.kind is HomeKind.PUBLIC:
            routes.append((self.subnet_v4, self.wan_v4))
        if self.subnet_v6 is not None:
            routes.append((self.subnet_v6, self.wan_v6))
        return tuple(routes)


@dataclass(frozen=True)
class HomeTopology:
    """Every home of a run, by client name, and the ISPs in order."""

    homes: Mapping[str, HomeNet]
    isps: tuple[str, ...]

    def routes(self) -> tuple[tuple[str, str], ...]:
        """Every (network, via) route of the internet side: into routed homes."""
        return tuple(r for home in self.homes.values() for r in home.routed)

    def network_map(self) -> dict[str, str]:
        """The tracker's ``[networks]`` map: each ISP's address ranges -> its name."""
        networks = {}
        for k, isp in enumerate(self.isps, start=1):
            networks[f"10.{_NET}.{k}.0/24"] = isp
            networks[f"10.{100 + k}.0.0/16"] = isp
            networks[f"fd00:90:{k:x}::/48"] = isp
        return networks

    def isp_networks(self) -> dict[str, int]:
        """Each ISP's address ranges -> the ISP's index (1-based, `isps` order)."""
        index = {isp: k for k, isp in enumerate(self.isps, start=1)}
        return {cidr: index[isp] for cidr, isp in self.network_map().items()}

    def seen_as(self) -> dict[str, str]:
        """Seen address -> client name, for every home's client."""
        return {address: home.client for home in self.homes.values()
                for address in home.seen_at}


def plan_topology(homes: Sequence[tuple[str, HomePlan]]) -> HomeTopology:
    """The topology of ``homes`` ((client name, home) pairs, one home per client);
    `ScenarioError` beyond `MAX_HOMES` homes, `MAX_ISPS` ISPs or `MAX_HOMES_PER_ISP`
    homes in one ISP, or for a home number outside 1..`MAX_HOMES`."""
    if len(homes) > MAX_HOMES:
        raise ScenarioError(f"the docker backend holds {MAX_HOMES} homes, not {len(homes)}")
    isps: dict[str, int] = {}
    slots: dict[str, int] = {}
    nets = {}
    for client, home in homes:
        if not 1 <= home.number <= MAX_HOMES:
            raise ScenarioError(f"home {home.number} is outside 1..{MAX_HOMES}")
        isps.setdefault(home.isp, len(isps) + 1)
        if len(isps) > MAX_ISPS:
            raise ScenarioError(f"the docker backend holds {MAX_ISPS} ISPs, not more")
        slots[home.isp] = slots.get(home.isp, 0) + 1
        if slots[home.isp] > MAX_HOMES_PER_ISP:
            raise ScenarioError(f"ISP {home.isp} has more than {MAX_HOMES_PER_ISP} homes")
        nets[client] = HomeNet(client, home, isps[home.isp], slots[home.isp])
    return HomeTopology(homes=nets, isps=tuple(isps))
