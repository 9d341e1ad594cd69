"""Customers the tracker found unreachable take the origin's bytes last (pure).

A customer behind NAT without port mapping accepts no connections: it reaches only
the connectable peers it dials, so it has spare download rate and, served like
everyone else, fills it from the origin (measured in the home-router swarm: the
quarter of homes behind plain NAT took almost half of the origin's bytes). Every byte
the origin sends to a customer that cannot pass it on to anyone who did not dial it
is a byte the CDN bills that the swarm would have carried. So the origin gives them
the lowest upload priority: while its cap is contested, a connectable customer gets
`REACHABLE_PRIORITY` times the rate of an unreachable one; when no one else wants the
bytes, the unreachable customers get them all (it is a priority, not a limit).

The origin learns who is unreachable from the tracker (``GET /unreachable.json`` on its
operator-only metrics listener: the IPs whose every announced address failed the
connect-back probe). libtorrent assigns a connection's peer classes when it is made, by
the session's peer class filter (by remote IP), and never again; so the filter names
every IP but the unreachable ones into a *reachable* class of higher upload priority
(a peer's priority is the highest of its classes), and a customer whose class changed
is disconnected once: it reconnects (the node's `min_reconnect_time` is 2 s) under its
new class.

libtorrent's rate limits apply to the *global* class only: with ``limit_local_peers``
off, loopback and private ranges stay in the *local* class, unlimited, where a
priority does nothing, and the ranges below leave them so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

__all__ = [
    "LOCAL_RANGES",
    "REACHABLE_PRIORITY",
    "UNREACHABLE_PATH",
    "ClassRule",
    "ReachabilityChange",
    "class_rules",
    "parse_unreachable",
    "reachability_change",
]

UNREACHABLE_PATH = "/unreachable.json"
"""Where the tracker's metrics listener lists the IPs it found unreachable."""

REACHABLE_PRIORITY = 10
"""The reachable class's upload priority (libtorrent's default, and the unreachable
customers', is 1; priorities weigh each queued peer's share of the rate limit)."""

LOCAL_RANGES: tuple[tuple[str, str], ...] = (
    ("10.0.0.0", "10.255.255.255"),
    ("172.16.0.0", "172.31.255.255"),
    ("192.168.0.0", "192.168.255.255"),
    ("169.254.0.0", "169.254.255.255"),
    ("127.0.0.0", "127.255.255.255"),
    ("fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("::1", "::1"),
)
"""libtorrent's default *local* class ranges (its session_impl), exempt from limits."""

_ALL = (("0.0.0.0", "255.255.255.255"), ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
_MAX_IPS = 1_000_000


@dataclass(frozen=True, slots=True)
class ClassRule:
    """One peer class filter rule: addresses ``first``..``last`` belong to the classes
    named (``global``, ``local``, ``reachable``); a later rule wins where they overlap."""

    first: str
    last: str
    classes: frozenset[str]


def _in_local_range(ip: str) -> bool:
    address = ip_address(ip)
    return any(
        type(address) is type(ip_address(first))
        and ip_address(first) <= address <= ip_address(last)  # type: ignore[operator]
        for first, last in LOCAL_RANGES
    )


def class_rules(unreachable: Iterable[str], *, limit_local_peers: bool) -> list[ClassRule]:
    """The origin's peer class filter: every address in ``global`` and ``reachable``
    (private and loopback ranges ``local`` only, unless ``limit_local_peers``), and each
    IP of ``unreachable`` in ``global`` alone (where it is limited at all)."""
    limited = frozenset({"global", "reachable"})
    rules = [ClassRule(first, last, limited) for first, last in _ALL]
    if not limit_local_peers:
        rules += [ClassRule(first, last, frozenset({"local"})) for first, last in LOCAL_RANGES]
    for ip in sorted(unreachable):
        if limit_local_peers or not _in_local_range(ip):
            rules.append(ClassRule(ip, ip, frozenset({"global"})))
    return rules


def _canonical(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        address: IPv4Address | IPv6Address = ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def parse_unreachable(body: bytes) -> frozenset[str]:
    """The IPs of the tracker's ``/unreachable.json`` (``{"unreachable": [IP, ...]}``),
    in one spelling (an IPv4-mapped IPv6 address as IPv4). Raises `ValueError` (with a
    one-line message) for a body that is not that document."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"not JSON: {e}") from None
    listed = document.get("unreachable") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        raise ValueError('not {"unreachable": [IP, ...]}')  # noqa: TRY004 (a bad body)
    if len(listed) > _MAX_IPS:
        raise ValueError(f"more than {_MAX_IPS} IPs")
    ips = {_canonical(item) for item in listed}
    if None in ips:
        raise ValueError("an entry is not an IP address")
    return frozenset(ip for ip in ips if ip is not None)


@dataclass(frozen=True, slots=True)
class ReachabilityChange:
    """What one reading of the tracker changes at the origin."""

    unreachable: frozenset[str]
    """The IPs now served last."""
    reconnect: frozenset[str]
    """Connected IPs whose class changed: their connections are remade once."""


def reachability_change(
    before: frozenset[str], now: frozenset[str], connected: Iterable[str]
) -> ReachabilityChange | None:
    """The change from ``before`` to ``now`` (None if there is none); ``connected``: the
    remote IPs of the origin's connections (only theirs need remaking)."""
    if now == before:
        return None
    moved = before ^ now
    return ReachabilityChange(
        now, frozenset(c for ip in connected if (c := _canonical(ip)) is not None and c in moved)
    )
