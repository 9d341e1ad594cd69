"""The local backend: every node its own ``peernode`` process on its own loopback address.

The tracker (``peernode tracker``), the origin (``peernode seed``) and each client
(``peernode fetch``) run as child processes of the simulation (`sim.backends.launcher`),
rate-capped by libtorrent with ``--limit-local-peers`` (loopback peers are otherwise
exempt from limits). The origin serves its metrics, so `LocalSwarm.measure` reads the
bytes it says it sent (added up across its restarts). Clients log a status line a
second (``--status-log``) which is read incrementally, and print their JSON summary
at exit. Leaving `open_local_swarm`
tears every process down, also on error or Ctrl-C: SIGTERM, a grace period, SIGKILL.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import trio

from sim.backends.base import ClientObservation, Swarm, SwarmMeasurements
from sim.backends.host_files import (
    HostFiles,
    host_args,
    last_status,
    provision_hosts,
    tracker_config,
)
from sim.backends.launcher import (
    ProcessGroup,
    fetch_args,
    open_process_group,
    seed_args,
    tracker_args,
    wait_started,
)
from sim.backends.observation import ClientRecords
from sim.backends.origin_metrics import origin_uploaded, settled_origin_uploaded
from sim.backends.provision import FILM_ID, SwarmFiles, provision_swarm
from sim.errors import BackendError
from sim.scenario.addresses import LOOPBACK_POOL, AddressPool
from sim.scenario.hosts import HostPlan
from sim.scenario.model import StopHow
from sim.scenario.plan import ClientPlan, SwarmPlan
from support.hostport import format_hostport
from support.processes import free_port, peernode_argv

__all__ = ["LocalBackend", "LocalSwarm", "open_local_swarm"]

_NO_PARTITIONS = (
    "client-partition and client-heal need --backend docker: "
    "processes on loopback cannot be cut off the network"
)

_TRACKER, _ORIGIN = "tracker", "origin"
_SIGNALS = {StopHow.KILL: signal.SIGKILL, StopHow.TERM: signal.SIGTERM}


class LocalSwarm:
    """A swarm of local processes; implements `sim.backends.base.Swarm`."""

    def __init__(self, plan: SwarmPlan, files: SwarmFiles, group: ProcessGroup, *,
                 say: Callable[[str], None] | None = None,
                 hosts: dict[str, HostFiles] | None = None,
                 tracker_config: Path | None = None) -> None:
        self._plan = plan
        self._files = files
        self._hosts = hosts or {}
        self._tracker_config = tracker_config
        self._group = group
        self._say = say or (lambda _line: None)
        self._origin_port = free_port(plan.addresses.origin_host)
        self._metrics_port = free_port(plan.addresses.origin_host)
        self._origin_bytes_before = 0  # sent by the origin's earlier processes
        self._records = ClientRecords(files)

    @property
    def film_bytes(self) -> int:
        return self._files.container_bytes

    @property
    def files(self) -> SwarmFiles:
        """What was provisioned for this swarm."""
        return self._files

    @property
    def origin_port(self) -> int:
        return self._origin_port

    def _exited(self, role: str) -> bool | None:
        proc = self._group.get(role)
        return None if proc is None else proc.returncode is not None

    async def start_tracker(self) -> None:
        host, f = self._plan.addresses.tracker_host, self._files
        log = f.workdir / "tracker.log"
        proc = await self._group.spawn(
            _TRACKER, peernode_argv(*tracker_args(f.operator, host,
                                                  config=self._tracker_config)), log=log)
        await wait_started(host, f.tracker_port, proc, "the tracker", log)
        self._say(f"tracker on {f.operator.announce_url}")

    async def stop_tracker(self, how: StopHow) -> None:
        await self._group.stop(_TRACKER, _SIGNALS[how])

    async def start_origin(self) -> None:
        host, f, origin = self._plan.addresses.origin_host, self._files, self._plan.scenario.origin
        log = f.workdir / "origin.log"
        proc = await self._group.spawn(_ORIGIN, peernode_argv(*seed_args(
            f.operator, host, self._origin_port, upload_bps=origin.upload_bps,
            super_seed=origin.super_seed, metrics_port=self._metrics_port)), log=log)
        await wait_started(host, self._origin_port, proc, "the origin seeder", log)
        self._say(f"origin seeder on {format_hostport(host, self._origin_port)} "
                  f"(upload {origin.upload_bps / 1e6:.1f} MB/s)")

    async def stop_origin(self, how: StopHow) -> None:
        # Its counters die with it: keep what it sent (up to its last second's update).
        sent = await origin_uploaded(self._plan.addresses.origin_host, self._metrics_port)
        self._origin_bytes_before += sent or 0
        await self._group.stop(_ORIGIN, _SIGNALS[how])

    async def start_client(self, client: ClientPlan) -> None:
        f = self._files.clients[client.name]
        self._records.started(client.name)
        await self._group.spawn(client.name, peernode_argv(*fetch_args(
            self._files.torrent, f, client.address,
            rates_bps=(client.upload_bps, client.download_bps),
            seed_for_s=client.seed_after_completion_s)), log=f.log, stdout=f.summary)
        self._say(f"{client.name} on {client.address} started")

    async def stop_client(self, client: ClientPlan, how: StopHow) -> None:
        await self._group.stop(client.name, _SIGNALS[how], wait=False)

    async def partition_client(self, client: ClientPlan) -> None:
        raise BackendError(_NO_PARTITIONS)

    async def heal_client(self, client: ClientPlan) -> None:
        raise BackendError(_NO_PARTITIONS)

    # -- pre-positioning hosts (sim.placement_phase.HostingSwarm) -------------------------
    async def start_host(self, host: HostPlan) -> None:
        """Start a host (``peernode host``) with its caps; its quota fits the film twice."""
        files = self._hosts[host.name]
        await self._group.spawn(host.name, peernode_argv(*host_args(
            self._files.torrent, files, host, quota_bytes=2 * self.film_bytes)),
            log=files.log, stdout=files.summary)
        self._say(f"{host.name} on {host.address} hosting (upload "
                  f"{host.upload_bps / 1e6:.1f} MB/s)")

    def host_status(self, host: HostPlan) -> dict[str, object] | None:
        """The host's last progress report (None before its first)."""
        return last_status(self._hosts[host.name])

    async def origin_sent(self) -> int | None:
        """What the origin has sent so far, all its processes (None if it is down)."""
        if self._exited(_ORIGIN) is not False:
            return None
        sent = await origin_uploaded(self._plan.addresses.origin_host, self._metrics_port)
        return None if sent is None else self._origin_bytes_before + sent

    def observe(self, client: ClientPlan) -> ClientObservation:
        return self._records.observe(client.name, self._exited(client.name))

    async def aclose(self) -> None:
        """Stop every process still running: SIGTERM, then SIGKILL after the grace period."""
        await self._group.aclose()

    async def measure(self) -> SwarmMeasurements:
        """The origin's own count of the payload bytes it sent (None if it is not
        running: a scenario that ends with the origin stopped has no count)."""
        sent = None
        if self._exited(_ORIGIN) is False:
            sent = await settled_origin_uploaded(self._plan.addresses.origin_host,
                                                 self._metrics_port)
        return SwarmMeasurements(
            origin_bytes_measured=None if sent is None else self._origin_bytes_before + sent)

    async def collect(self) -> dict[str, ClientObservation]:
        return await self._records.collect(self._plan, self._exited)


@asynccontextmanager
async def open_local_swarm(plan: SwarmPlan, workdir: Path, *, film: Path | None = None,
                           film_id: str = FILM_ID, say: Callable[[str], None] | None = None
                           ) -> AsyncIterator[LocalSwarm]:
    """Provision ``plan``'s files in ``workdir`` (packaging ``film``, or a synthetic film
    of the scenario's size) and yield a `LocalSwarm` (nothing started yet; ``say`` gets a
    line as each node starts); on exit every process it started is stopped, even when
    cancelled."""
    tracker_port = free_port(plan.addresses.tracker_host)
    now = datetime.now(UTC)
    files = await trio.to_thread.run_sync(
        lambda: provision_swarm(plan, workdir, tracker_port=tracker_port, now=now, film=film,
                                film_id=film_id))
    hosts = await trio.to_thread.run_sync(
        lambda: provision_hosts(files.operator, plan, workdir, now=now))
    config = tracker_config(workdir, plan)
    async with open_process_group() as group:
        yield LocalSwarm(plan, files, group, say=say, hosts=hosts, tracker_config=config)


@dataclass(frozen=True)
class LocalBackend:
    """Runs swarms as local processes on loopback addresses (`LOOPBACK_POOL`)."""

    name: str = "local"
    addresses: AddressPool = LOOPBACK_POOL
    supports_hosts: bool = True

    def open_swarm(self, plan: SwarmPlan, workdir: Path) -> AbstractAsyncContextManager[Swarm]:
        return open_local_swarm(plan, workdir)
