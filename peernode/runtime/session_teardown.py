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
It waits until no such socket is left. The sockets are found in ``/proc/self/net/tcp``
and ``tcp6`` (Linux); elsewhere it only stops listening and waits a short grace period.
Incoming uTP connections (``transport="utp"``/``"both"``, off by default) are not TCP
sockets and cannot be shut down from here.

The parsing is pure (`accepted_inodes`); `close_session` is the trio shell and
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
    "parse_proc_net_tcp",
]

_PROC_NET = (Path("/proc/self/net/tcp"), Path("/proc/self/net/tcp6"))
_PROC_FD = Path("/proc/self/fd")
_TCP_LISTEN = 0x0A  # the "st" column of /proc/net/tcp
_POLL_S = 0.02
# Without /proc: time for the network thread to close its listen sockets and see
# the end of connections whose peers already left (a probe, a closed node).
_BLIND_GRACE_S = 0.3


@dataclass(frozen=True, slots=True)
class TcpSocket:
    """One row of /proc/net/tcp{,6}: the local port, whether it listens, its inode."""

    local_port: int
    listening: bool
    inode: int


def parse_proc_net_tcp(text: str) -> list[TcpSocket]:
    """The rows of a /proc/net/tcp or tcp6 table (the header line is skipped)."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        _address, _, port = fields[1].rpartition(":")
        rows.append(TcpSocket(int(port, 16), int(fields[3], 16) == _TCP_LISTEN,
                              int(fields[9])))
    return rows


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


def _socket_fds() -> dict[int, int] | None:
    """inode -> descriptor of this process's sockets; None without /proc."""
    try:
        names = os.listdir(_PROC_FD)
    except OSError:
        return None
    fds: dict[int, int] = {}
    for name in names:
        with contextlib.suppress(OSError, ValueError):
            target = os.readlink(_PROC_FD / name)
            if target.startswith("socket:["):
                fds[int(target[len("socket:["):-1])] = int(name)
    return fds


def _tcp_rows() -> list[TcpSocket] | None:
    rows: list[TcpSocket] = []
    for path in _PROC_NET:
        try:
            rows += parse_proc_net_tcp(path.read_text())
        except FileNotFoundError:
            continue  # no IPv6 in this kernel
        except OSError:
            return None
    return rows


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
    rows = _tcp_rows()
    if rows is None:
        return None
    listening, inodes = accepted_inodes(rows, ports)
    if not inodes:
        return not listening
    fds = _socket_fds()
    if fds is None:
        return None
    mine = [fds[inode] for inode in inodes if inode in fds]
    for fd in mine:
        _shut_down(fd)
    # A socket of another process may share the port (SO_REUSEPORT): not ours to wait for.
    return not listening and not mine


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
