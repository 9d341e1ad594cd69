"""Where a swarm's nodes live: the tracker's and origin's hosts and a block for clients.

Each backend has its own `AddressPool` (loopback aliases locally, a container network
in docker); planning asks it for client addresses and refuses a scenario with more
clients (or homes) than the pool holds.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sim.errors import ScenarioError

__all__ = ["LOOPBACK_POOL", "AddressPool"]


@dataclass(frozen=True)
class AddressPool:
    """The tracker's host, the origin's host and the network whose hosts are the clients'."""

    tracker_host: str
    origin_host: str
    client_network: str
    max_homes: int | None = None
    """How many homes (a router and its client) the backend can build for a scenario with
    a ``[network]`` part; None: one per client address."""

    @property
    def _network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.client_network)

    @property
    def capacity(self) -> int:
        """How many clients fit: the network's addresses less its network and broadcast."""
        return max(0, self._network.num_addresses - 2)

    @property
    def home_capacity(self) -> int:
        """How many homes fit (planning refuses a ``[network]`` scenario with more)."""
        return self.capacity if self.max_homes is None else min(self.max_homes, self.capacity)

    def client_address(self, index: int) -> str:
        """The address of client ``index`` (0-based); `ScenarioError` beyond the capacity."""
        if not 0 <= index < self.capacity:
            raise ScenarioError(
                f"client {index + 1} has no address: {self.client_network} holds "
                f"{self.capacity} clients"
            )
        return str(self._network.network_address + 1 + index)


# Linux routes all of 127.0.0.0/8 to the loopback interface, so every node gets its
# own address without configuring aliases; 127.1.0.0/24 keeps clients apart from the
# 127.0.0.x addresses of the tracker, the origin and the demo.
LOOPBACK_POOL = AddressPool(
    tracker_host="127.0.0.1", origin_host="127.0.0.2", client_network="127.1.0.0/24"
)
