"""A home-network lab in real network namespaces: an "internet" and homes behind routers.

`open_lab` builds an internet namespace (a bridge and the core router, 198.18.0.0/16 and
fd00:18::/64) with a STUN server on two addresses; `Lab.add_host` attaches an internet
host (origin, tracker, ...) and `Lab.add_home` a home: a router namespace (``wan`` on the
bridge, ``lan`` a veth to one client namespace) of a `HomeKind`. Every link is shaped
with tbf, both ways: a host's and a home's upload and download at the given rate.

Namespaces are named ``PREFIX-PID-N-ROLE``; leaving `open_lab` kills every process in
them and deletes them, on error and on cancellation too, and entering it first sweeps
away the namespaces of a dead process with the same prefix (a crashed run). Nothing is
created outside these namespaces, and nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sim.errors import BackendError
from sim.netlab.addressing import (
    CORE_V4,
    CORE_V6,
    INET_V4_PREFIX,
    INET_V6_PREFIX,
    HomeKind,
    home_addresses,
    host_addresses,
)
from sim.netlab.commands import in_netns, run, run_in
from sim.netlab.router import LAN_IF, WAN_IF, miniupnpd_config, router_ruleset

__all__ = ["Home", "Lab", "Netns", "open_lab", "sweep_leftovers"]

STUN_V4 = ("198.18.0.2", "198.18.0.3")
"""The STUN server's two addresses (change requests answer from the other one)."""
SERVICE_START_S = 15.0
_BRIDGE = "br0"
_lab_numbers = itertools.count(1)


@dataclass(frozen=True)
class Netns:
    """One namespace of the lab and its addresses (None: no such family)."""

    name: str
    ipv4: str | None
    ipv6: str | None

    @property
    def v4(self) -> str:
        """The IPv4 address; `BackendError` if it has none."""
        if self.ipv4 is None:
            raise BackendError(f"{self.name} has no IPv4 address")
        return self.ipv4

    @property
    def v6(self) -> str:
        """The IPv6 address; `BackendError` if it has none."""
        if self.ipv6 is None:
            raise BackendError(f"{self.name} has no IPv6 address")
        return self.ipv6

    def argv(self, *argv: str | os.PathLike[str]) -> list[str]:
        """``argv`` run inside this namespace."""
        return in_netns(self.name, [os.fspath(a) for a in argv])

    def run(self, *argv: str, check: bool = True) -> str:
        """Run ``argv`` here (blocking); its stdout; `BackendError` if it fails."""
        return run_in(self.name, argv, check=check)


@dataclass(frozen=True)
class Home:
    """A home: its router and the one client behind it."""

    name: str
    kind: HomeKind
    router: Netns
    """``router.ipv4``/``ipv6`` are its WAN addresses."""
    client: Netns

    @property
    def public_ipv4(self) -> str | None:
        """The IPv4 address the internet sees the client at (the router's, behind NAT)."""
        return self.router.ipv4 if self.kind.nat_v4 else self.client.ipv4


def _netns_pid(name: str, prefix: str) -> int | None:
    rest = name[len(prefix) + 1:]
    pid = rest.split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _list_netns() -> list[str]:
    return [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line]


def _kill_all_in(names: list[str], grace_s: float = 3.0) -> None:
    """SIGTERM every process in ``names``, SIGKILL what is left after ``grace_s``."""
    def pids() -> list[int]:
        found = []
        for name in names:
            out = run(["ip", "netns", "pids", name], check=False)
            found += [int(p) for p in out.split() if p.isdigit()]
        return found

    for sig in (signal.SIGTERM, signal.SIGKILL):
        running = pids()
        for pid in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while running and time.monotonic() < deadline:
            time.sleep(0.05)
            running = pids()
        if not running:
            return


def _delete(names: list[str]) -> None:
    _kill_all_in(names)
    for name in names:
        run(["ip", "netns", "del", name], check=False)


def sweep_leftovers(prefix: str) -> list[str]:
    """Delete the namespaces ``prefix-PID-...`` whose PID is no longer running (a crashed
    run's; running labs are left alone); the names deleted."""
    stale = [
        name for name in _list_netns()
        if name.startswith(prefix + "-")
        and (pid := _netns_pid(name, prefix)) is not None and not _alive(pid)
    ]
    _delete(stale)
    return stale


def _tbf(ns: str, dev: str, rate_bps: int, queue_ms: float) -> None:
    if rate_bps <= 0:
        return
    burst = max(16 * 1024, rate_bps // 100)
    run_in(ns, ["tc", "qdisc", "replace", "dev", dev, "root", "tbf",
                "rate", f"{rate_bps * 8}bit", "burst", str(burst),
                "latency", f"{queue_ms:g}ms"])


def _sysctl(ns: str, *settings: str) -> None:
    run_in(ns, ["sysctl", "-q", "-w", *settings])


class Lab:
    """A lab being built; use `open_lab`."""

    def __init__(self, prefix: str, workdir: Path, rate_bps: int, queue_ms: float) -> None:
        self.prefix = f"{prefix}-{os.getpid()}-{next(_lab_numbers)}"
        self.workdir = workdir
        self.rate_bps = rate_bps
        self.queue_ms = queue_ms
        self.namespaces: list[str] = []
        self.services: list[subprocess.Popen[bytes]] = []
        self._ports = itertools.count(1)
        self._homes = itertools.count(1)
        self._hosts = itertools.count(0)
        self.inet = Netns(f"{self.prefix}-inet", CORE_V4, CORE_V6)
        self.stun: Netns | None = None

    # -- building blocks ----------------------------------------------------------------

    def _netns(self, role: str, ipv4: str | None, ipv6: str | None) -> Netns:
        name = f"{self.prefix}-{role}"
        self._create(name)
        return Netns(name, ipv4, ipv6)

    def _create(self, name: str) -> None:
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        run_in(name, ["ip", "link", "set", "lo", "up"])
        # No duplicate address detection: addresses are usable at once.
        _sysctl(name, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")

    def _addr(self, ns: str, dev: str, addr: str, plen: int) -> None:
        extra = ["nodad"] if ":" in addr else []
        run_in(ns, ["ip", "addr", "add", f"{addr}/{plen}", "dev", dev, *extra])

    def _attach(self, ns: Netns, dev: str, v4: list[str], v6: str | None) -> str:
        """A veth from ``ns`` (named ``dev``) to the internet bridge; its bridge-side name."""
        port = f"p{next(self._ports)}"
        run_in(self.inet.name, ["ip", "link", "add", port, "type", "veth", "peer", "name",
                                dev, "netns", ns.name])
        run_in(self.inet.name, ["ip", "link", "set", port, "master", _BRIDGE, "up"])
        for a in v4:
            self._addr(ns.name, dev, a, INET_V4_PREFIX)
        if v6:
            self._addr(ns.name, dev, v6, INET_V6_PREFIX)
        run_in(ns.name, ["ip", "link", "set", dev, "up"])
        if v4:
            run_in(ns.name, ["ip", "route", "add", "default", "via", CORE_V4])
        if v6:
            run_in(ns.name, ["ip", "-6", "route", "add", "default", "via", CORE_V6])
        return port

    def _build_internet(self) -> None:
        name = self.inet.name
        self._create(name)
        _sysctl(name, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
        run_in(name, ["ip", "link", "add", _BRIDGE, "type", "bridge"])
        self._addr(name, _BRIDGE, CORE_V4, INET_V4_PREFIX)
        self._addr(name, _BRIDGE, CORE_V6, INET_V6_PREFIX)
        run_in(name, ["ip", "link", "set", _BRIDGE, "up"])

    def _service(self, ns: Netns, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        with log:
            proc = subprocess.Popen(ns.argv(*argv), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        self.services.append(proc)
        return proc

    def _wait_udp(self, ns: Netns, port: int, proc: subprocess.Popen[bytes], what: str) -> None:
        deadline = time.monotonic() + SERVICE_START_S
        while time.monotonic() < deadline and proc.poll() is None:
            if f":{port} " in ns.run("ss", "-Hlun"):
                return
            time.sleep(0.1)
        raise BackendError(f"{what} did not start in {ns.name} (log: {self.workdir})")

    # -- public -------------------------------------------------------------------------

    def add_host(self, role: str, *, rate_bps: int | None = None) -> Netns:
        """An internet host named ``role``, with an IPv4 and an IPv6 address; its link is
        shaped at ``rate_bps`` each way (default the lab's rate; 0 unshaped)."""
        v4, v6 = host_addresses(next(self._hosts))
        ns = self._netns(role, v4, v6)
        port = self._attach(ns, "eth0", [v4], v6)
        rate = self.rate_bps if rate_bps is None else rate_bps
        _tbf(ns.name, "eth0", rate, self.queue_ms)
        _tbf(self.inet.name, port, rate, self.queue_ms)
        return ns

    def start_stun(self) -> Netns:
        """The STUN server (stund) on two internet addresses, once; its namespace."""
        if self.stun is not None:
            return self.stun
        ns = self._netns("stun", STUN_V4[0], None)
        self._attach(ns, "eth0", list(STUN_V4), None)
        proc = self._service(ns, "stund", ["stund", "-h", STUN_V4[0], "-a", STUN_V4[1]])
        self._wait_udp(ns, 3478, proc, "stund")
        self.stun = ns
        return ns

    def add_home(self, role: str, kind: HomeKind, *, up_bps: int | None = None,
                 down_bps: int | None = None) -> Home:
        """A home named ``role`` of ``kind``: router ``ROLE-r`` and client ``ROLE-c``.
        Its upload (router's WAN egress) and download (LAN egress) are shaped at
        ``up_bps``/``down_bps`` (default the lab's rate; 0 unshaped). A `nat-upnp`
        home's miniupnpd is running (and has passed its STUN check) on return."""
        number = next(self._homes)
        a = home_addresses(number, kind)
        router = self._netns(f"{role}-r", a.wan_v4, a.wan_v6)
        client = self._netns(f"{role}-c", a.client_v4, a.client_v6)
        _sysctl(router.name, "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
        self._attach(router, WAN_IF, [a.wan_v4] if a.wan_v4 else [], a.wan_v6)
        run_in(router.name, ["ip", "link", "add", LAN_IF, "type", "veth", "peer", "name",
                             "eth0", "netns", client.name])
        for lan, addr, plen in ((a.lan_v4, a.client_v4, 24), (a.lan_v6, a.client_v6, 64)):
            if lan and addr:
                self._addr(router.name, LAN_IF, lan, plen)
                self._addr(client.name, "eth0", addr, plen)
        run_in(router.name, ["ip", "link", "set", LAN_IF, "up"])
        run_in(client.name, ["ip", "link", "set", "eth0", "up"])
        if a.lan_v4:
            run_in(client.name, ["ip", "route", "add", "default", "via", a.lan_v4])
        if a.lan_v6:
            run_in(client.name, ["ip", "-6", "route", "add", "default", "via", a.lan_v6])
        if a.routed_v4 and a.wan_v4:
            run_in(self.inet.name, ["ip", "route", "add", a.routed_v4, "via", a.wan_v4])
        if a.routed_v6 and a.wan_v6:
            run_in(self.inet.name, ["ip", "-6", "route", "add", a.routed_v6, "via", a.wan_v6])
        run_in(router.name, ["nft", "-f", "-"], stdin=router_ruleset(kind))
        _tbf(router.name, WAN_IF, self.rate_bps if up_bps is None else up_bps, self.queue_ms)
        _tbf(router.name, LAN_IF, self.rate_bps if down_bps is None else down_bps,
             self.queue_ms)
        if kind is HomeKind.NAT_UPNP and a.lan_v4:
            self._start_miniupnpd(router, role, f"{a.lan_v4.rsplit('.', 1)[0]}.0/24")
        return Home(role, kind, router, client)

    def _start_miniupnpd(self, router: Netns, role: str, lan_network: str) -> None:
        stun = self.start_stun()
        assert stun.ipv4 is not None
        conf = self.workdir / f"miniupnpd-{role}.conf"
        conf.write_text(miniupnpd_config(lan_network=lan_network, stun_host=stun.ipv4),
                        encoding="utf-8")
        pidfile = self.workdir / f"miniupnpd-{role}.pid"
        proc = self._service(router, f"miniupnpd-{role}",
                             ["miniupnpd", "-d", "-f", str(conf), "-P", str(pidfile)])
        self._wait_udp(router, 5351, proc, "miniupnpd")

    def close(self) -> None:
        """Kill every process in the lab's namespaces and delete them."""
        for proc in self.services:
            if proc.poll() is None:
                proc.terminate()
        _delete(list(reversed(self.namespaces)))
        for proc in self.services:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.namespaces.clear()


@contextlib.contextmanager
def open_lab(prefix: str, *, rate_bps: int = 0, queue_ms: float = 100.0,
             workdir: Path | None = None) -> Iterator[Lab]:
    """A new lab (internet namespace and bridge, nothing attached yet) whose links are
    shaped at ``rate_bps`` bytes/s each way by default (0: unshaped), tbf queues holding
    ``queue_ms`` of traffic. Logs and configs go to ``workdir`` (default a temporary
    directory). Torn down on exit, whatever the exit. `BackendError` if a command fails."""
    sweep_leftovers(prefix)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="netlab-")))
        lab = Lab(prefix, workdir, rate_bps, queue_ms)
        stack.callback(lab.close)
        lab._build_internet()
        yield lab
