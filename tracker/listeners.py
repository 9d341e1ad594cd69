"""The tracker's listen sockets: every ``--listen`` address, ``::`` meaning both families.

libtorrent announces once per listen socket of a node, over the family of that
socket, so a tracker that should learn a node's IPv4 and IPv6 addresses must be
reachable over both. ``::`` (``--listen [::]:PORT``) binds IPv6 ``::`` and IPv4
``0.0.0.0`` on one port (each with its own socket: trio sets ``IPV6_V6ONLY``, which
also keeps IPv4 peers' addresses plain IPv4 rather than IPv4-mapped).
"""

from __future__ import annotations

import errno

import trio

from tracker.config import TrackerConfig

__all__ = ["DUAL_STACK_HOST", "listen_addresses", "open_listeners"]

DUAL_STACK_HOST = "::"
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
            if host == DUAL_STACK_HOST:
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
