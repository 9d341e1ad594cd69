"""``peernode tracker --workers N``: N tracker processes on the same ports (SO_REUSEPORT).

One trio process uses one core; a tracker host with more cores runs one worker per core.
Each worker is a whole tracker (`tracker.server.serve_tracker`) whose listen sockets are
bound with ``SO_REUSEPORT`` (`tracker.listeners`): the kernel spreads new connections
over the workers. The swarms must then be shared, so more than one worker needs Redis
(`TrackerConfig.workers`); the library and the CRL are files every worker watches
itself. Only worker 0 serves the metrics listener (its connection counters are its own;
the swarm gauges come from Redis and cover every worker).

This module is the parent: it binds port-0 addresses first (so that every worker gets
the same port), starts the workers (``spawn``: no trio state crosses a fork), waits
until each accepts connections or fails (a failure stops the others and becomes the
parent's one-line error), then forwards signals: SIGHUP reloads every worker, SIGINT or
SIGTERM shuts them down gracefully (a second one stops them at once). If a worker dies,
the others are stopped and the parent exits non-zero, for the service manager to
restart the whole tracker. Workers die with the parent (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING

from tracker.config import TrackerConfig
from tracker.errors import TrackerError
from tracker.listeners import listen_addresses, reuse_port_addresses, reuse_port_socket

if TYPE_CHECKING:
    from tracker.server import RunningTracker

__all__ = ["STARTUP_TIMEOUT_S", "run_workers", "worker_configs"]

log = logging.getLogger("tracker")

STARTUP_TIMEOUT_S = 60.0
"""A worker that neither accepts connections nor fails by then is a failed start."""
_PR_SET_PDEATHSIG = 1


def _bind_free_ports(config: TrackerConfig) -> tuple[TrackerConfig, list[socket.socket]]:
    """Port 0 replaced by ports bound now (``SO_REUSEPORT``, not listening, kept until
    the workers have bound theirs), so that all workers share them."""
    held: list[socket.socket] = []
    resolved: list[tuple[str, int]] = []
    try:
        for host, port in listen_addresses(config):
            if port == 0:
                for family, (addr, _) in reuse_port_addresses(host, 0):
                    held.append(reuse_port_socket(family, (addr, port)))
                    port = held[-1].getsockname()[1]
            resolved.append((host, port))
    except BaseException:
        for sock in held:
            sock.close()
        raise
    (host, port), *more = resolved
    return dataclasses.replace(config, listen_port=port, more_listen=tuple(more)), held


def worker_configs(config: TrackerConfig) -> list[TrackerConfig]:
    """The configuration of each worker: one process, ``SO_REUSEPORT``, metrics on the
    first only."""
    return [
        dataclasses.replace(
            config,
            workers=1,
            reuse_port=True,
            metrics_host=config.metrics_host if index == 0 else None,
        )
        for index in range(config.workers)
    ]


def _die_with_parent() -> None:
    libc_name = ctypes.util.find_library("c")
    prctl = getattr(ctypes.CDLL(libc_name), "prctl", None) if libc_name else None
    if prctl is not None:  # Linux
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _worker_main(config: TrackerConfig, index: int, report: Connection, log_level: int) -> None:
    """One worker (the target of a spawned process): serve until signalled."""
    _die_with_parent()
    os.setpgid(0, 0)  # a terminal's ^C reaches the parent only, which forwards it once
    logging.basicConfig(
        level=log_level, format=f"%(asctime)s %(name)s[{index}] %(levelname)s %(message)s"
    )
    from certs import CertsError
    from tracker.cli import run_tracker

    def started(_config: TrackerConfig, running: RunningTracker) -> None:
        report.send(("started", running.announce_url))
        report.close()

    try:
        run_tracker(config, started)
    except (TrackerError, CertsError, OSError) as e:
        text = str(e) if not isinstance(e, OSError) else (e.strerror or str(e))
        with contextlib.suppress(OSError):
            report.send(("error", f"worker {index}: {text}"))
        sys.exit(1)


def _await_start(index: int, proc: BaseProcess, receive: Connection) -> None:
    """Wait for worker ``index`` to accept connections; `TrackerError` if it fails."""
    if not receive.poll(STARTUP_TIMEOUT_S):
        raise TrackerError(f"worker {index} did not start within {STARTUP_TIMEOUT_S:.0f} s")
    try:
        kind, text = receive.recv()
    except EOFError:
        proc.join(5)
        raise TrackerError(
            f"worker {index} exited while starting (status {proc.exitcode})"
        ) from None
    if kind == "error":
        raise TrackerError(text)


def _start(configs: list[TrackerConfig]) -> list[BaseProcess]:
    """Start a worker per configuration; return once all accept connections.

    Raises `TrackerError` (the first failure; every worker started is stopped).
    """
    context = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = []
    reports: list[Connection] = []
    try:
        for index, config in enumerate(configs):
            receive, send = context.Pipe(duplex=False)
            proc: BaseProcess = context.Process(
                target=_worker_main,
                args=(config, index, send, logging.getLogger().level),
                name=f"tracker-worker-{index}",
            )
            proc.start()
            send.close()
            procs.append(proc)
            reports.append(receive)
        for index, (proc, receive) in enumerate(zip(procs, reports, strict=True)):
            _await_start(index, proc, receive)
    except BaseException:
        _stop(procs)
        raise
    finally:
        for receive in reports:
            receive.close()
    return procs


def _signal(procs: list[BaseProcess], signum: int) -> None:
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signum)


def _stop(procs: list[BaseProcess]) -> None:
    _signal(procs, signal.SIGTERM)
    for proc in procs:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _supervise(procs: list[BaseProcess]) -> int:
    """Forward signals until every worker has exited; the exit status."""
    stopping = False
    failed = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if signum == signal.SIGHUP:
            _signal(procs, signal.SIGHUP)
            return
        if not stopping:
            sys.stderr.write("shutting down\n")
        stopping = True
        _signal(procs, signal.SIGTERM)  # a second one: the workers stop at once

    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in handled}
    try:
        alive = list(procs)
        while alive:
            multiprocessing.connection.wait([p.sentinel for p in alive], timeout=1.0)
            for proc in [p for p in alive if not p.is_alive()]:
                alive.remove(proc)
                if proc.exitcode != 0 or not stopping:
                    failed = True
                    if not stopping:
                        log.error("%s exited (status %s); stopping the others",
                                  proc.name, proc.exitcode)
                        stopping = True
                        _signal(alive, signal.SIGTERM)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 1 if failed else 0


def run_workers(config: TrackerConfig) -> int:
    """Serve ``config`` with ``config.workers`` processes until signalled; exit status.

    Raises `TrackerError` if a worker cannot start (the message is its error) and
    `OSError` if a port-0 address cannot be bound.
    """
    config, held = _bind_free_ports(config)
    try:
        procs = _start(worker_configs(config))
    finally:
        for sock in held:
            sock.close()
    host = f"[{config.listen_host}]" if ":" in config.listen_host else config.listen_host
    sys.stderr.write(
        f"listening on https://{host}:{config.listen_port}/announce"
        f" ({config.workers} workers)\n"
    )
    sys.stderr.flush()
    return _supervise(procs)
