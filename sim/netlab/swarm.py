"""A peernode swarm in a lab: tracker and origin on internet hosts, clients in homes.

Every node is peernode's own command line (``peernode tracker``, ``seed``, ``fetch``) run
with ``ip netns exec`` in its namespace; the files come from
`sim.backends.provision.provision_swarm` (a throwaway CA, a packaged synthetic film,
one rental per client). Rates are the lab's tbf shaping, not libtorrent's limits.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import trio

from sim.backends.launcher import seed_args, tracker_args
from sim.backends.origin_metrics import origin_uploaded_bytes
from sim.backends.provision import ClientFiles, SwarmFiles, provision_swarm
from sim.errors import BackendError
from sim.netlab.lab import Lab, Netns
from sim.scenario.addresses import AddressPool
from sim.scenario.model import ClientsSpec, FlashCrowd, LinkProfile, OriginSpec, Scenario
from sim.scenario.plan import plan_swarm
from support.hostport import format_hostport
from support.processes import peernode_argv

__all__ = [
    "FetchResult",
    "LabSwarm",
    "TrackerAnswer",
    "http_get_in",
    "open_lab_swarm",
    "origin_uploaded_bytes",
]

TRACKER_PORT, ORIGIN_PORT, METRICS_PORT = 8443, 6881, 9100
START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class FetchResult:
    """How a ``peernode fetch`` ended: exit status and its ``--json`` summary (or None)."""

    returncode: int
    summary: dict[str, object] | None
    log: Path

    @property
    def complete(self) -> bool:
        return self.returncode == 0 and bool(self.summary and self.summary.get("complete"))


_ANSWER = re.compile(r" announce film=\S+ peer=(?P<peer>\S+) port=\S+ given=(?P<given>\S+)")


@dataclass(frozen=True)
class TrackerAnswer:
    """One announce the tracker answered: who asked, and the peers' IPs in list order."""

    peer: str
    given: list[str]


@dataclass
class LabSwarm:
    """A provisioned swarm in ``lab``; start its nodes with the methods below."""

    lab: Lab
    files: SwarmFiles
    tracker: Netns
    origin: Netns
    tracker_host: str
    """The tracker's address in the torrent (and its listen address)."""
    procs: list[trio.Process] = field(default_factory=list)
    _origin_proc: trio.Process | None = None
    _fetches: dict[int, trio.Process] = field(default_factory=dict)

    async def _spawn(self, ns: Netns, argv: list[str], log: Path,
                     stdout: Path | None = None) -> trio.Process:
        with log.open("ab") as err, (stdout or Path("/dev/null")).open("ab") as out:
            proc = await trio.lowlevel.open_process(
                ns.argv(*argv), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.procs.append(proc)
        return proc

    async def _wait_tcp(self, ns: Netns, host: str, port: int, proc: trio.Process,
                        what: str, log: Path) -> None:
        """Wait until ``host:port`` listens in ``ns`` (polling ``ss``)."""
        with trio.move_on_after(START_TIMEOUT_S):
            while proc.returncode is None:
                out = await trio.run_process(ns.argv("ss", "-Hltn"), capture_stdout=True)
                if re.search(rf"{re.escape(host)}\]?(%\S+)?:{port}\s", out.stdout.decode()):
                    return
                await trio.sleep(0.1)
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no log"]
        raise BackendError(f"{what} did not listen on {host}:{port}: {tail[0]}")

    async def start_tracker(self, *extra: str, metrics_port: int | None = None,
                            log_answers: bool = False) -> None:
        """``peernode tracker`` on the tracker host (``--metrics`` on ``metrics_port``);
        ``log_answers``: its log records every answer (`tracker_answers`)."""
        f, host = self.files.operator, self.tracker_host
        argv = peernode_argv(*(["-vv"] if log_answers else []), *tracker_args(f, host), *extra)
        if metrics_port:
            argv += ["--metrics", format_hostport(host, metrics_port)]
        log = f.workdir / "tracker.log"
        proc = await self._spawn(self.tracker, argv, log)
        await self._wait_tcp(self.tracker, host, f.tracker_port, proc, "the tracker", log)

    async def start_origin(self, *extra: str) -> None:
        """``peernode seed`` on the origin host, metrics on `METRICS_PORT`."""
        f, host = self.files.operator, self.origin.ipv4
        assert host is not None
        log = f.workdir / "origin.log"
        proc = await self._spawn(self.origin, peernode_argv(
            *seed_args(f, host, ORIGIN_PORT),
            "--metrics", format_hostport(host, METRICS_PORT), *extra), log)
        await self._wait_tcp(self.origin, host, ORIGIN_PORT, proc, "the origin", log)
        self._origin_proc = proc

    async def stop_origin(self) -> None:
        """Stop the origin (SIGTERM) and wait for it to exit."""
        proc = self._origin_proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            await proc.wait()

    def client_files(self, number: int) -> ClientFiles:
        """Client ``number``'s (1-based) rental, key and directories."""
        return self.files.clients[f"client-{number}"]

    async def start_fetch(self, ns: Netns, number: int, *extra: str,
                          listen: str | None = None, timeout_s: float = 120.0) -> None:
        """Start ``peernode fetch --json`` as client ``number`` in ``ns`` (with a status
        log); ``listen`` defaults to ``ns``'s IPv4 (else IPv6) address, port 6881, and ""
        leaves ``--listen`` out (the node's default)."""
        c = self.client_files(number)
        if listen is None:
            listen = format_hostport(ns.ipv4 or ns.v6, 6881)
        argv = peernode_argv(
            "fetch", self.files.torrent, "--rental", c.rental, "--node-key", c.node_key,
            "--out", c.download_dir, *(["--listen", listen] if listen else []),
            "--timeout", str(timeout_s), "--status-log", c.status_log, "--json", *extra)
        self._fetches[number] = await self._spawn(ns, argv, c.log, stdout=c.summary)

    async def wait_complete(self, number: int, timeout_s: float = 120.0) -> None:
        """Wait until client ``number``'s status log says complete; `BackendError` if it
        exits or the time runs out first."""
        c, proc = self.client_files(number), self._fetches[number]
        with trio.move_on_after(timeout_s):
            while proc.returncode is None:
                line = last_json_line(c.status_log)
                if line and line.get("complete"):
                    return
                await trio.sleep(0.25)
            result = await self.result(number)
            if result.complete:
                return
        raise BackendError(f"client-{number} did not complete (log: {c.log})")

    async def result(self, number: int, timeout_s: float = 150.0) -> FetchResult:
        """Wait for client ``number``'s fetch to exit (killed after ``timeout_s``)."""
        c, proc = self.client_files(number), self._fetches[number]
        with trio.move_on_after(timeout_s):
            await proc.wait()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        returncode = -1 if proc.returncode is None else proc.returncode
        return FetchResult(returncode, last_json_line(c.summary), c.log)

    def stop_fetch(self, number: int) -> None:
        """Ask client ``number`` to stop (SIGTERM: it prints its summary and exits)."""
        proc = self._fetches[number]
        if proc.returncode is None:
            proc.terminate()

    def status(self, number: int) -> dict[str, object] | None:
        """Client ``number``'s last status-log line (None before its first)."""
        return last_json_line(self.client_files(number).status_log)

    async def fetch(self, ns: Netns, number: int, *extra: str, listen: str | None = None,
                    timeout_s: float = 120.0) -> FetchResult:
        """`start_fetch`, then its `result`."""
        await self.start_fetch(ns, number, *extra, listen=listen, timeout_s=timeout_s)
        return await self.result(number, timeout_s + 30)

    def tracker_answers(self) -> list[TrackerAnswer]:
        """Every announce the tracker answered, oldest first (needs ``log_answers``)."""
        log = self.files.operator.workdir / "tracker.log"
        try:
            text = log.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [TrackerAnswer(m["peer"], [] if m["given"] == "-" else m["given"].split(","))
                for m in _ANSWER.finditer(text)]

    async def origin_uploaded(self) -> int:
        """Payload bytes the origin uploaded, from its Prometheus metrics."""
        assert self.origin.ipv4 is not None
        url = f"http://{format_hostport(self.origin.ipv4, METRICS_PORT)}/metrics"
        return origin_uploaded_bytes(await http_get_in(self.origin, url))

    async def aclose(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.terminate()
        with trio.move_on_after(10):
            for proc in self.procs:
                await proc.wait()
        for proc in self.procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def http_get_in(ns: Netns, url: str) -> str:
    """The body of ``GET url``, fetched from inside namespace ``ns``."""
    done = await trio.run_process(ns.argv(
        "python3", "-c", "import sys, urllib.request; "
        f"sys.stdout.write(urllib.request.urlopen({url!r}, timeout=5).read().decode())"),
        capture_stdout=True)
    return str(done.stdout.decode())


def last_json_line(path: Path) -> dict[str, object] | None:
    """The JSON object on the last non-empty line of ``path``, if any."""
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except FileNotFoundError:
        return None
    try:
        value = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@asynccontextmanager
async def open_lab_swarm(lab: Lab, *, clients: int, film_mib: float,
                         tracker: Netns | None = None, origin: Netns | None = None,
                         tracker_v6: bool = False) -> AsyncIterator[LabSwarm]:
    """Provision a swarm of ``clients`` rentals for a ``film_mib`` film in the lab's workdir,
    with a tracker and an origin host (added to the lab unless given); nothing started.
    The torrent's tracker URL names the tracker's IPv4 address, or its IPv6 one with
    ``tracker_v6`` (the tracker then listens there). Every process started through it
    is stopped on exit."""
    tracker = tracker or lab.add_host("tracker", rate_bps=0)
    origin = origin or lab.add_host("origin")
    assert tracker.ipv4 is not None
    assert origin.ipv4 is not None
    scenario = Scenario(
        name="netlab", film_mib=film_mib, origin=OriginSpec(upload_bps=0),
        clients=ClientsSpec(count=clients, links=(LinkProfile("lab", 0, 0),)),
        arrivals=FlashCrowd(), timeout_s=3600)
    tracker_host = tracker.v6 if tracker_v6 else tracker.v4
    plan = plan_swarm(scenario, AddressPool(tracker_host, origin.v4, "10.255.0.0/16"),
                      random.Random(1))  # noqa: S311 (a plan's seed, not a secret)
    workdir = lab.workdir / "swarm"
    files = await trio.to_thread.run_sync(lambda: provision_swarm(
        plan, workdir, tracker_port=TRACKER_PORT, now=datetime.now(UTC)))
    swarm = LabSwarm(lab, files, tracker, origin, tracker_host)
    try:
        yield swarm
    finally:
        with trio.CancelScope(shield=True):
            await swarm.aclose()
