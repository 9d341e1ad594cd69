"""The docker backend: every node its own container with its own address on a private network.

The swarm's files are provisioned on the host (`provision_swarm`) and bind-mounted
at the same path into every container, so the paths the local backend passes work
unchanged and the host reads status logs and summaries as they are written. Each
node's container runs ``docker run`` attached (the docker CLI is our child process,
its stdout the node's), with ``--init`` so the node gets signals. Link rates are
shaped in the kernel by ``tc`` inside the origin's and clients' containers (the image's
entrypoint, `docker/entrypoint.sh`), so the clients' libtorrent runs unlimited; the
origin is capped by libtorrent too, as operations run it, on a link a little wider
(`ORIGIN_LINK_HEADROOM`), and reads from the tracker which customers are unreachable.

Without homes (clients whose `ClientPlan.home` is None) every node sits on one bridge
(`DOCKER_SUBNET`). With homes, each client lives behind its own router container on its
own network, the tracker and origin on an "internet" network (`sim.backends.docker_homes`,
addresses in `sim.backends.docker_topology`), and the tracker groups homes by ISP from a
network map written into its configuration.

Clients are started ahead: once the origin is up, every client's container comes up,
shaped and routed, its node loaded with its session open, and waits on a go signal
(`sim.backends.docker_go`); `start_client` only releases it, so arrivals follow the plan
to within milliseconds and the download starts at once. Leaving
`open_docker_swarm` removes every container and network, also on error or Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import trio

from sim.backends.base import ClientObservation, Swarm, SwarmMeasurements
from sim.backends.docker_cli import LABEL, WORKDIR_LABEL, create_network, docker, remove_labelled
from sim.backends.docker_go import GoSignal, arrival_spread
from sim.backends.docker_homes import (
    BuiltHomes,
    build_homes,
    client_run_options,
    internet_run_options,
)
from sim.backends.docker_measure import (
    METRICS_HOST,
    ORIGIN_METRICS_PORT,
    TRACKER_METRICS_PORT,
    isp_counter_bytes,
    kernel_tx_bytes,
    origin_payload_bytes,
    tracker_classes,
)
from sim.backends.docker_topology import (
    MAX_HOMES,
    ORIGIN_V4,
    ORIGIN_V6,
    TRACKER_NAME,
    TRACKER_V4,
    TRACKER_V6,
    HomeTopology,
    plan_topology,
)
from sim.backends.launcher import STOP_GRACE_S, fetch_args, seed_args, tracker_args, wait_started
from sim.backends.observation import ClientRecords
from sim.backends.provision import SwarmFiles, provision_swarm
from sim.errors import BackendError
from sim.scenario.addresses import AddressPool
from sim.scenario.model import StopHow
from sim.scenario.plan import ClientPlan, SwarmPlan
from support.hostport import format_hostport

__all__ = ["DOCKER_POOL", "DOCKER_SUBNET", "HOME_POOL", "LABEL", "SCALED_MIN_INTERVAL_S",
           "SCALED_PROBE_RETRY_S", "WORKDIR_LABEL",
           "DockerBackend", "DockerSwarm", "open_docker_swarm"]

DOCKER_SUBNET = "10.89.0.0/16"
DOCKER_POOL = AddressPool(
    tracker_host="10.89.0.2", origin_host="10.89.0.3", client_network="10.89.1.0/24",
    max_homes=MAX_HOMES,
)
HOME_POOL = AddressPool(tracker_host=TRACKER_NAME, origin_host=ORIGIN_V4,
                        client_network="10.90.0.0/16")
"""A run with homes: the torrent names the tracker (each node resolves the name to the
tracker's addresses of its own families); clients' addresses come from their homes."""
DEFAULT_IMAGE = "peernode:latest"
TRACKER_PORT = 8443
NODE_PORT = 6881
IMAGE_UID = 10001
"""The image's unprivileged user (docker/Dockerfile)."""
PREPARE_PARALLEL = 6
"""Client containers coming up at once while a swarm is prepared (more only queue in
dockerd and starve the nodes already running of CPU)."""
PREPARE_EACH_S = 60.0
"""How long one client container may take to come up and wait for its go signal."""
ORIGIN_UPDATE_S, ORIGIN_SETTLE_READS = 1.2, 3
"""The origin's metrics are updated every second: `measure` reads them again after a
little more than that, up to this many times, until two readings agree."""
ISP_BYTES_FILE = "isp-bytes.json"
"""`SwarmMeasurements.isp_bytes` of a run with homes, written into its workdir too."""
ORIGIN_LINK_HEADROOM = 1.06
"""The origin container's link over its libtorrent cap (the scenario's rate, payload):
TLS records and TCP/IP headers (about 4 %) fit on top, so the link's queue never
decides which customer gets the origin's bytes."""
SCALED_REACHABILITY_POLL_S = 2.0
"""How often the origin reads the tracker's unreachable customers (5 s by default; the
swarm's timers are scaled like `SCALED_PROBE_RETRY_S`)."""
_TRACKER, _ORIGIN = "tracker", "origin"
_SIGNALS = {StopHow.KILL: "KILL", StopHow.TERM: "TERM"}
_ALL = "::"


class DockerSwarm:
    """A swarm of containers on the run's docker networks; implements
    `sim.backends.base.Swarm`."""

    def __init__(self, plan: SwarmPlan, files: SwarmFiles, *, run_id: str, image: str,
                 network: str, user: tuple[int, int], homes: BuiltHomes | None = None,
                 tracker_config: Path | None = None, go_ahead: bool = True) -> None:
        self._plan = plan
        self._files = files
        self._run_id = run_id
        self._image = image
        self._network = network
        self._uid, self._gid = user
        self._homes = homes
        self._tracker_config = tracker_config
        self._go_ahead = go_ahead
        self._procs: dict[str, trio.Process] = {}
        self._records = ClientRecords(files)
        self._go: dict[str, GoSignal] = {}
        """Clients started ahead and waiting for their go signal (until released)."""
        self._released: dict[str, float] = {}
        self._prepared_unix: float | None = None
        self._origin_base_tx = 0
        self._origin_done = (0, 0)
        """Payload and kernel bytes of origin containers already stopped."""
        self._origin_read = False

    @property
    def film_bytes(self) -> int:
        return self._files.container_bytes

    @property
    def run_id(self) -> str:
        """The value of `LABEL` on this run's containers and networks."""
        return self._run_id

    @property
    def topology(self) -> HomeTopology | None:
        """The homes of a run with homes."""
        return None if self._homes is None else self._homes.topology

    def container_name(self, role: str) -> str:
        """The container name of ``role`` (``tracker``, ``origin`` or a client's name)."""
        return f"peernode-{self._run_id}-{role}"

    def _net_options(self, role: str, address: str) -> list[str]:
        if self._homes is None:
            return ["--network", self._network, "--ip", address]
        if role == _TRACKER:
            return internet_run_options(self._homes, TRACKER_V4, TRACKER_V6)
        if role == _ORIGIN:
            return internet_run_options(self._homes, ORIGIN_V4, ORIGIN_V6)
        return client_run_options(self._homes, role)

    async def _run(self, role: str, address: str, node_argv: Sequence[str], *,
                   log: Path, stdout: Path | None = None,
                   rates: tuple[int, int] | None = None,
                   env: Sequence[str] = ()) -> trio.Process:
        """Start ``peernode NODE_ARGV`` in a container at ``address``; ``rates`` (up, down,
        bytes/s) are shaped by tc in the container; ``env`` are ``NAME=VALUE`` settings
        of its entrypoint."""
        running = self._procs.get(role)
        if running is not None and running.returncode is None:
            raise BackendError(f"{role} is already running")
        name = self.container_name(role)
        # A container stopped a moment ago may still be being removed (--rm).
        await docker("rm", "-f", name, check=False)
        workdir = str(self._files.workdir)
        # No healthcheck: the driver checks readiness itself, and an exec every few
        # seconds in each of dozens of containers costs CPU the nodes need.
        argv = ["docker", "run", "--rm", "--init", "--no-healthcheck", "--name", name,
                "--label", f"{LABEL}={self._run_id}",
                "--label", f"{WORKDIR_LABEL}={self._files.workdir}",
                *self._net_options(role, address),
                "-v", f"{workdir}:{workdir}", "--workdir", workdir]
        for setting in env:
            argv += ["-e", setting]
        if rates is None and self._homes is None and not env:
            argv += ["--user", f"{self._uid}:{self._gid}"]
        else:
            # tc and routes need root and NET_ADMIN; the entrypoint then drops to the user.
            up, down = rates or (0, 0)
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
        await docker("kill", "--signal", _SIGNALS[how], self.container_name(role), check=False)
        if wait:
            with trio.move_on_after(STOP_GRACE_S):
                await proc.wait()
            if proc.returncode is None:
                await docker("rm", "-f", self.container_name(role), check=False)
                await proc.wait()

    def _running(self, role: str) -> bool:
        proc = self._procs.get(role)
        return proc is not None and proc.returncode is None

    def _tracker_v4(self) -> str:
        return self._plan.addresses.tracker_host if self._homes is None else TRACKER_V4

    def _tracker_metrics_args(self) -> list[str]:
        """The tracker's metrics listener: on every interface, open to its own loopback
        (`docker_measure` reads it with ``docker exec``) and to the origin (which reads
        who is unreachable), refused to everyone else (the clients)."""
        origin = self._plan.addresses.origin_host if self._homes is None else ORIGIN_V4
        # IPv4 only: the origin reads it at the tracker's IPv4 address
        argv = ["--metrics", format_hostport("0.0.0.0", TRACKER_METRICS_PORT)]
        allowed = [METRICS_HOST, origin]
        for address in allowed:
            argv += ["--metrics-allow", f"{address}/{128 if ':' in address else 32}"]
        return argv

    async def start_tracker(self) -> None:
        host, f = self._plan.addresses.tracker_host, self._files
        log = f.workdir / "tracker.log"
        argv = [*tracker_args(f.operator, host if self._homes is None else _ALL,
                              port=f.tracker_port), *self._tracker_metrics_args()]
        if self._tracker_config is not None:
            argv += ["--config", str(self._tracker_config)]
        address = host if self._homes is None else TRACKER_V4
        proc = await self._run(_TRACKER, address, argv, log=log)
        await wait_started(address, f.tracker_port, proc, "the tracker", log)

    async def stop_tracker(self, how: StopHow) -> None:
        await self._stop(_TRACKER, how, wait=True)

    async def start_origin(self) -> None:
        """Start the origin; the first time, then bring every client's container up to
        wait for its go signal (the driver's clock starts after this returns)."""
        f, origin = self._files, self._plan.scenario.origin
        address = self._plan.addresses.origin_host
        log = f.workdir / "origin.log"
        # Capped by libtorrent as an operator runs it (so its own scheduler decides who
        # gets the bytes: step back, the warm start's share, unreachable customers last),
        # on a link with room for TLS and TCP/IP on top of the payload.
        argv = [*seed_args(f.operator, address if self._homes is None else _ALL, NODE_PORT,
                           upload_bps=origin.upload_bps, super_seed=origin.super_seed),
                "--metrics", format_hostport(METRICS_HOST, ORIGIN_METRICS_PORT),
                "--tracker-reachability", f"http://{self._tracker_v4()}:{TRACKER_METRICS_PORT}",
                "--reachability-poll", str(SCALED_REACHABILITY_POLL_S)]
        # The origin's download side is idle: only its upload is the planner's figure.
        link = int(origin.upload_bps * ORIGIN_LINK_HEADROOM)
        proc = await self._run(_ORIGIN, address, argv, log=log, rates=(link, 0))
        await wait_started(address, NODE_PORT, proc, "the origin seeder", log)
        self._origin_base_tx = await kernel_tx_bytes(self.container_name(_ORIGIN)) or 0
        if self._prepared_unix is None:
            if self._go_ahead:
                await self.prepare_clients()
            self._prepared_unix = time.time()

    async def _origin_counters(self) -> tuple[int, int] | None:
        """(payload bytes, kernel bytes) of the running origin container since it started."""
        if not self._running(_ORIGIN):
            return None
        name = self.container_name(_ORIGIN)
        payload, tx = await origin_payload_bytes(name), await kernel_tx_bytes(name)
        if payload is None or tx is None:
            return None
        self._origin_read = True
        return payload, max(0, tx - self._origin_base_tx)

    async def stop_origin(self, how: StopHow) -> None:
        counted = await self._origin_counters()
        if counted is not None:
            done = self._origin_done
            self._origin_done = (done[0] + counted[0], done[1] + counted[1])
        await self._stop(_ORIGIN, how, wait=True)

    def _client_argv(self, client: ClientPlan) -> list[str]:
        f = self._files.clients[client.name]
        host = client.address
        if self._homes is not None:
            host = self._homes.topology.homes[client.name].listen_host
        return fetch_args(self._files.torrent, f, host, NODE_PORT,
                          seed_for_s=client.seed_after_completion_s)

    async def _start_container(self, client: ClientPlan, go: GoSignal | None = None) -> None:
        f = self._files.clients[client.name]
        argv = self._client_argv(client)
        if go is not None:
            argv += ["--wait-go", str(go.path)]
        # Rates are shaped by tc in the container, so libtorrent runs unlimited.
        await self._run(client.name, client.address, argv, log=f.log,
                        stdout=f.summary, rates=(client.upload_bps, client.download_bps))

    async def prepare_clients(self) -> None:
        """Bring up every client's container, shaped and routed, waiting for its go signal
        (`PREPARE_PARALLEL` at a time); `BackendError` if one stops or takes longer than
        `PREPARE_EACH_S`."""
        pending: list[tuple[ClientPlan, GoSignal, float]] = []

        async def settle(limit: int) -> None:
            while len(pending) > limit:
                for item in list(pending):
                    client, go, since = item
                    if go.waiting:
                        pending.remove(item)
                    elif not self._running(client.name):
                        why = _last_line(self._files.clients[client.name].log)
                        raise BackendError(f"{client.name}'s container stopped before its "
                                           f"start: {why}")
                    elif trio.current_time() - since > PREPARE_EACH_S:
                        raise BackendError(f"{client.name}'s container did not come up within "
                                           f"{PREPARE_EACH_S:.0f} s")
                await trio.sleep(0.1)

        for client in self._plan.clients:
            if client.name in self._procs:
                continue
            go = GoSignal(self._files.clients[client.name].directory / "go")
            await trio.to_thread.run_sync(go.create, (self._uid, self._gid))
            await self._start_container(client, go)
            self._go[client.name] = go
            pending.append((client, go, trio.current_time()))
            await settle(PREPARE_PARALLEL - 1)
        await settle(0)

    async def start_client(self, client: ClientPlan) -> None:
        go = self._go.pop(client.name, None)
        if go is None:
            self._records.started(client.name)
            await self._start_container(client)
            return
        go.release()  # a container that is gone shows as exited: the driver sees it fail
        now = time.time()
        self._released[client.name] = now
        self._records.started(client.name, now)

    async def stop_client(self, client: ClientPlan, how: StopHow) -> None:
        await self._stop(client.name, how, wait=False)

    def _client_network(self, client: ClientPlan) -> str:
        return self._network if self._homes is None else self._homes.home_networks[client.name]

    async def partition_client(self, client: ClientPlan) -> None:
        """Cut ``client`` off its network (`docker network disconnect`)."""
        await docker("network", "disconnect", "--force", self._client_network(client),
                     self.container_name(client.name))

    async def heal_client(self, client: ClientPlan) -> None:
        """Reconnect a partitioned ``client`` on its planned address (and, in a home,
        its routes via the router)."""
        name = self.container_name(client.name)
        if self._homes is None:
            await docker("network", "connect", "--ip", client.address, self._network, name)
            return
        home = self._homes.topology.homes[client.name]
        (v4, v6), (gw4, gw6) = home.client_addresses, home.router_lan
        connect = ["network", "connect", "--ip", v4]
        if v6 is not None:
            connect += ["--ip6", v6]
        await docker(*connect, self._client_network(client), name)
        if home.kind.has_v4:
            await docker("exec", "--user", "0", name, "ip", "-4", "route", "replace",
                         "default", "via", gw4)
        else:
            await docker("exec", "--user", "0", name, "ip", "-4", "addr", "flush", "dev", "eth0")
        if gw6 is not None:
            await docker("exec", "--user", "0", name, "ip", "-6", "route", "replace",
                         "default", "via", gw6)

    def _exited(self, role: str) -> bool | None:
        if role in self._go:  # up, but not started yet
            return None
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
            await docker("kill", "--signal", "TERM", *names, check=False)
        with trio.move_on_after(STOP_GRACE_S):
            for _, proc in running:
                await proc.wait()
        await remove_labelled(self._run_id)
        for _, proc in running:
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()

    def seen_as(self) -> dict[str, str]:
        """Address the tracker sees -> client name (a home's router WAN address behind
        NAT, the client's own addresses otherwise)."""
        if self._homes is not None:
            return self._homes.topology.seen_as()
        return {c.address: c.name for c in self._plan.clients}

    def start_times(self) -> dict[str, float]:
        """When each released client got its go signal (its container's clock)."""
        out = {}
        for name, host_time in self._released.items():
            go = GoSignal(self._files.clients[name].directory / "go")
            out[name] = go.started_unix() or host_time
        return out

    async def measure(self) -> SwarmMeasurements:
        """The origin's own payload counters and its interface's kernel counters (every
        origin container of the run), the tracker's classes, the arrivals' spread."""
        running = await self._origin_counters()
        for _ in range(ORIGIN_SETTLE_READS):
            # The origin updates its metrics once a second: read until two readings
            # agree, so the bytes of its last second are in.
            if running is None:
                break
            await trio.sleep(ORIGIN_UPDATE_S)
            again = await self._origin_counters()
            settled = again is not None and again[0] == running[0]
            running = again or running
            if settled:
                break
        payload = kernel = None
        if self._origin_read:
            payload, kernel = self._origin_done
            if running is not None:
                payload, kernel = payload + running[0], kernel + running[1]
        classes = None
        if self._running(_TRACKER):
            classes = await tracker_classes(self.container_name(_TRACKER))
        planned = {c.name: c.arrival_s for c in self._plan.clients}
        # The driver's clock starts after its settle sleep, which a loaded machine
        # overshoots: the swarm's start is the earliest (start - planned arrival), since
        # the driver never starts a client early.
        spread = arrival_spread(planned, self.start_times(), None)
        isp_bytes = await self._isp_bytes()
        if isp_bytes is not None:
            text = json.dumps(isp_bytes, sort_keys=True, indent=1) + "\n"
            (self._files.workdir / ISP_BYTES_FILE).write_text(text, encoding="utf-8")
        return SwarmMeasurements(origin_bytes_measured=payload, origin_bytes_kernel=kernel,
                                 reachability=classes, arrival_spread_s=spread,
                                 seen_as=self.seen_as(), isp_bytes=isp_bytes)

    async def _isp_bytes(self) -> dict[str, dict[str, int]] | None:
        """Receiving ISP -> sending ISP -> bytes, from every home router's counters."""
        if self._homes is None:
            return None
        topology = self._homes.topology
        matrix: dict[str, dict[str, int]] = {}
        limiter = trio.CapacityLimiter(PREPARE_PARALLEL)

        async def one(client: str) -> None:
            home = topology.homes[client]
            async with limiter:
                counted = await isp_counter_bytes(
                    self.container_name(f"router-{home.plan.number}"))
            row = matrix.setdefault(home.isp, {})
            for k, count in (counted or {}).items():
                sender = topology.isps[k - 1]
                row[sender] = row.get(sender, 0) + count

        async with trio.open_nursery() as nursery:
            for client in topology.homes:
                nursery.start_soon(one, client)
        return matrix

    async def collect(self) -> dict[str, ClientObservation]:
        return await self._records.collect(self._plan, self._exited)


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except FileNotFoundError:
        lines = []
    return lines[-1] if lines else "it wrote nothing"


def _container_user(workdir: Path) -> tuple[int, int]:
    """Who the nodes run as: the host's user, so the host reads and removes what they
    write; never root (root on the host hands the workdir to the image's user)."""
    uid, gid = os.getuid(), os.getgid()
    if uid != 0:
        return uid, gid
    for path in (workdir, *workdir.rglob("*")):
        os.chown(path, IMAGE_UID, IMAGE_UID, follow_symlinks=False)
    return IMAGE_UID, IMAGE_UID


SCALED_MIN_INTERVAL_S = 3
"""The tracker's min interval in a run with homes: a leecher nobody can reach yet is asked
back this soon ([swarm] lonely_below) to learn of connectable peers. A download here lasts
tens of seconds where a film's lasts an hour, so the 60 s of production is scaled down
(as bench/nat.py does); at 60 s a nat client stayed on the origin for most of its download."""
SCALED_PROBE_RETRY_S = 5.0
"""The tracker's [probe] first_retry_s in a run with homes (20 s in production): a
nat-upnp client announces while miniupnpd is still mapping its port, and until the retry
it is classed unreachable, so never handed out, for a quarter of its download."""


def tracker_config_text(topology: HomeTopology, *, locality: bool = True,
                        swarm: Mapping[str, int | float | bool] | None = None) -> str:
    """The tracker's TOML for a run with homes: the ISPs' address ranges as its
    ``[networks]`` map, whether it prefers peers of the same network, its timers
    scaled to the run (`SCALED_MIN_INTERVAL_S`, `SCALED_PROBE_RETRY_S`), and ``swarm``:
    more ``[swarm]`` settings (a benchmark's variants; the tracker refuses unknown ones)."""
    extra = [f"{key} = {json.dumps(value)}" for key, value in (swarm or {}).items()]
    lines = ["[swarm]", f"locality = {'true' if locality else 'false'}",
             f"min_announce_interval_s = {SCALED_MIN_INTERVAL_S}", *extra, "",
             "[probe]", f"first_retry_s = {SCALED_PROBE_RETRY_S}", "", "[networks]"]
    lines += [f"{json.dumps(cidr)} = {json.dumps(isp)}"
              for cidr, isp in topology.network_map().items()]
    return "\n".join(lines) + "\n"


def _home_plan(plan: SwarmPlan) -> tuple[SwarmPlan, HomeTopology | None]:
    """``plan`` for its homes (tracker by name, clients at their homes' addresses) and
    their topology; the plan as it is without homes."""
    homes = [(c.name, c.home) for c in plan.clients if c.home is not None]
    if not homes:
        return plan, None
    if len(homes) != len(plan.clients):
        raise BackendError("some clients have a home and some do not: a scenario with a "
                           "[network] part puts every client in a home")
    topology = plan_topology(homes)
    clients = tuple(dataclasses.replace(c, address=topology.homes[c.name].seen_at[0])
                    for c in plan.clients)
    return dataclasses.replace(plan, addresses=HOME_POOL, clients=clients), topology


@asynccontextmanager
async def open_docker_swarm(plan: SwarmPlan, workdir: Path, *, image: str = DEFAULT_IMAGE,
                            subnet: str = DOCKER_SUBNET, locality: bool | None = None,
                            tracker_swarm: Mapping[str, int | float | bool] | None = None,
                            go_ahead: bool = True) -> AsyncIterator[DockerSwarm]:
    """Provision ``plan``'s files in ``workdir``, create its networks (and with homes, its
    routers) and yield a `DockerSwarm` (no node started yet); on exit every container and
    network is removed, even when cancelled. ``locality`` (default: the scenario's
    ``network.locality``) says whether the tracker prefers peers of the same ISP, and
    ``tracker_swarm`` gives it more ``[swarm]`` settings; ``go_ahead`` False starts each
    client's container only at its arrival. `BackendError` if docker or the image is
    missing or a network cannot be created (another run using
    its subnets)."""
    if not (await docker("image", "ls", "-q", image)).strip():
        raise BackendError(f"docker image {image} not found: build it with "
                           "docker/build-image.sh (see docker/README.md)")
    plan, topology = _home_plan(plan)
    now = datetime.now(UTC)
    files = await trio.to_thread.run_sync(
        lambda: provision_swarm(plan, workdir, tracker_port=TRACKER_PORT, now=now))
    user = await trio.to_thread.run_sync(_container_user, workdir)
    run_id = secrets.token_hex(4)
    network = f"peernode-{run_id}"
    labels = [f"{LABEL}={run_id}", f"{WORKDIR_LABEL}={files.workdir}"]
    try:
        homes, config = None, None
        if topology is None:
            await create_network(network, ["--driver", "bridge", "--subnet", subnet], labels)
        else:
            config = files.workdir / "tracker.toml"
            network_spec = plan.scenario.network
            if locality is None:
                locality = network_spec.locality if network_spec is not None else True
            config.write_text(tracker_config_text(topology, locality=locality,
                                                  swarm=tracker_swarm),
                              encoding="utf-8")
            homes = await build_homes(topology, image=image, name_prefix=network,
                                      run_dir=files.workdir / "net", labels=labels)
        swarm = DockerSwarm(plan, files, run_id=run_id, image=image, network=network,
                            user=user, homes=homes, tracker_config=config, go_ahead=go_ahead)
        try:
            yield swarm
        finally:
            with trio.CancelScope(shield=True):
                await swarm.aclose()
    finally:
        with trio.CancelScope(shield=True):
            await remove_labelled(run_id)


@dataclass(frozen=True)
class DockerBackend:
    """Runs swarms as containers of ``image`` on private docker networks (`DOCKER_POOL`;
    with homes, `HOME_POOL` and a router per home)."""

    name: str = "docker"
    addresses: AddressPool = DOCKER_POOL
    image: str = DEFAULT_IMAGE
    locality: bool | None = None
    """Whether the tracker prefers peers of the same ISP; None: as the scenario says."""
    tracker_swarm: Mapping[str, int | float | bool] | None = None
    """More ``[swarm]`` settings for the tracker of a run with homes (benchmark variants)."""
    supports_homes: bool = True
    """It builds the routers of a scenario's ``[network]`` part."""

    def open_swarm(self, plan: SwarmPlan, workdir: Path) -> AbstractAsyncContextManager[Swarm]:
        return open_docker_swarm(plan, workdir, image=self.image, locality=self.locality,
                                 tracker_swarm=self.tracker_swarm)
