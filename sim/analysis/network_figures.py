"""Figures of a home-network run by router kind and by ISP (pure, tested on synthetic input).

Inputs are what a run observed and nothing else: each client's outcome and final
``fetch --json`` summary (``port_mapping``; ``received_by_peer``, the bytes it received
from each remote address, the origin's flagged), the tracker's class of each address
(``reachability``), the addresses a client is seen under (a NATed client appears as its
router's WAN address: ``seen_as``) and, where the backend has them, the origin's own
per-peer counts. A figure whose input was not measured is None ("not measured"), never
a guess.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from sim.analysis.figures import offload, percentile_of_all
from sim.analysis.outcomes import ClientOutcome, Fate
from sim.scenario.homes import HomeKind, HomePlan
from sim.scenario.plan import SwarmPlan

__all__ = [
    "ORIGIN",
    "UNKNOWN",
    "KindFigures",
    "NetworkFigures",
    "PeerBytes",
    "network_figures",
    "normal_address",
    "received_by_peer",
]

ORIGIN = "origin"
"""The connectivity matrix's column for bytes received from the origin."""
UNKNOWN = "unknown"
"""... and for bytes from an address that is no client of the plan nor the origin."""
CONNECTABLE = "connectable"
"""The tracker's class of an address that accepted its connect-back probe."""


@dataclass(frozen=True)
class PeerBytes:
    """Bytes a client received from one remote address (a ``received_by_peer`` entry)."""

    address: str
    bytes: int
    origin: bool


@dataclass(frozen=True)
class KindFigures:
    """One router kind's clients; shares are 0..1, None when not measured."""

    clients: int
    """Clients of this kind meant to complete (no churners, no killed)."""
    completed: int
    completion_p95_from_arrival_s: float | None
    """Over the kind's clients meant to complete; None: not reached."""
    offload_measured: float | None
    """1 - origin bytes / bytes delivered to this kind, the origin bytes measured (at the
    origin per peer, else by the clients per connection: `NetworkFigures.offload_by`)."""
    bytes_from_peers: int
    bytes_from_origin: int
    uploaded: int
    connectable_share: float | None
    """Share of the kind's clients the tracker classed connectable under any address."""
    port_mapped_share: float | None
    """Share of those reporting a ``port_mapping`` outcome that mapped their port."""


@dataclass(frozen=True)
class NetworkFigures:
    """A home-network run by kind, by ISP, and who sent bytes to whom."""

    by_kind: dict[str, KindFigures]
    """Router kind -> its figures, for each kind the plan has, in `HomeKind` order."""
    cross_isp_share: float | None
    """Peer bytes received from a client of another ISP / peer bytes from clients of any
    ISP; None without per-peer counts."""
    peer_bytes_within_isp: int | None
    peer_bytes_across_isp: int | None
    peer_bytes_unmatched: int | None
    """Bytes received from addresses that are neither a client nor the origin."""
    connectivity: dict[str, dict[str, int]] | None
    """Receiver kind -> sender kind (or ``origin``, ``unknown``) -> bytes received."""
    clients_with_peer_counts: int
    """Clients whose summary carried ``received_by_peer`` (the matrix covers these)."""
    offload_by: str | None
    """Where the per-kind offload's origin bytes were counted: ``origin`` (the origin's
    own per-peer counters), ``clients`` (the receivers' per-connection counts), or None."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def normal_address(address: str) -> str:
    """One spelling of an address: no brackets or zone, IPv4-mapped IPv6 as IPv4,
    compressed IPv6; anything that is no IP address is returned as given."""
    text = address.strip().removeprefix("[").removesuffix("]").split("%")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def received_by_peer(summary: Mapping[str, object] | None) -> list[PeerBytes] | None:
    """The ``received_by_peer`` entries of a client's summary; None when it has none (not
    measured). Malformed entries are left out."""
    raw = summary.get("received_by_peer") if summary is not None else None
    if not isinstance(raw, list):
        return None
    entries = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        address, count, origin = item.get("address"), item.get("bytes"), item.get("origin")
        if (isinstance(address, str) and isinstance(count, int)
                and not isinstance(count, bool) and count >= 0):
            entries.append(PeerBytes(normal_address(address), count, origin is True))
    return entries


def _port_mapped(summary: Mapping[str, object] | None) -> bool | None:
    """Whether the client mapped its port; None when its summary says nothing."""
    outcome = summary.get("port_mapping") if summary is not None else None
    if not isinstance(outcome, Mapping):
        return None
    return "error" not in outcome and bool(outcome.get("protocol"))


def _share(hits: Iterable[bool | None]) -> float | None:
    known = [h for h in hits if h is not None]
    return sum(known) / len(known) if known else None


@dataclass
class _Flows:
    """Who sent what to whom, from the clients' per-peer counts."""

    connectivity: dict[str, dict[str, int]]
    within: int = 0
    across: int = 0
    unmatched: int = 0


def _flows(kinds: Sequence[HomeKind], homes: Mapping[str, HomePlan],
           measured: Mapping[str, list[PeerBytes]], who: Mapping[str, str]) -> _Flows:
    columns = [k.value for k in kinds] + [ORIGIN]
    flows = _Flows({k.value: dict.fromkeys(columns, 0) for k in kinds})
    for name, entries in measured.items():
        if name not in homes:
            continue
        row = flows.connectivity[homes[name].kind.value]
        for e in entries:
            sender = who.get(e.address)
            if e.origin:
                row[ORIGIN] += e.bytes
            elif sender is None or sender not in homes:
                row[UNKNOWN] = row.get(UNKNOWN, 0) + e.bytes
                flows.unmatched += e.bytes
            else:
                row[homes[sender].kind.value] += e.bytes
                if homes[sender].isp == homes[name].isp:
                    flows.within += e.bytes
                else:
                    flows.across += e.bytes
    return flows


def _kind_offload(members: Sequence[ClientOutcome], origin_to: Mapping[str, int] | None,
                  measured: Mapping[str, list[PeerBytes]]) -> float | None:
    """The kind's offload with origin bytes counted at the origin (``origin_to``: client
    name -> bytes), else by its clients per connection, else None."""
    if origin_to is not None:
        delivered = sum(o.bytes_from_origin + o.bytes_from_peers for o in members)
        return offload(sum(origin_to.get(o.name, 0) for o in members), delivered)
    counted = [e for o in members for e in measured.get(o.name, ())]
    total = sum(e.bytes for e in counted)
    return offload(sum(e.bytes for e in counted if e.origin), total) if total else None


def network_figures(
    plan: SwarmPlan,
    outcomes: Sequence[ClientOutcome],
    summaries: Mapping[str, Mapping[str, object] | None],
    *,
    reachability: Mapping[str, str] | None = None,
    seen_as: Mapping[str, str] | None = None,
    origin_sent_by_address: Mapping[str, int] | None = None,
) -> NetworkFigures | None:
    """The run's figures by router kind and ISP; None for a plan without homes.

    ``summaries``: client name -> final summary (None if it printed none). An address maps
    to a client by the plan's client addresses and ``seen_as`` (seen address -> client
    name, winning over the plan). A client is connectable if any of its addresses is
    classed ``connectable`` in ``reachability``; without ``reachability`` the shares are
    None. ``origin_sent_by_address``: the origin's own bytes per peer address, preferred
    for the per-kind offload over the clients' per-connection counts.
    """
    homes = {c.name: c.home for c in plan.clients if c.home is not None}
    if not homes:
        return None
    names = {c.name for c in plan.clients}
    who = {normal_address(c.address): c.name for c in plan.clients}
    who.update({normal_address(a): n for a, n in (seen_as or {}).items() if n in names})
    addresses: dict[str, set[str]] = {name: set() for name in names}
    for address, name in who.items():
        addresses[name].add(address)
    connectable = None if reachability is None else {
        normal_address(a) for a, c in reachability.items() if c == CONNECTABLE}

    received = {name: received_by_peer(summaries.get(name)) for name in sorted(names)}
    measured = {name: entries for name, entries in received.items() if entries is not None}
    kinds = [k for k in HomeKind if k in {h.kind for h in homes.values()}]
    flows = _flows(kinds, homes, measured, who) if measured else None

    origin_to: dict[str, int] | None = None
    if origin_sent_by_address is not None:
        origin_to = {}
        for address, count in origin_sent_by_address.items():
            receiver = who.get(normal_address(address))
            if receiver is not None:
                origin_to[receiver] = origin_to.get(receiver, 0) + count

    by_kind = {}
    for kind in kinds:
        members = [o for o in outcomes if o.name in homes and homes[o.name].kind is kind]
        meant = [o for o in members if o.fate.meant_to_complete]
        done = [o.completion_from_arrival_s for o in meant
                if o.completion_from_arrival_s is not None]
        by_kind[kind.value] = KindFigures(
            clients=len(meant),
            completed=sum(o.fate is Fate.COMPLETE for o in members),
            completion_p95_from_arrival_s=percentile_of_all(
                done, sum(o.fate is not Fate.COMPLETE for o in meant), 95),
            offload_measured=_kind_offload(members, origin_to, measured),
            bytes_from_peers=sum(o.bytes_from_peers for o in members),
            bytes_from_origin=sum(o.bytes_from_origin for o in members),
            uploaded=sum(o.bytes_uploaded for o in members),
            connectable_share=None if connectable is None else _share(
                bool(addresses[o.name] & connectable) for o in members),
            port_mapped_share=_share(_port_mapped(summaries.get(o.name)) for o in members),
        )
    peer_total = flows.within + flows.across if flows is not None else 0
    return NetworkFigures(
        by_kind=by_kind,
        cross_isp_share=flows.across / peer_total if flows is not None and peer_total else None,
        peer_bytes_within_isp=flows.within if flows is not None else None,
        peer_bytes_across_isp=flows.across if flows is not None else None,
        peer_bytes_unmatched=flows.unmatched if flows is not None else None,
        connectivity=flows.connectivity if flows is not None else None,
        clients_with_peer_counts=len(measured),
        offload_by=ORIGIN if origin_to is not None else "clients" if measured else None,
    )
