"""A customer node's listen port, kept across restarts.

A port that stays the same lets the router's mapping, the tracker's peer
lists and peers' address books stay right after a restart. It is chosen
free at the first start and written to a small file in the node's state
(``<save dir>/.peernode/listen-port``, or the daemon's state dir); if it is
taken at a later start, another is chosen and remembered.

A dual-stack node listens on the same port on every interface, IPv4 and IPv6
(libtorrent gives port-0 sockets a different port on each interface), so a
port only counts as free when TCP and UDP are free on both ``0.0.0.0`` and
``::``.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from support.atomic_write import write_atomic

__all__ = [
    "choose_listen_port",
    "free_dual_stack_port",
    "port_is_free",
    "remember_listen_port",
    "remembered_listen_port",
]

_WILDCARDS = ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::"))


def port_is_free(port: int) -> bool:
    """True if TCP and UDP ``port`` can be bound on all IPv4 and IPv6 interfaces."""
    held: list[socket.socket] = []
    try:
        for family, host in _WILDCARDS:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(family, kind)
                held.append(s)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((host, port))
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            return False
        if e.errno == errno.EAFNOSUPPORT:  # a host without IPv6: IPv4 decides
            return True
        raise
    finally:
        for s in held:
            s.close()
    return True


def free_dual_stack_port(attempts: int = 50) -> int:
    """A port free on every interface (TCP and UDP, IPv4 and IPv6); `OSError` if none."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("0.0.0.0", 0))
            port = int(s.getsockname()[1])
        if port_is_free(port):
            return port
    raise OSError(errno.EADDRINUSE, "no port is free on both IPv4 and IPv6")


def remembered_listen_port(path: Path) -> int:
    """The port saved at ``path`` (0 if none or unreadable)."""
    try:
        port = int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return 0
    return port if 0 < port < 65536 else 0


def remember_listen_port(path: Path, port: int) -> None:
    """Save ``port`` at ``path`` (atomically; the folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, f"{port}\n".encode())


def choose_listen_port(path: Path) -> int:
    """The remembered port if it is still free, else a new free one (not yet saved)."""
    port = remembered_listen_port(path)
    if port and port_is_free(port):
        return port
    return free_dual_stack_port()
