"""Parsing and formatting HOST:PORT addresses, IPv4 and IPv6 (pure, no I/O)."""

from __future__ import annotations

import ipaddress

from support.errors import InputError

__all__ = ["HostPort", "format_hostport", "parse_hostport"]

HostPort = tuple[str, int]

def parse_hostport(text: str, *, default_host: str = "127.0.0.1") -> HostPort:
    """Parse ``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` into ``(host, port)``; port 0 allowed."""
    host, sep, port_s = text.rpartition(":")
    if not sep:
        raise InputError(f"invalid address {text!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host or default_host
    try:
        port = int(port_s)
    except ValueError:
        raise InputError(f"invalid port in {text!r}") from None
    if not 0 <= port <= 65535:
        raise InputError(f"invalid port in {text!r}: must be 0-65535")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InputError(f"invalid IPv6 address in {text!r}") from None
    return host, port


def format_hostport(host: str, port: int) -> str:
    """The inverse of `parse_hostport` (brackets around IPv6 hosts)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
