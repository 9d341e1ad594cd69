"""Pre-positioning in a scenario: K hosts placed before the release (pure).

A scenario's ``[hosts]`` part::

    [hosts]
    count = 4                  # K opted-in hosts
    upload_bps = "4M"          # each host's upload cap (its owner's limit)
    download_bps = "2M"        # each host's download cap while the film is placed
    placement_timeout_s = 300  # the quiet period: release once every host holds the
                               # film, or after this long
    origin_backup_hosts = 4    # the tracker leaves the origin out of renters' lists while
                               # this many hosts hold the film (default: count; 0: never)

The run then has two windows: **placement** (hosts fetch the film while no renter is
there, the origin at its cap) and **release** (the flash crowd of renters, arrival times
counted from the release). Hosts take the client pool's last addresses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.errors import ScenarioError
from sim.scenario.addresses import AddressPool

__all__ = ["HostPlan", "HostsSpec", "plan_hosts"]


@dataclass(frozen=True)
class HostsSpec:
    """The hosts of a pre-positioning scenario."""

    count: int
    upload_bps: int = 0
    download_bps: int = 0
    placement_timeout_s: float = 300.0
    origin_backup_hosts: int | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ScenarioError(f"hosts.count must be at least 1, got {self.count}")
        for name in ("upload_bps", "download_bps"):
            if getattr(self, name) < 0:
                raise ScenarioError(f"hosts.{name} must not be negative (bytes/s, 0 = unlimited)")
        if not math.isfinite(self.placement_timeout_s) or self.placement_timeout_s <= 0:
            raise ScenarioError("hosts.placement_timeout_s must be a positive number")
        backup = self.origin_backup_hosts
        if backup is not None and not 0 <= backup <= self.count:
            raise ScenarioError(f"hosts.origin_backup_hosts must be in 0..{self.count}")

    @property
    def backup_threshold(self) -> int:
        """Complete hosts at which the tracker leaves the origin out (0: never)."""
        return self.count if self.origin_backup_hosts is None else self.origin_backup_hosts


@dataclass(frozen=True)
class HostPlan:
    """One host of a run."""

    number: int
    address: str
    upload_bps: int
    download_bps: int

    @property
    def name(self) -> str:
        return f"host-{self.number}"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "address": self.address, "upload_bps": self.upload_bps,
                "download_bps": self.download_bps}


def plan_hosts(
    spec: HostsSpec | None, addresses: AddressPool, clients: int
) -> tuple[HostPlan, ...]:
    """The hosts on the pool's last addresses; `ScenarioError` if clients and hosts do not
    both fit."""
    if spec is None:
        return ()
    if clients + spec.count > addresses.capacity:
        raise ScenarioError(
            f"clients.count + hosts.count = {clients + spec.count} but this backend has "
            f"{addresses.capacity} addresses ({addresses.client_network})"
        )
    return tuple(
        HostPlan(number=j + 1, address=addresses.client_address(addresses.capacity - 1 - j),
                 upload_bps=spec.upload_bps, download_bps=spec.download_bps)
        for j in range(spec.count)
    )
