"""Running peernode's own commands as child processes on loopback (demo, simulations)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sys
from pathlib import Path

import trio

from support.errors import ProcessStartError

__all__ = ["file_sha256", "free_port", "free_ports", "peernode_argv", "wait_listening"]

START_TIMEOUT_S = 20.0


def free_port(host: str) -> int:
    """A TCP port free on ``host`` right now (the caller binds it soon after)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_ports(host: str, n: int) -> list[int]:
    """``n`` distinct TCP ports free on ``host`` (all held open at once, so none is handed
    out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def peernode_argv(*args: str | os.PathLike[str]) -> list[str]:
    """The argv of a ``peernode`` subcommand run with this interpreter."""
    return [sys.executable, "-m", "peernode", *map(str, args)]


async def wait_listening(
    host: str, port: int, proc: trio.Process, what: str, *, timeout_s: float = START_TIMEOUT_S
) -> None:
    """Wait until ``proc`` accepts TCP connections on ``host:port``; `ProcessStartError` if not."""
    with trio.move_on_after(timeout_s):
        while proc.returncode is None:
            try:
                stream = await trio.open_tcp_stream(host, port)
            except OSError:
                await trio.sleep(0.1)
                continue
            await stream.aclose()
            return
    raise ProcessStartError(f"{what} did not start listening on {host}:{port}")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
