"""The operator's member listing, ``GET /members.json`` on the metrics listener (pure).

Per film, every rental member of its swarms (origins left out) with its addresses, its
reachability class and its network::

    {"films": {FILM_ID: [{"addresses": ["IP", ...],
                          "reachability": "connectable" | "unreachable" | "unknown",
                          "network": NAME, "host": BOOL}, ...]}}

No serials, no peer ids, no ports: it says which customer address the tracker sees how,
so a simulation can class its clients at the end of a run. It is served only where the
metrics are (an operator-only listener), never on the announce port.

A member's class: connectable if one of its addresses is; else unknown if one is (a
first failed probe awaiting its retry is unknown too); else unreachable. Its network is
that of its IPv4 address, else of its IPv6 one (`tracker.locality`). ``host`` is true for
a member admitted with a hosting credential (`tracker.hosting`): it carries the film's
ciphertext for pre-positioning and rents nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Set
from ipaddress import ip_address

from tracker.locality import NetworkMap
from tracker.reachability import Reachability
from tracker.store import member_addresses
from tracker.swarm import Swarms

__all__ = ["MEMBERS_PATH", "members_document", "members_json"]

MEMBERS_PATH = "/members.json"


def _member_class(addresses: list[bytes], classes: Mapping[bytes, Reachability]) -> Reachability:
    found = [classes.get(a, Reachability.UNKNOWN) for a in addresses]
    if Reachability.CONNECTABLE in found:
        return Reachability.CONNECTABLE
    if Reachability.UNKNOWN in found:
        return Reachability.UNKNOWN
    return Reachability.UNREACHABLE


def members_document(
    swarms: Swarms, catalog: Mapping[bytes, str], now: float,
    hosts: Set[bytes] = frozenset(),
) -> dict[str, dict[str, list[dict[str, object]]]]:
    """The listing as a JSON-ready mapping (films by id; an unknown info-hash by its hex);
    ``hosts``: the compact addresses of hosts (`HostLedger.addresses`)."""
    classes = swarms.reachability.classes
    networks: NetworkMap = swarms.networks
    films: dict[str, list[dict[str, object]]] = {}
    seen: dict[str, set[tuple[bytes, ...]]] = {}
    for info_hash, members in swarms.members(now):
        film = catalog.get(info_hash, info_hash.hex())
        listed = films.setdefault(film, [])
        known = seen.setdefault(film, set())
        for member in members:
            addresses = [a for a in member_addresses(member) if a is not None]
            key = tuple(addresses)  # with ports: nodes behind one NAT share an IP
            if not key or key in known:  # a node announcing under two info-hashes
                continue
            known.add(key)
            listed.append({
                "addresses": [str(ip_address(a[:-2])) for a in addresses],
                "reachability": _member_class(addresses, classes).value,
                "network": networks.name_of(addresses[0]),
                "host": any(a in hosts for a in addresses),
            })
    return {"films": films}


def members_json(
    swarms: Swarms, catalog: Mapping[bytes, str], now: float, hosts: Set[bytes] = frozenset()
) -> bytes:
    """`members_document` as UTF-8 JSON."""
    document = members_document(swarms, catalog, now, hosts)
    return json.dumps(document, sort_keys=True).encode() + b"\n"
