"""The interface between the simulation driver and whatever runs the nodes.

A backend (local processes, docker containers) provisions a swarm for a plan and
hands the driver a `Swarm`: start and stop the tracker, the origin and each
client, and observe each client. The driver (`sim.driver`) decides *when*; the
backend only knows *how*. Scenarios, planning, metrics and the report are shared
by every backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sim.analysis.timeseries import StatusSample
from sim.scenario.addresses import AddressPool
from sim.scenario.model import StopHow
from sim.scenario.plan import ClientPlan, SwarmPlan

__all__ = ["Backend", "ClientObservation", "Swarm", "SwarmMeasurements"]


@dataclass(frozen=True)
class ClientObservation:
    """What a backend has seen of one client so far."""

    samples: tuple[StatusSample, ...] = ()
    """Its per-second status samples, oldest first."""
    started_unix: float | None = None
    """When its process or container was started (unix seconds); None if never."""
    exited: bool = False
    summary: Mapping[str, object] | None = None
    """Its final JSON summary (``fetch --json``), once it has exited."""
    film_intact: bool | None = None
    """Whether its downloaded container equals the origin's (checked after the run)."""

    @property
    def complete(self) -> bool:
        return bool(self.samples) and self.samples[-1].complete

    @property
    def progress(self) -> float:
        return self.samples[-1].progress if self.samples else 0.0


@dataclass(frozen=True)
class SwarmMeasurements:
    """What a backend measured of the whole swarm at the end of a run, before teardown;
    None where it cannot measure that."""

    origin_bytes_measured: int | None = None
    """Payload bytes the origin seeder says it sent (its own counters, every session)."""
    origin_bytes_kernel: int | None = None
    """Bytes the kernel counted leaving the origin's interface (docker backend)."""
    reachability: Mapping[str, str] | None = None
    """The tracker's class of each client address (``connectable``, ``unreachable``,
    ``unknown``), read from its operator-only metrics listener."""
    arrival_spread_s: float | None = None
    """The largest gap between a client's planned and actual start (seconds)."""
    seen_as: Mapping[str, str] | None = None
    """Address a client is seen under by the tracker, the origin and other peers -> the
    client's name (``client-3``); a NATed client appears as its router's WAN address. The
    plan's own client addresses count too, so only the others need be here."""
    origin_sent_by_address: Mapping[str, int] | None = None
    """Payload bytes the origin counted sending to each peer address (its own per-peer
    counters), for the offload measured at the origin per router kind."""
    isp_bytes: Mapping[str, Mapping[str, int]] | None = None
    """Bytes the clients of each ISP received from peers in each ISP (receiving ISP ->
    sending ISP -> bytes, IP packets), counted by the kernel at the home routers (docker
    backend with homes): within vs across ISPs without the clients' own attribution."""


class Swarm(Protocol):
    """A provisioned swarm the driver acts on. Stopping never waits for a client to exit."""

    @property
    def film_bytes(self) -> int:
        """Size of what moves between nodes (the encrypted container), in bytes."""
        ...

    async def start_tracker(self) -> None:
        """Start the tracker (again, on the same address) and wait until it listens."""
        ...

    async def stop_tracker(self, how: StopHow) -> None:
        """Stop the tracker and wait until it is gone."""
        ...

    async def start_origin(self) -> None:
        """Start the origin seeder (again, on the same address) and wait until it listens."""
        ...

    async def stop_origin(self, how: StopHow) -> None:
        """Stop the origin seeder and wait until it is gone."""
        ...

    async def start_client(self, client: ClientPlan) -> None:
        """Start a client's download with its planned link rates."""
        ...

    async def stop_client(self, client: ClientPlan, how: StopHow) -> None:
        """Signal a client to stop (a churner quits with ``term``, a crash is ``kill``)."""
        ...

    async def partition_client(self, client: ClientPlan) -> None:
        """Cut ``client`` off the network (it keeps running); `BackendError` if unsupported."""
        ...

    async def heal_client(self, client: ClientPlan) -> None:
        """Put a partitioned ``client`` back on the network."""
        ...

    def observe(self, client: ClientPlan) -> ClientObservation:
        """What has been seen of ``client`` so far (cheap: called every poll)."""
        ...

    async def measure(self) -> SwarmMeasurements:
        """Measure the swarm as a whole (origin counters, tracker classes), while every
        node still runs: called once, after the driver is done and before teardown."""
        ...

    async def collect(self) -> dict[str, ClientObservation]:
        """Final observations of every client by name, after the swarm was torn down
        (summaries printed at exit, downloaded films checked)."""
        ...


class Backend(Protocol):
    """A way of running swarms: its name, its addresses and how it opens a swarm.

    A backend that builds home routers for a scenario's ``[network]`` part also has
    ``supports_homes = True`` (optional: `sim.runner.check_backend_can_run` reads it,
    absent means False) and may limit the homes with ``AddressPool.max_homes``.
    """

    @property
    def name(self) -> str:
        """Its name on the command line (``--backend NAME``)."""
        ...

    @property
    def addresses(self) -> AddressPool:
        """Where its nodes live; planning refuses more clients than it holds."""
        ...

    def open_swarm(self, plan: SwarmPlan, workdir: Path) -> AbstractAsyncContextManager[Swarm]:
        """Provision the swarm's files in ``workdir``; on exit every node is torn down,
        also on error or cancellation."""
        ...
