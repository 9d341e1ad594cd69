"""The placement window of a pre-positioning run: hosts fetch the film before the release.

`run_placement` starts every planned host, waits until each holds the whole film (or the
scenario's ``placement_timeout_s`` passes), lets their "completed" announces reach the
tracker, and records what the origin sent meanwhile and what the hosts had uploaded at
the release, so the report can split the origin's bytes into the two windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import trio

from sim.errors import BackendError
from sim.scenario.hosts import HostPlan
from sim.scenario.plan import SwarmPlan

__all__ = ["HostingSwarm", "PlacementRecord", "run_placement"]

POLL_S = 0.5
ANNOUNCE_SETTLE_S = 1.5
"""After the last host completes: time for its "completed" announce to reach the tracker."""


@runtime_checkable
class HostingSwarm(Protocol):
    """What a backend's swarm offers for hosts (the local backend has it)."""

    async def start_host(self, host: HostPlan) -> None: ...

    def host_status(self, host: HostPlan) -> dict[str, object] | None: ...

    async def origin_sent(self) -> int | None: ...


@dataclass(frozen=True)
class PlacementRecord:
    """The placement window: how long, how many hosts completed, what moved."""

    duration_s: float
    hosts: int
    hosts_complete: int
    origin_bytes: int | None
    """What the origin sent during placement (None: its counters could not be read)."""
    host_uploaded_at_release: int
    """The hosts' upload counters at the release (to each other, during placement)."""

    def to_json(self) -> dict[str, object]:
        return {"duration_s": round(self.duration_s, 3), "hosts": self.hosts,
                "hosts_complete": self.hosts_complete, "origin_bytes": self.origin_bytes,
                "host_uploaded_at_release": self.host_uploaded_at_release}


def _uploaded(status: dict[str, object] | None) -> int:
    value = (status or {}).get("uploaded_bytes", 0)
    return value if isinstance(value, int) else 0


def hosts_uploaded(swarm: HostingSwarm, plan: SwarmPlan) -> int:
    """The sum of the hosts' upload counters now (their last status lines)."""
    return sum(_uploaded(swarm.host_status(h)) for h in plan.hosts)


async def run_placement(swarm: object, plan: SwarmPlan, *,
                        say: Callable[[str], None] | None = None,
                        poll_s: float = POLL_S) -> PlacementRecord | None:
    """Place the film on ``plan.hosts`` (None if the plan has none). `BackendError` if the
    backend's swarm cannot run hosts."""
    spec = plan.scenario.hosts
    if spec is None or not plan.hosts:
        return None
    if not isinstance(swarm, HostingSwarm):
        raise BackendError("this backend cannot run pre-positioning hosts ([hosts])")
    start = trio.current_time()
    for host in plan.hosts:
        await swarm.start_host(host)

    def complete() -> int:
        return sum(1 for h in plan.hosts if (swarm.host_status(h) or {}).get("complete"))

    with trio.move_on_after(spec.placement_timeout_s):
        while complete() < len(plan.hosts):
            await trio.sleep(poll_s)
    await trio.sleep(ANNOUNCE_SETTLE_S)
    done = complete()
    duration = trio.current_time() - start
    if say is not None:
        say(f"{duration:6.1f} s  placement: {done} of {len(plan.hosts)} hosts hold the film")
    return PlacementRecord(duration_s=duration, hosts=len(plan.hosts), hosts_complete=done,
                           origin_bytes=await swarm.origin_sent(),
                           host_uploaded_at_release=hosts_uploaded(swarm, plan))
