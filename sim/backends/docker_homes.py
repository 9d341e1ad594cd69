"""Home networks in docker: the internet network, a STUN server, and each home's network
and router container (the address plan is `sim.backends.docker_topology`).

`build_homes` creates them all, labelled with the run's labels (so the run's teardown,
`sim.backends.docker_cli.remove_labelled`, removes them whatever happens), and returns
when every router routes and every miniupnpd listens. Client containers are started by
`sim.backends.docker.DockerSwarm` with `client_run_options`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from sim.backends.docker_cli import create_network, docker
from sim.backends.docker_router import RouterFiles, router_files
from sim.backends.docker_topology import (
    INTERNET_V4,
    INTERNET_V6,
    STUN_V4,
    STUN_V6,
    TRACKER_NAME,
    TRACKER_V4,
    TRACKER_V6,
    HomeNet,
    HomeTopology,
)
from sim.errors import BackendError
from sim.scenario.homes import HomeKind

__all__ = ["HOME_START_S", "BuiltHomes", "build_homes", "client_run_options",
           "internet_run_options"]

HOME_START_S = 60.0
"""How long one router (or the STUN server) may take to come up."""
_PARALLEL = 4
"""Homes built at once (each is a few docker calls; dockerd serializes most of them)."""
STUN_PORT = 3478
_BRIDGE = ("--driver", "bridge", "-o", "com.docker.network.bridge.enable_ip_masquerade=false")
"""Not ``--internal``: docker's rules for internal networks drop bridged packets whose
source or destination lies outside the network's subnet (with br_netfilter the host's
iptables see bridged traffic), which is all routed and NATed traffic of the homes.
Nothing leaves the machine all the same: the host does not masquerade for these
networks, and no container keeps a default route to the host (a home's client routes
via its router; routers and internet hosts have only the routes into the homes)."""


@dataclass(frozen=True)
class BuiltHomes:
    """The docker networks of a run with homes."""

    topology: HomeTopology
    internet: str
    """The internet network's name (tracker, origin, routers' WAN side)."""
    home_networks: dict[str, str]
    """Client name -> its home network's name."""
    routes_file: Path
    """Every route into the routed homes ("NETWORK VIA" lines) for internet hosts."""


_NO_DEFAULT = ("ip -4 route del default 2>/dev/null || true; "
               "ip -6 route del default 2>/dev/null || true")


def _add_hosts(v4: bool, v6: bool) -> list[str]:
    argv = []
    if v4:
        argv += ["--add-host", f"{TRACKER_NAME}:{TRACKER_V4}"]
    if v6:
        argv += ["--add-host", f"{TRACKER_NAME}:{TRACKER_V6}"]
    return argv


def internet_run_options(built: BuiltHomes, v4: str, v6: str) -> list[str]:
    """``docker run`` options of an internet host (tracker, origin) at ``v4``/``v6``:
    the network, the tracker's name and the routes into the homes (PEERNODE_ROUTES,
    so the container runs as root with NET_ADMIN; the entrypoint drops root)."""
    return ["--network", built.internet, "--ip", v4, "--ip6", v6, *_add_hosts(True, True),
            "-e", f"PEERNODE_ROUTES={built.routes_file}"]


def client_run_options(built: BuiltHomes, client: str) -> list[str]:
    """``docker run`` options of ``client`` in its home: its network and addresses, the
    tracker's name, the default routes via its router (entrypoint: PEERNODE_GATEWAY_*)."""
    home = built.topology.homes[client]
    v4, v6 = home.client_addresses
    gw4, gw6 = home.router_lan
    argv = ["--network", built.home_networks[client], "--ip", v4,
            *_add_hosts(home.kind.has_v4, home.kind.has_v6)]
    if home.kind.has_v4:
        argv += ["-e", f"PEERNODE_GATEWAY_V4={gw4}"]
    else:
        argv += ["-e", "PEERNODE_V6_ONLY=1"]
    if v6 is not None and gw6 is not None:
        argv += ["--ip6", v6, "-e", f"PEERNODE_GATEWAY_V6={gw6}"]
    return argv


def _labels(labels: Sequence[str]) -> list[str]:
    return [a for label in labels for a in ("--label", label)]


async def _wait_file(path: Path, container: str, what: str, log: Path | None) -> None:
    """Wait until ``path`` exists; `BackendError` (with the log's last line) if
    ``container`` stops first or `HOME_START_S` passes."""
    with trio.move_on_after(HOME_START_S):
        while not path.exists():
            state = (await docker("inspect", "--format", "{{.State.Running}}", container,
                                  check=False)).strip()
            if state != "true":
                break
            await trio.sleep(0.2)
        else:
            return
    tail = ["no log"]
    if log is not None and log.exists():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or tail
    raise BackendError(f"{what} did not come up: {tail[0]}")


async def _start_stun(image: str, name: str, internet: str, run_dir: Path,
                      labels: Sequence[str]) -> None:
    """stund on the internet's two STUN addresses (miniupnpd's check needs both)."""
    directory = run_dir / "stun"
    directory.mkdir(parents=True, exist_ok=True)
    ready, log = directory / "ready", directory / "stun.log"
    a, b = STUN_V4
    script = (f"exec >>{log} 2>&1\nip addr add {b}/16 dev eth0\n{_NO_DEFAULT}\n"
              f"stund -h {a} -a {b} &\n"
              f"until ss -Hlun | grep -q ':{STUN_PORT} '; do sleep 0.05; done\n"
              f": > {ready}\nwait\n")
    (directory / "stun.sh").write_text(script, encoding="utf-8")
    await docker("run", "-d", "--init", "--name", name, *_labels(labels),
                 "--network", internet, "--ip", a, "--ip6", STUN_V6,
                 "--user", "0", "--cap-add", "NET_ADMIN", "--no-healthcheck",
                 "-v", f"{run_dir}:{run_dir}", "--entrypoint", "/bin/sh", image,
                 str(directory / "stun.sh"))
    await _wait_file(ready, name, "the STUN server", log)


async def _build_home(home: HomeNet, built: BuiltHomes, *, image: str, name_prefix: str,
                      run_dir: Path, labels: Sequence[str]) -> None:
    network = built.home_networks[home.client]
    options = [*_BRIDGE, "--subnet", home.subnet_v4, "--gateway", home.gateway_v4]
    if home.subnet_v6 is not None and home.gateway_v6 is not None:
        options += ["--ipv6", "--subnet", home.subnet_v6, "--gateway", home.gateway_v6]
    await create_network(network, options, labels)
    directory = run_dir / "homes" / home.client
    directory.mkdir(parents=True, exist_ok=True)
    topology = built.topology
    for path, text in router_files(home, topology.routes(), directory,
                                   topology.isp_networks()).items():
        path.write_text(text, encoding="utf-8")
    files = RouterFiles(directory)
    router = f"{name_prefix}-router-{home.plan.number}"
    forward_v4 = "1" if home.kind.has_v4 else "0"
    await docker("run", "-d", "--init", "--name", router, *_labels(labels),
                 "--network", built.internet, "--ip", home.wan_v4, "--ip6", home.wan_v6,
                 "--user", "0", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
                 "--sysctl", f"net.ipv4.ip_forward={forward_v4}",
                 "--sysctl", "net.ipv6.conf.all.forwarding=1", "--no-healthcheck",
                 "-v", f"{run_dir}:{run_dir}", "--entrypoint", "/bin/sh", image,
                 str(files.script))
    lan_v4, lan_v6 = home.router_lan
    connect = ["network", "connect", "--ip", lan_v4]
    if home.subnet_v6 is not None and lan_v6 is not None:
        connect += ["--ip6", lan_v6]
    await docker(*connect, network, router)
    await _wait_file(files.ready, router, f"the router of {home.client}", files.log)


async def build_homes(topology: HomeTopology, *, image: str, name_prefix: str,
                      run_dir: Path, labels: Sequence[str]) -> BuiltHomes:
    """Create the internet network (waiting while another run holds its subnets), the
    STUN server if a home runs miniupnpd, and every home's network and router; the
    caller removes them by ``labels``. `BackendError` if one does not come up."""
    run_dir.mkdir(parents=True, exist_ok=True)
    routes_file = run_dir / "routes"
    routes_file.write_text("".join(f"{net} {via}\n" for net, via in topology.routes()),
                           encoding="utf-8")
    built = BuiltHomes(
        topology=topology, internet=name_prefix,
        home_networks={c: f"{name_prefix}-home-{h.plan.number}"
                       for c, h in topology.homes.items()},
        routes_file=routes_file)
    await create_network(built.internet, [*_BRIDGE, "--ipv6", "--subnet", INTERNET_V4,
                                          "--subnet", INTERNET_V6], labels)
    if any(h.kind is HomeKind.NAT_UPNP for h in topology.homes.values()):
        await _start_stun(image, f"{name_prefix}-stun", built.internet, run_dir, labels)
    limiter = trio.CapacityLimiter(_PARALLEL)

    async def one(home: HomeNet) -> None:
        async with limiter:
            await _build_home(home, built, image=image, name_prefix=name_prefix,
                              run_dir=run_dir, labels=labels)

    try:
        async with trio.open_nursery() as nursery:
            for home in topology.homes.values():
                nursery.start_soon(one, home)
    except BaseExceptionGroup as group:
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return built

