"""Quiesce a libtorrent session before it is destroyed, so that destroying it cannot crash.

libtorrent 2.1.1 crashes (SIGSEGV in its network thread) when a session is destroyed
while an incoming SSL connection is still in its TLS handshake: ``session_impl::abort``
closes and *frees* each such socket at once, and the cancelled handshake's completion
handler then runs on the freed SSL stream (``ssl::detail::io_op`` -> ``map_error_code``
-> ``BIO_ctrl``). Seen as an exit 139 of the test suite, reproduced with a probe
connection left open on the SSL port while the node closes; with glibc's tcache off and
``MALLOC_PERTURB_`` it crashes every time (tests/peernode/runtime/test_session_teardown.py).

The only ways out of that handshake are its own completion or abort. So before a
session goes away this module makes every handshake complete: it closes the session's
SSL listen sockets (no new connection can arrive), then shuts down (``shutdown(2)``;
the descriptor stays libtorrent's) every TCP socket of this process accepted on the
session's ports; each pending handshake reads end-of-file, fails, and libtorrent
frees its socket itself on its normal path.
It waits until no such socket is left. The sockets are found among this process's
descriptors (``/proc/self/fd``, Linux); elsewhere it only stops listening and waits a
short grace period.
Incoming uTP connections (``transport="utp"``/``"both"``, off by default) are not TCP
sockets and cannot be shut down from here.

The choice is pure (`accepted_inodes`); `close_session` is the trio shell and
`close_session_blocking` the same for plain code (tests, benchmarks).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
import trio

__all__ = [
    "TcpSocket",
    "accepted_inodes",
    "close_session",
    "close_session_blocking",
    "own_tcp_sockets",
]

_PROC_FD = Path("/proc/self/fd")
_POLL_S = 0.02
# Without /proc: time for the network thread to close its listen sockets and see
# the end of connections whose peers already left (a probe, a closed node).
_BLIND_GRACE_S = 0.3


@dataclass(frozen=True, slots=True)
class TcpSocket:
    """One TCP socket of this process: its local port, whether it listens, its inode."""

    local_port: int
    listening: bool
    inode: int


def accepted_inodes(rows: Iterable[TcpSocket], ports: set[int]) -> tuple[bool, set[int]]:
    """(still listening on one of ``ports``, inodes of the connections accepted on them).

    A connection accepted on a listen port keeps that port as its local port; outgoing
    connections have ephemeral local ports, so they are never counted.
    """
    listening = False
    accepted: set[int] = set()
    for row in rows:
        if row.local_port not in ports:
            continue
        if row.listening:
            listening = True
        elif row.inode:
            accepted.add(row.inode)
    return listening, accepted


def own_tcp_sockets() -> dict[int, tuple[TcpSocket, int]] | None:
    """inode -> (row, descriptor) of this process's TCP sockets; None without /proc.

    Only this process's descriptors are looked at (``getsockname`` and
    ``SO_ACCEPTCONN`` on a duplicate of each), never the whole network namespace's
    table in /proc/net/tcp, which on a busy host holds thousands of other sockets:
    parsing it every 20 ms cost about 1 s of CPU per exit (docs/performance.md).
    """
    try:
        names = os.listdir(_PROC_FD)
    except OSError:
        return None
    found: dict[int, tuple[TcpSocket, int]] = {}
    for name in names:
        with contextlib.suppress(OSError, ValueError):
            target = os.readlink(_PROC_FD / name)
            if not target.startswith("socket:["):
                continue
            inode = int(target[len("socket:["):-1])
            fd = int(name)
            s = socket.socket(fileno=os.dup(fd))
            try:
                if s.family not in (socket.AF_INET, socket.AF_INET6) \
                        or s.type != socket.SOCK_STREAM:
                    continue
                port = int(s.getsockname()[1])
                listening = bool(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
            finally:
                s.close()  # closes our duplicate only
            found[inode] = (TcpSocket(port, listening, inode), fd)
    return found


def _shut_down(fd: int) -> None:
    """End both directions of a socket libtorrent owns; the descriptor stays open."""
    with contextlib.suppress(OSError):
        s = socket.socket(fileno=os.dup(fd))
        try:
            s.shutdown(socket.SHUT_RDWR)
        finally:
            s.close()  # closes our duplicate only


def _quiet(ports: set[int]) -> bool | None:
    """One pass: shut down what was accepted on ``ports``; True once nothing is left.

    None when this platform has no /proc to look at.
    """
    own = own_tcp_sockets()
    if own is None:
        return None
    listening, inodes = accepted_inodes((row for row, _fd in own.values()), ports)
    for inode in inodes:
        _shut_down(own[inode][1])
    return not listening and not inodes


# Where a closing session listens instead. Not "": libtorrent keeps every socket of a
# session on all interfaces when told to listen nowhere (measured). A plain socket
# starts no TLS handshake, and a paused session refuses what connects to it.
_NOWHERE = "127.0.0.1:0"


def _stop_listening(session: lt.session) -> set[int]:
    """Close the session's listen sockets; returns the ports they had."""
    ports = {int(session.ssl_listen_port()), int(session.listen_port())} - {0}
    session.apply_settings({"listen_interfaces": _NOWHERE})
    return ports


async def close_session(session: lt.session, *, timeout_s: float = 2.0) -> bool:
    """Make ``session`` safe to destroy: not listening, no incoming handshake pending.

    Call it last (after ``pause()``, resume data saved): the session accepts no peer
    afterwards. Returns False if sockets were still open after ``timeout_s`` seconds.
    """
    ports = _stop_listening(session)
    with trio.move_on_after(timeout_s):
        while True:
            quiet = _quiet(ports)
            if quiet is None:
                await trio.sleep(_BLIND_GRACE_S)
                return True
            if quiet:
                return True
            await trio.sleep(_POLL_S)
    return False


def close_session_blocking(session: lt.session, *, timeout_s: float = 2.0) -> bool:
    """`close_session` for code outside trio (blocks the calling thread)."""
    ports = _stop_listening(session)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        quiet = _quiet(ports)
        if quiet is None:
            time.sleep(_BLIND_GRACE_S)
            return True
        if quiet:
            return True
        time.sleep(_POLL_S)
    return False
