"""The customer IPs the tracker classes unreachable, ``GET /unreachable.json`` (pure).

Served on the operator-only metrics listener for the origin seeder, which polls it and
gives these IPs a lower upload priority: a node nobody can connect to still downloads
from the peers it connects out to, so the origin's bytes go first to those that pass
them on. The document::

    {"unreachable": ["IP", ...]}

An IP is listed when at least one of its addresses (any port) is classed unreachable
(its connect-back probe failed, and so did the retry of a first failure) and **none**
of its addresses is connectable or unknown. Several customers behind one carrier-grade
NAT share an IP; while one of them is connectable (or not yet probed, or awaiting its
retry), the IP is not pushed down.

Only addresses known now count: those that announced and have not expired or stopped
(`ReachabilityTable.seen_classes`, what the ``tracker_peer_addresses`` metric counts),
each with the class peer lists use. A probe result of an address that no longer
announces is no evidence about the IP today, so it is not listed.

IPs are spelled canonically (`ipaddress.ip_address`), an IPv4-mapped IPv6 address as
its IPv4 address (and counted with it); sorted by address, IPv4 first. One pass over
the table, then a sort of the IPs listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from ipaddress import ip_address

from tracker.reachability import Reachability

__all__ = ["UNREACHABLE_PATH", "unreachable_document", "unreachable_json"]

UNREACHABLE_PATH = "/unreachable.json"

_MAPPED_PREFIX = bytes(10) + b"\xff\xff"  # ::ffff:a.b.c.d


def _packed_ip(address: bytes) -> bytes:
    """The IP of a compact address (IP bytes + 2-byte port), an IPv4-mapped one as IPv4."""
    ip = address[:-2]
    if len(ip) == 16 and ip.startswith(_MAPPED_PREFIX):
        return ip[12:]
    return ip


def unreachable_document(
    seen: Iterable[tuple[bytes, Reachability]],
) -> dict[str, list[str]]:
    """The document as a JSON-ready mapping; ``seen``: (compact address, class) of every
    address known now (`ReachabilityTable.seen_classes`)."""
    listed: dict[bytes, bool] = {}  # IP -> no address of it is connectable or unknown
    unreachable = Reachability.UNREACHABLE
    for address, cls in seen:
        ip = _packed_ip(address)
        if cls is unreachable:
            listed.setdefault(ip, True)
        else:
            listed[ip] = False
    ips = sorted((ip for ip, keep in listed.items() if keep), key=lambda ip: (len(ip), ip))
    return {"unreachable": [str(ip_address(ip)) for ip in ips]}


def unreachable_json(seen: Iterable[tuple[bytes, Reachability]]) -> bytes:
    """`unreachable_document` as UTF-8 JSON."""
    return json.dumps(unreachable_document(seen)).encode() + b"\n"
