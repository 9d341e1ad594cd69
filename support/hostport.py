"""Parsing of the command line's HOST:PORT and RATE values (pure, no I/O)."""

from __future__ import annotations

import ipaddress
import re

from support.errors import InputError

__all__ = ["HostPort", "format_hostport", "parse_hostport", "parse_rate"]

HostPort = tuple[str, int]

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?[bB](?:/s)?)?\s*$")
_MULT = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3}


def parse_rate(text: str) -> int:
    """Parse a rate in bytes/s: ``"500000"``, ``"500K"``, ``"4M"``, ``"1G"`` (decimal units).

    ``0`` means unlimited. Raises `InputError` for anything else.
    """
    m = _RATE.match(text)
    if not m:
        raise InputError(f"invalid rate {text!r}: use bytes/s or a suffix, e.g. 500K, 4M, 1G")
    return int(float(m.group(1)) * _MULT[m.group(2).lower()])


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
