"""The tracker's listen sockets: every ``--listen`` address, ``::`` meaning both families.

libtorrent announces once per listen socket of a node, over the family of that
socket, so a tracker that should learn a node's IPv4 and IPv6 addresses must be
reachable over both. ``::`` (``--listen [::]:PORT``) binds IPv6 ``::`` and IPv4
``0.0.0.0`` on one port (each with its own socket: trio sets ``IPV6_V6ONLY``, which
also keeps IPv4 peers' addresses plain IPv4 rather than IPv4-mapped).

With ``reuse_port`` (`tracker.workers`), every socket is bound with ``SO_REUSEPORT``:
several tracker processes then listen on the same ports and the kernel spreads new
connections over them.
"""

from __future__ import annotations

import errno
import socket

import trio

from tracker.config import TrackerConfig

__all__ = [
    "DUAL_STACK_HOST",
    "listen_addresses",
    "open_listeners",
    "reuse_port_addresses",
    "reuse_port_socket",
]

DUAL_STACK_HOST = "::"
_BACKLOG = 4096  # trio's default (the kernel caps it at somaxconn)
_FREE_PORT_TRIES = 8
"""Port 0 on the dual-stack host: how many IPv6-chosen ports are tried for IPv4 too."""


def listen_addresses(config: TrackerConfig) -> list[tuple[str, int]]:
    """Every (host, port) the configuration asks to serve on, the first one first."""
    return [(config.listen_host, config.listen_port), *config.more_listen]


async def open_listeners(config: TrackerConfig) -> list[trio.SocketListener]:
    """Bind every listen address; raises `OSError` if one cannot be bound.

    Port 0 on the dual-stack host picks one free port for both families.
    """
    listeners: list[trio.SocketListener] = []
    try:
        for host, port in listen_addresses(config):
            if config.reuse_port:
                listeners += await _open_reuse_port(host, port)
            elif host == DUAL_STACK_HOST:
                listeners += await _open_dual_stack(port)
            else:
                listeners += await trio.open_tcp_listeners(port, host=host)
    except BaseException:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
        raise
    return listeners


async def _open_dual_stack(port: int) -> list[trio.SocketListener]:
    """IPv6 ``::`` and IPv4 ``0.0.0.0`` on one port. With port 0 the port IPv6 chose
    may be taken on IPv4 by another program: then another one is chosen (a few times)."""
    for attempt in range(1, _FREE_PORT_TRIES + 1):
        (v6,) = await trio.open_tcp_listeners(port, host=DUAL_STACK_HOST)
        try:
            v4 = await trio.open_tcp_listeners(v6.socket.getsockname()[1], host="0.0.0.0")
        except OSError as e:
            await trio.aclose_forcefully(v6)
            if port != 0 or e.errno != errno.EADDRINUSE or attempt == _FREE_PORT_TRIES:
                raise
            continue
        except BaseException:
            await trio.aclose_forcefully(v6)
            raise
        return [v6, *v4]
    raise AssertionError("unreachable")  # the last attempt returns or raises


def reuse_port_socket(family: int, address: tuple[str, int]) -> socket.socket:
    """A TCP socket bound to ``address`` with ``SO_REUSEPORT`` (and ``IPV6_V6ONLY``
    for IPv6), not yet listening; raises `OSError`."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def reuse_port_addresses(host: str, port: int) -> list[tuple[int, tuple[str, int]]]:
    """(family, address) of every socket ``host`` means (``::``: IPv6 and IPv4)."""
    if host == DUAL_STACK_HOST:
        return [(socket.AF_INET6, ("::", port)), (socket.AF_INET, ("0.0.0.0", port))]
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    found: dict[tuple[int, tuple[str, int]], None] = {}
    for family, _, _, _, sa in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            found[(family, (str(sa[0]), int(sa[1])))] = None
    return list(found)


async def _open_reuse_port(host: str, port: int) -> list[trio.SocketListener]:
    """Listeners with ``SO_REUSEPORT`` on every address of ``host``; port 0 picks one
    port (the first address's) for all of them."""
    listeners: list[trio.SocketListener] = []
    try:
        for family, (addr, p) in reuse_port_addresses(host, port):
            chosen = listeners[0].socket.getsockname()[1] if listeners and not p else p
            sock = reuse_port_socket(family, (addr, chosen))
            sock.listen(_BACKLOG)
            listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
    except BaseException:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
        raise
    return listeners
