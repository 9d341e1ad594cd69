"""The docker backend: every node its own container with its own address on a private network.

The swarm's files are provisioned on the host (`provision_swarm`) and bind-mounted
at the same path into every container, so the paths the local backend passes work
unchanged and the host reads status logs and summaries as they are written. Each
container runs ``docker run`` attached (the docker CLI is our child process, its
stdout the node's), with ``--init`` so the node gets signals. Link rates are shaped
in the kernel by ``tc`` inside the origin's and clients' containers (the image's
entrypoint, `docker/entrypoint.sh`), so libtorrent runs unlimited. Leaving
`open_docker_swarm` removes every container and the network, also on error or Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import trio

from sim.backends.base import ClientObservation, Swarm, SwarmMeasurements
from sim.backends.launcher import STOP_GRACE_S, fetch_args, seed_args, tracker_args, wait_started
from sim.backends.observation import ClientRecords
from sim.backends.provision import SwarmFiles, provision_swarm
from sim.errors import BackendError
from sim.scenario.addresses import AddressPool
from sim.scenario.model import StopHow
from sim.scenario.plan import ClientPlan, SwarmPlan

__all__ = ["DOCKER_POOL", "DOCKER_SUBNET", "LABEL", "WORKDIR_LABEL", "DockerBackend",
           "DockerSwarm", "open_docker_swarm"]

LABEL = "peernode.sim"
"""Every container and network of a run carries this label (value: the run's id)."""
WORKDIR_LABEL = "peernode.sim.workdir"
"""... and this one (value: the run's workdir), to tell runs on one machine apart."""
SUBNET_WAIT_S = 180.0
"""How long a run waits for another run on this machine to release the subnet."""
DOCKER_SUBNET = "10.89.0.0/16"
DOCKER_POOL = AddressPool(
    tracker_host="10.89.0.2", origin_host="10.89.0.3", client_network="10.89.1.0/24"
)
DEFAULT_IMAGE = "peernode:latest"
TRACKER_PORT = 8443
NODE_PORT = 6881
IMAGE_UID = 10001
"""The image's unprivileged user (docker/Dockerfile)."""
_DOCKER_TIMEOUT_S = 60.0
_TRACKER, _ORIGIN = "tracker", "origin"
_SIGNALS = {StopHow.KILL: "KILL", StopHow.TERM: "TERM"}


async def _docker(*args: str, check: bool = True) -> str:
    """Run ``docker ARGS`` to completion and return its stdout; `BackendError` on failure."""
    try:
        with trio.fail_after(_DOCKER_TIMEOUT_S):
            done = await trio.run_process(["docker", *args], capture_stdout=True,
                                          capture_stderr=True, check=False)
    except FileNotFoundError:
        raise BackendError("the docker command is not installed") from None
    except trio.TooSlowError:
        raise BackendError(f"docker {args[0]} did not answer within "
                           f"{_DOCKER_TIMEOUT_S:.0f} s") from None
    if check and done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise BackendError(f"docker {args[0]} failed: {why[-1] if why else done.returncode}")
    return done.stdout.decode(errors="replace")


class DockerSwarm:
    """A swarm of containers on one docker network; implements `sim.backends.base.Swarm`."""

    def __init__(self, plan: SwarmPlan, files: SwarmFiles, *, run_id: str, image: str,
                 network: str, user: tuple[int, int]) -> None:
        self._plan = plan
        self._files = files
        self._run_id = run_id
        self._image = image
        self._network = network
        self._uid, self._gid = user
        self._procs: dict[str, trio.Process] = {}
        self._records = ClientRecords(files)

    @property
    def film_bytes(self) -> int:
        return self._files.container_bytes

    @property
    def run_id(self) -> str:
        """The value of `LABEL` on this run's containers and network."""
        return self._run_id

    def container_name(self, role: str) -> str:
        """The container name of ``role`` (``tracker``, ``origin`` or a client's name)."""
        return f"peernode-{self._run_id}-{role}"

    async def _run(self, role: str, address: str, node_argv: Sequence[str], *,
                   log: Path, stdout: Path | None = None,
                   rates: tuple[int, int] | None = None) -> trio.Process:
        """Start ``peernode NODE_ARGV`` in a container at ``address``; ``rates`` (up, down,
        bytes/s) are shaped by tc in the container."""
        running = self._procs.get(role)
        if running is not None and running.returncode is None:
            raise BackendError(f"{role} is already running")
        name = self.container_name(role)
        # A container stopped a moment ago may still be being removed (--rm).
        await _docker("rm", "-f", name, check=False)
        workdir = str(self._files.workdir)
        # No healthcheck: the driver checks readiness itself, and an exec every few
        # seconds in each of dozens of containers costs CPU the nodes need.
        argv = ["docker", "run", "--rm", "--init", "--no-healthcheck", "--name", name,
                "--label", f"{LABEL}={self._run_id}",
                "--label", f"{WORKDIR_LABEL}={self._files.workdir}", "--network", self._network,
                "--ip", address, "-v", f"{workdir}:{workdir}", "--workdir", workdir]
        if rates is None:
            argv += ["--user", f"{self._uid}:{self._gid}"]
        else:
            # tc needs root and NET_ADMIN; the entrypoint shapes, then drops to the user.
            up, down = rates
            argv += ["--user", "0", "--cap-add", "NET_ADMIN",
                     "-e", f"PEERNODE_UID={self._uid}", "-e", f"PEERNODE_GID={self._gid}",
                     "-e", f"PEERNODE_RATE_UP={up}", "-e", f"PEERNODE_RATE_DOWN={down}"]
        argv += [self._image, *node_argv]
        with log.open("ab") as err, (stdout or Path(os.devnull)).open("ab") as out:
            proc = await trio.lowlevel.open_process(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self._procs[role] = proc
        return proc

    async def _stop(self, role: str, how: StopHow, *, wait: bool) -> None:
        proc = self._procs.get(role)
        if proc is None or proc.returncode is not None:
            return
        await _docker("kill", "--signal", _SIGNALS[how], self.container_name(role), check=False)
        if wait:
            with trio.move_on_after(STOP_GRACE_S):
                await proc.wait()
            if proc.returncode is None:
                await _docker("rm", "-f", self.container_name(role), check=False)
                await proc.wait()

    async def start_tracker(self) -> None:
        host, f = self._plan.addresses.tracker_host, self._files
        log = f.workdir / "tracker.log"
        proc = await self._run(_TRACKER, host, tracker_args(f.operator, host), log=log)
        await wait_started(host, f.tracker_port, proc, "the tracker", log)

    async def stop_tracker(self, how: StopHow) -> None:
        await self._stop(_TRACKER, how, wait=True)

    async def start_origin(self) -> None:
        host, f, origin = self._plan.addresses.origin_host, self._files, self._plan.scenario.origin
        log = f.workdir / "origin.log"
        argv = seed_args(f.operator, host, NODE_PORT, super_seed=origin.super_seed)
        # The origin's download side is idle: only its upload is the planner's figure.
        proc = await self._run(_ORIGIN, host, argv, log=log,
                               rates=(origin.upload_bps, 0))
        await wait_started(host, NODE_PORT, proc, "the origin seeder", log)

    async def stop_origin(self, how: StopHow) -> None:
        await self._stop(_ORIGIN, how, wait=True)

    async def start_client(self, client: ClientPlan) -> None:
        f = self._files.clients[client.name]
        self._records.started(client.name)
        # Rates are shaped by tc in the container, so libtorrent runs unlimited.
        await self._run(client.name, client.address, fetch_args(
            self._files.torrent, f, client.address, NODE_PORT,
            seed_for_s=client.seed_after_completion_s,
        ), log=f.log, stdout=f.summary, rates=(client.upload_bps, client.download_bps))

    async def stop_client(self, client: ClientPlan, how: StopHow) -> None:
        await self._stop(client.name, how, wait=False)

    async def partition_client(self, client: ClientPlan) -> None:
        """Cut ``client`` off the swarm's network (`docker network disconnect`)."""
        await _docker("network", "disconnect", "--force", self._network,
                      self.container_name(client.name))

    async def heal_client(self, client: ClientPlan) -> None:
        """Reconnect a partitioned ``client`` on its planned address."""
        await _docker("network", "connect", "--ip", client.address, self._network,
                      self.container_name(client.name))

    def _exited(self, role: str) -> bool | None:
        proc = self._procs.get(role)
        return None if proc is None else proc.returncode is not None

    def observe(self, client: ClientPlan) -> ClientObservation:
        return self._records.observe(client.name, self._exited(client.name))

    async def aclose(self) -> None:
        """Stop every container (TERM, then removal after the grace period) and reap the
        docker CLI processes."""
        running = [(role, p) for role, p in self._procs.items() if p.returncode is None]
        names = [self.container_name(role) for role, _ in running]
        if names:
            await _docker("kill", "--signal", "TERM", *names, check=False)
        with trio.move_on_after(STOP_GRACE_S):
            for _, proc in running:
                await proc.wait()
        await _remove_labelled(self._run_id)
        for _, proc in running:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()

    async def measure(self) -> SwarmMeasurements:
        return SwarmMeasurements()

    async def collect(self) -> dict[str, ClientObservation]:
        return await self._records.collect(self._plan, self._exited)


async def _remove_labelled(run_id: str) -> None:
    """Remove every container, network and volume labelled with ``run_id``."""
    selector = f"label={LABEL}={run_id}"
    ids = (await _docker("ps", "-aq", "--filter", selector, check=False)).split()
    if ids:
        await _docker("rm", "-f", "-v", *ids, check=False)
    nets = (await _docker("network", "ls", "-q", "--filter", selector, check=False)).split()
    if nets:
        await _docker("network", "rm", *nets, check=False)
    vols = (await _docker("volume", "ls", "-q", "--filter", selector, check=False)).split()
    if vols:
        await _docker("volume", "rm", "-f", *vols, check=False)


async def _create_network(name: str, subnet: str, labels: Sequence[str]) -> None:
    """Create the run's bridge network; while another run holds ``subnet`` (the planned
    addresses need it), wait for it up to `SUBNET_WAIT_S`."""
    argv = ["network", "create", "--driver", "bridge", "--subnet", subnet]
    for label in labels:
        argv += ["--label", label]
    with trio.move_on_after(SUBNET_WAIT_S):
        while True:
            try:
                await _docker(*argv, name)
            except BackendError as e:
                if "overlap" not in str(e):
                    raise
                await trio.sleep(1.0)
                continue
            return
    raise BackendError(f"subnet {subnet} stayed in use by another docker network for "
                       f"{SUBNET_WAIT_S:.0f} s (another simulation running here?)")


def _container_user(workdir: Path) -> tuple[int, int]:
    """Who the nodes run as: the host's user, so the host reads and removes what they
    write; never root (root on the host hands the workdir to the image's user)."""
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        return uid, gid
    for path in (workdir, *workdir.rglob("*")):
        os.chown(path, IMAGE_UID, IMAGE_UID, follow_symlinks=False)
    return IMAGE_UID, IMAGE_UID


@asynccontextmanager
async def open_docker_swarm(plan: SwarmPlan, workdir: Path, *, image: str = DEFAULT_IMAGE,
                            subnet: str = DOCKER_SUBNET) -> AsyncIterator[DockerSwarm]:
    """Provision ``plan``'s files in ``workdir``, create its network and yield a
    `DockerSwarm` (nothing started yet); on exit every container and the network are
    removed, even when cancelled. `BackendError` if docker or the image is missing or
    the network cannot be created (another run using ``subnet``)."""
    if not (await _docker("image", "ls", "-q", image)).strip():
        raise BackendError(f"docker image {image} not found: build it with "
                           "docker/build-image.sh (see docker/README.md)")
    now = datetime.now(UTC)
    files = await trio.to_thread.run_sync(
        lambda: provision_swarm(plan, workdir, tracker_port=TRACKER_PORT, now=now))
    user = await trio.to_thread.run_sync(_container_user, workdir)
    run_id = secrets.token_hex(4)
    network = f"peernode-{run_id}"
    try:
        await _create_network(network, subnet, [f"{LABEL}={run_id}",
                                                f"{WORKDIR_LABEL}={files.workdir}"])
        swarm = DockerSwarm(plan, files, run_id=run_id, image=image, network=network,
                            user=user)
        try:
            yield swarm
        finally:
            with trio.CancelScope(shield=True):
                await swarm.aclose()
    finally:
        with trio.CancelScope(shield=True):
            await _remove_labelled(run_id)


@dataclass(frozen=True)
class DockerBackend:
    """Runs swarms as containers of ``image`` on a private docker network (`DOCKER_POOL`)."""

    name: str = "docker"
    addresses: AddressPool = DOCKER_POOL
    image: str = DEFAULT_IMAGE

    def open_swarm(self, plan: SwarmPlan, workdir: Path) -> AbstractAsyncContextManager[Swarm]:
        return open_docker_swarm(plan, workdir, image=self.image)
