"""Typed events of the whole session, not of one torrent (pure: no libtorrent, no trio).

Port mapping and the external address concern the node's listen socket, so they carry
no film id; `peernode.runtime.port_mapping` reduces them to the outcome the node reports.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExternalAddressLearned", "PortMapFailed", "PortMapped", "SessionEvent"]


@dataclass(frozen=True, slots=True)
class PortMapped:
    """The router forwards ``external_port`` to the node.

    ``protocol`` is "upnp" or "natpmp", ``transport`` "tcp" or "udp".
    """

    protocol: str
    transport: str
    external_port: int


@dataclass(frozen=True, slots=True)
class PortMapFailed:
    """A router refused (or a protocol gave up on) the port mapping."""

    protocol: str
    message: str


@dataclass(frozen=True, slots=True)
class ExternalAddressLearned:
    """The node's public address as a router (or peers) reported it."""

    address: str


SessionEvent = PortMapped | PortMapFailed | ExternalAddressLearned
