"""Homes on real networks (pure): what a home router does, and which home a client is in.

A scenario's ``[network]`` part (`sim.scenario.toml_file`) gives router kinds as shares of
the clients and groups homes into ISPs; planning gives every client a `HomePlan`. The
netns lab (`sim.netlab`) and the docker backend both build routers from these kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["HomeKind", "HomePlan"]


class HomeKind(StrEnum):
    """What a home router does."""

    PUBLIC = "public"
    """The client has an internet address (routed, no NAT)."""
    NAT = "nat"
    """IPv4 masquerade and a stateful firewall; no port mapping."""
    NAT_UPNP = "nat-upnp"
    """NAT plus miniupnpd answering UPnP IGD and NAT-PMP."""
    DUAL_STACK = "dual-stack"
    """NATed IPv4 plus routed IPv6 (the client has an internet IPv6 address)."""
    V6_ONLY = "v6-only"
    """IPv6 only, routed."""

    @property
    def nat_v4(self) -> bool:
        return self in (HomeKind.NAT, HomeKind.NAT_UPNP, HomeKind.DUAL_STACK)

    @property
    def has_v4(self) -> bool:
        return self is not HomeKind.V6_ONLY

    @property
    def has_v6(self) -> bool:
        return self in (HomeKind.DUAL_STACK, HomeKind.V6_ONLY)


@dataclass(frozen=True)
class HomePlan:
    """The home a client lives in: its router's kind and its ISP (a locality network)."""

    number: int
    """1-based; one home per client, numbered like the clients."""
    kind: HomeKind
    isp: str
