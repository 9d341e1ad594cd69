"""Reachability checks between lab namespaces, with tests/netlab/probe.py as the program."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from sim.netlab import Netns

REPO = Path(__file__).resolve().parents[2]
"""Where ``python -m tests.netlab...`` finds the tests package."""


def module_argv(ns: Netns, module: str, *args: str) -> list[str]:
    """``python -m module args`` (this interpreter) inside ``ns``."""
    return ns.argv(sys.executable, "-m", module, *args)


async def can_connect(ns: Netns, host: str, port: int, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection from ``ns`` to ``host:port`` opens."""
    done = await trio.run_process(
        module_argv(ns, "tests.netlab.probe", "connect", host, str(port),
                    "--timeout", str(timeout_s)),
        cwd=REPO, capture_stdout=True, check=False)
    return done.returncode == 0


@asynccontextmanager
async def listener(ns: Netns, host: str, port: int) -> AsyncIterator[trio.Process]:
    """A TCP listener in ``ns`` (stopped on exit); its stdout names each accepted peer."""
    proc = await trio.lowlevel.open_process(
        module_argv(ns, "tests.netlab.probe", "listen", host, str(port)),
        cwd=REPO, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        with trio.fail_after(10):
            first = await proc.stdout.receive_some()
        assert b"listening" in first
        yield proc
    finally:
        proc.kill()
        await proc.wait()


async def read_line(stream: trio.abc.ReceiveStream, timeout_s: float = 10.0) -> str:
    """The next line from ``stream`` (bytes are read one chunk at a time)."""
    buf = b""
    with trio.fail_after(timeout_s):
        while b"\n" not in buf:
            chunk = await stream.receive_some()
            if not chunk:
                break
            buf += chunk
    return buf.decode().strip()
