"""The local backend: every node its own ``peernode`` process on its own loopback address.

The tracker (``peernode tracker``), the origin (``peernode seed``) and each client
(``peernode fetch``) run as child processes of the simulation, rate-capped by
libtorrent with ``--limit-local-peers`` (loopback peers are otherwise exempt from
limits). Clients log a status line a second (``--status-log``) which is read
incrementally, and print their JSON summary at exit. Leaving `open_local_swarm`
tears every process down, also on error or Ctrl-C: SIGTERM, a grace period, SIGKILL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import trio

from sim.analysis.timeseries import StatusLogTail
from sim.backends.base import ClientObservation, Swarm
from sim.backends.provision import SwarmFiles, provision_swarm
from sim.errors import BackendError
from sim.scenario.addresses import LOOPBACK_POOL, AddressPool
from sim.scenario.model import StopHow
from sim.scenario.plan import ClientPlan, SwarmPlan
from support.errors import ProcessStartError
from support.hostport import format_hostport
from support.processes import file_sha256, free_port, peernode_argv, wait_listening

__all__ = ["LocalBackend", "LocalSwarm", "open_local_swarm"]

_NO_PARTITIONS = (
    "client-partition and client-heal need --backend docker: "
    "processes on loopback cannot be cut off the network"
)

STOP_GRACE_S = 10.0
"""How long a stopped process may take to exit cleanly before it is killed."""
_TRACKER, _ORIGIN = "tracker", "origin"
_SIGNALS = {StopHow.KILL: signal.SIGKILL, StopHow.TERM: signal.SIGTERM}


class LocalSwarm:
    """A swarm of local processes; implements `sim.backends.base.Swarm`."""

    def __init__(self, plan: SwarmPlan, files: SwarmFiles) -> None:
        self._plan = plan
        self._files = files
        self._origin_port = free_port(plan.addresses.origin_host)
        self._procs: dict[str, trio.Process] = {}
        self._started_unix: dict[str, float] = {}
        self._tails: dict[str, StatusLogTail] = {}

    @property
    def film_bytes(self) -> int:
        return self._files.container_bytes

    async def _spawn(self, role: str, argv: list[str], log: Path,
                     stdout: Path | None = None) -> trio.Process:
        running = self._procs.get(role)
        if running is not None and running.returncode is None:
            # Replacing it would orphan a process that nothing tears down any more.
            raise BackendError(f"{role} is already running")
        # The child keeps its own copies of the descriptors; ours are closed at once.
        with log.open("ab") as err, \
                (stdout.open("ab") if stdout else nullcontext(subprocess.DEVNULL)) as out:
            out_target: IO[bytes] | int = out
            proc = await trio.lowlevel.open_process(
                argv, stdin=subprocess.DEVNULL, stdout=out_target, stderr=err)
        self._procs[role] = proc
        return proc

    async def _stop(self, role: str, how: StopHow, *, wait: bool) -> None:
        proc = self._procs.get(role)
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(_SIGNALS[how])
        if wait:
            await _reap(proc)

    async def start_tracker(self) -> None:
        host, f = self._plan.addresses.tracker_host, self._files
        proc = await self._spawn(_TRACKER, peernode_argv(
            "tracker", "--ca", f.ca_cert, "--cert", f.server_cert, "--key", f.server_key,
            "--library", f.library, "--crl", f.crl,
            "--listen", format_hostport(host, f.tracker_port),
        ), f.workdir / "tracker.log")
        await _listening(host, f.tracker_port, proc, "the tracker", f.workdir / "tracker.log")

    async def stop_tracker(self, how: StopHow) -> None:
        await self._stop(_TRACKER, how, wait=True)

    async def start_origin(self) -> None:
        host, f, origin = self._plan.addresses.origin_host, self._files, self._plan.scenario.origin
        argv = peernode_argv(
            "seed", "--library", f.library, "--cert", f.seeder_cert, "--key", f.seeder_key,
            "--listen", format_hostport(host, self._origin_port),
            "--upload-limit", str(origin.upload_bps), "--limit-local-peers",
        )
        if origin.super_seed:
            argv.append("--super-seed")
        proc = await self._spawn(_ORIGIN, argv, f.workdir / "origin.log")
        await _listening(host, self._origin_port, proc, "the origin seeder",
                         f.workdir / "origin.log")

    async def stop_origin(self, how: StopHow) -> None:
        await self._stop(_ORIGIN, how, wait=True)

    async def start_client(self, client: ClientPlan) -> None:
        f = self._files.clients[client.name]
        self._started_unix[client.name] = time.time()
        await self._spawn(client.name, peernode_argv(
            "fetch", self._files.torrent, "--rental", f.rental, "--node-key", f.node_key,
            "--out", f.download_dir, "--listen", format_hostport(client.address, 0),
            "--upload-limit", str(client.upload_bps),
            "--download-limit", str(client.download_bps), "--limit-local-peers",
            "--seed-for", str(client.seed_after_completion_s),
            "--status-log", f.status_log, "--json",
        ), f.log, stdout=f.summary)

    async def stop_client(self, client: ClientPlan, how: StopHow) -> None:
        await self._stop(client.name, how, wait=False)

    async def partition_client(self, client: ClientPlan) -> None:
        raise BackendError(_NO_PARTITIONS)

    async def heal_client(self, client: ClientPlan) -> None:
        raise BackendError(_NO_PARTITIONS)

    def observe(self, client: ClientPlan) -> ClientObservation:
        name = client.name
        proc = self._procs.get(name)
        if proc is None:
            return ClientObservation()
        tail = self._tails.setdefault(name, StatusLogTail(self._files.clients[name].status_log))
        return ClientObservation(
            samples=tail.read(),
            started_unix=self._started_unix.get(name),
            exited=proc.returncode is not None,
        )

    async def aclose(self) -> None:
        """Stop every process still running: SIGTERM, then SIGKILL after the grace period."""
        running = [p for p in self._procs.values() if p.returncode is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_GRACE_S):
            for proc in running:
                await proc.wait()
        for proc in running:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    async def collect(self) -> dict[str, ClientObservation]:
        observations = {}
        for client in self._plan.clients:
            seen = self.observe(client)
            f = self._files.clients[client.name]
            intact = None
            if seen.complete:
                download = f.download_dir / self._files.film_id
                digest = await trio.to_thread.run_sync(file_sha256, download)
                intact = digest == self._files.container_sha256
            observations[client.name] = ClientObservation(
                samples=seen.samples, started_unix=seen.started_unix, exited=seen.exited,
                summary=_last_json_line(f.summary), film_intact=intact,
            )
        return observations


async def _listening(host: str, port: int, proc: trio.Process, what: str, log: Path) -> None:
    """Wait until ``proc`` listens; if it does not, say why with its log's last line."""
    try:
        await wait_listening(host, port, proc, what)
    except ProcessStartError as e:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        why = lines[-1] if lines else "it wrote nothing"
        raise BackendError(f"{e}: {why}") from None


async def _reap(proc: trio.Process) -> None:
    with trio.move_on_after(STOP_GRACE_S):
        await proc.wait()
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def _last_json_line(path: Path) -> dict[str, object] | None:
    """The JSON object on the last non-empty line of ``path``, if there is one."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


@asynccontextmanager
async def open_local_swarm(plan: SwarmPlan, workdir: Path) -> AsyncIterator[LocalSwarm]:
    """Provision ``plan``'s files in ``workdir`` and yield a `LocalSwarm` (nothing started
    yet); on exit every process it started is stopped, even when cancelled."""
    tracker_port = free_port(plan.addresses.tracker_host)
    now = datetime.now(UTC)
    files = await trio.to_thread.run_sync(
        lambda: provision_swarm(plan, workdir, tracker_port=tracker_port, now=now))
    swarm = LocalSwarm(plan, files)
    try:
        yield swarm
    finally:
        with trio.CancelScope(shield=True):
            await swarm.aclose()


@dataclass(frozen=True)
class LocalBackend:
    """Runs swarms as local processes on loopback addresses (`LOOPBACK_POOL`)."""

    name: str = "local"
    addresses: AddressPool = LOOPBACK_POOL

    def open_swarm(self, plan: SwarmPlan, workdir: Path) -> AbstractAsyncContextManager[Swarm]:
        return open_local_swarm(plan, workdir)
