"""The lab's address plan (pure): which address every host, router and client gets.

All addresses are the lab's own and live only inside its namespaces: the "internet" is
198.18.0.0/16 (RFC 2544's benchmarking range) and fd00:18::/64; a home numbered ``i``
gets 192.168.i.0/24 behind NAT, 198.19.i.0/24 when its client is `public`, and
fd00:19:i::/64 when it routes IPv6 (ULA prefixes stand in for public IPv6 here).
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.scenario.homes import HomeKind

__all__ = ["CORE_V4", "CORE_V6", "HomeAddresses", "HomeKind", "home_addresses",
           "host_addresses"]

CORE_V4, CORE_V6 = "198.18.0.1", "fd00:18::1"
"""The internet's core router (the bridge's own address in the internet namespace)."""
INET_V4_PREFIX, INET_V6_PREFIX = 16, 64
MAX_HOSTS, MAX_HOMES = 200, 250


def host_addresses(index: int) -> tuple[str, str]:
    """IPv4 and IPv6 address of internet host ``index`` (0-based; ValueError beyond 200)."""
    if not 0 <= index < MAX_HOSTS:
        raise ValueError(f"the lab holds {MAX_HOSTS} internet hosts, not {index + 1}")
    return f"198.18.0.{10 + index}", f"fd00:18::{10 + index:x}"


@dataclass(frozen=True)
class HomeAddresses:
    """A home's addresses; None where the home has no such address family."""

    wan_v4: str | None
    wan_v6: str | None
    lan_v4: str | None
    """The router's LAN address (the client's gateway)."""
    lan_v6: str | None
    client_v4: str | None
    client_v6: str | None
    routed_v4: str | None
    """The client's IPv4 network the core routes to this router (public homes only)."""
    routed_v6: str | None


def home_addresses(number: int, kind: HomeKind) -> HomeAddresses:
    """The addresses of home ``number`` (1-based; ValueError beyond 250)."""
    if not 1 <= number <= MAX_HOMES:
        raise ValueError(f"the lab holds {MAX_HOMES} homes, not {number}")
    v4_net = f"198.19.{number}" if kind is HomeKind.PUBLIC else f"192.168.{number}"
    v6_net = f"fd00:19:{number:x}:"
    return HomeAddresses(
        wan_v4=f"198.18.1.{number}" if kind.has_v4 else None,
        wan_v6=f"fd00:18::1:{number:x}" if kind.has_v6 else None,
        lan_v4=f"{v4_net}.1" if kind.has_v4 else None,
        lan_v6=f"{v6_net}:1" if kind.has_v6 else None,
        client_v4=f"{v4_net}.2" if kind.has_v4 else None,
        client_v6=f"{v6_net}:2" if kind.has_v6 else None,
        routed_v4=f"{v4_net}.0/24" if kind is HomeKind.PUBLIC else None,
        routed_v6=f"{v6_net}:/64" if kind.has_v6 else None,
    )
