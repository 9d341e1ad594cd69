"""The tracker's listen sockets: every ``--listen`` address, ``::`` meaning both families.

libtorrent announces once per listen socket of a node, over the family of that
socket, so a tracker that should learn a node's IPv4 and IPv6 addresses must be
reachable over both. ``::`` (``--listen [::]:PORT``) binds IPv6 ``::`` and IPv4
``0.0.0.0`` on one port (each with its own socket: trio sets ``IPV6_V6ONLY``, which
also keeps IPv4 peers' addresses plain IPv4 rather than IPv4-mapped).
"""

from __future__ import annotations

import trio

from tracker.config import TrackerConfig

__all__ = ["DUAL_STACK_HOST", "listen_addresses", "open_listeners"]

DUAL_STACK_HOST = "::"


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
                (v6,) = await trio.open_tcp_listeners(port, host=DUAL_STACK_HOST)
                chosen = v6.socket.getsockname()[1]
                listeners.append(v6)
                listeners += await trio.open_tcp_listeners(chosen, host="0.0.0.0")
            else:
                listeners += await trio.open_tcp_listeners(port, host=host)
    except BaseException:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
        raise
    return listeners
