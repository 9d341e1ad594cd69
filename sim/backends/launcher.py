"""The one way peernode's own nodes are launched for a swarm: their command lines, and a
group of child processes that is always torn down.

`tracker_args`, `seed_args` and `fetch_args` are the ``peernode`` subcommands of a
swarm's tracker, origin and clients, read from its provisioned files
(`sim.backends.provision`); the local backend runs them with this interpreter
(`support.processes.peernode_argv`), the docker backend inside containers, and the
fault and security tests as their own child processes.

`open_process_group` yields a `ProcessGroup` of named child processes; leaving it
stops every one still running, also on error or cancellation: SIGTERM, a grace
period, then SIGKILL.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import IO

import trio

from sim.backends.provision import ClientFiles, OperatorFiles
from sim.errors import BackendError
from support.errors import ProcessStartError
from support.hostport import format_hostport
from support.processes import wait_listening

__all__ = ["STOP_GRACE_S", "ProcessGroup", "fetch_args", "open_process_group", "seed_args",
           "tracker_args", "wait_started"]

STOP_GRACE_S = 10.0
"""How long a stopped process may take to exit cleanly before it is killed."""


def tracker_args(operator: OperatorFiles, host: str, *, port: int | None = None,
                 config: Path | None = None) -> list[str]:
    """``peernode tracker`` for the operator's library on ``host:port`` (default: the
    port its film announces to), with the tunables of ``config`` (TOML) if given."""
    o = operator
    args = ["tracker", "--ca", str(o.ca_cert), "--cert", str(o.server_cert),
            "--key", str(o.server_key), "--library", str(o.library), "--crl", str(o.crl),
            "--listen", format_hostport(host, o.tracker_port if port is None else port)]
    return args if config is None else [*args, "--config", str(config)]


def seed_args(operator: OperatorFiles, host: str, port: int, *,
              upload_bps: int | str | None = None, super_seed: bool = False,
              library: Path | None = None, metrics_port: int | None = None) -> list[str]:
    """``peernode seed`` of the operator's library (or ``library``) on ``host:port``;
    with ``upload_bps`` (bytes/s, or a RATE such as ``"4M"``) libtorrent caps its
    upload, loopback peers included; with ``metrics_port`` it serves its Prometheus
    metrics (its own byte counts, `sim.backends.origin_metrics`) on ``host`` there."""
    o = operator
    args = ["seed", "--library", str(library or o.library), "--cert", str(o.seeder_cert),
            "--key", str(o.seeder_key), "--listen", format_hostport(host, port)]
    if upload_bps is not None:
        args += ["--upload-limit", str(upload_bps), "--limit-local-peers"]
    if super_seed:
        args.append("--super-seed")
    if metrics_port is not None:
        args += ["--metrics", format_hostport(host, metrics_port)]
    return args


def fetch_args(
    torrent: Path,
    client: ClientFiles,
    host: str,
    port: int = 0,
    *,
    download: Path | None = None,
    rates_bps: tuple[int, int] | None = None,
    seed_for_s: float | None = None,
) -> list[str]:
    """``peernode fetch`` of ``torrent`` with the client's rental and key on ``host:port``,
    logging status a second and printing its JSON summary; ``rates_bps`` (upload,
    download; 0 unlimited) are capped by libtorrent, loopback peers included."""
    args = ["fetch", str(torrent), "--rental", str(client.rental),
            "--node-key", str(client.node_key), "--out", str(download or client.download_dir),
            "--listen", format_hostport(host, port)]
    if rates_bps is not None:
        up, down = rates_bps
        args += ["--upload-limit", str(up), "--download-limit", str(down),
                 "--limit-local-peers"]
    if seed_for_s is not None:
        args += ["--seed-for", f"{seed_for_s:g}"]
    return [*args, "--status-log", str(client.status_log), "--json"]


class ProcessGroup:
    """Child processes by role (``tracker``, ``origin``, a client's name)."""

    def __init__(self, *, grace_s: float = STOP_GRACE_S) -> None:
        self._grace_s = grace_s
        self._procs: dict[str, trio.Process] = {}

    def get(self, role: str) -> trio.Process | None:
        """The last process started as ``role``, running or not."""
        return self._procs.get(role)

    @property
    def processes(self) -> tuple[trio.Process, ...]:
        """Every process started, by role (the last of each)."""
        return tuple(self._procs.values())

    async def spawn(self, role: str, argv: Sequence[str], *, log: Path,
                    stdout: Path | None = None) -> trio.Process:
        """Start ``argv`` as ``role``, stderr appended to ``log`` and stdout to ``stdout``
        (or discarded); `BackendError` if ``role`` is still running."""
        running = self._procs.get(role)
        if running is not None and running.returncode is None:
            # Replacing it would orphan a process that nothing tears down any more.
            raise BackendError(f"{role} is already running")
        # The child keeps its own copies of the descriptors; ours are closed at once.
        with log.open("ab") as err, \
                (stdout.open("ab") if stdout else nullcontext(subprocess.DEVNULL)) as out:
            out_target: IO[bytes] | int = out
            proc = await trio.lowlevel.open_process(
                list(argv), stdin=subprocess.DEVNULL, stdout=out_target, stderr=err)
        self._procs[role] = proc
        return proc

    def send_signal(self, role: str, signum: signal.Signals) -> bool:
        """Send ``signum`` to ``role`` if it runs; whether it did."""
        proc = self._procs.get(role)
        if proc is None or proc.returncode is not None:
            return False
        proc.send_signal(signum)
        return True

    async def stop(self, role: str, signum: signal.Signals = signal.SIGTERM, *,
                   wait: bool = True) -> None:
        """Signal ``role``; with ``wait``, reap it (SIGKILL after the grace period)."""
        proc = self._procs.get(role)
        if self.send_signal(role, signum) and wait and proc is not None:
            await self._reap([proc])

    async def aclose(self) -> None:
        """Stop every process still running: SIGTERM, then SIGKILL after the grace period."""
        running = [p for p in self._procs.values() if p.returncode is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        await self._reap(running)

    async def _reap(self, procs: Sequence[trio.Process]) -> None:
        with trio.move_on_after(self._grace_s):
            for proc in procs:
                await proc.wait()
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@asynccontextmanager
async def open_process_group(*, grace_s: float = STOP_GRACE_S) -> AsyncIterator[ProcessGroup]:
    """A `ProcessGroup` whose processes are all stopped on leaving, even when cancelled."""
    group = ProcessGroup(grace_s=grace_s)
    try:
        yield group
    finally:
        with trio.CancelScope(shield=True):
            await group.aclose()


async def wait_started(host: str, port: int, proc: trio.Process, what: str, log: Path) -> None:
    """Wait until ``proc`` listens on ``host:port``; if it does not, `BackendError` saying
    why with its log's last line."""
    try:
        await wait_listening(host, port, proc, what)
    except ProcessStartError as e:
        try:
            lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except FileNotFoundError:
            lines = []
        why = lines[-1] if lines else "it wrote nothing"
        raise BackendError(f"{e}: {why}") from None
