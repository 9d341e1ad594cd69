"""Shape a peer list from the store's random sample: reachability, locality, serial caps (pure).

The store samples members uniformly (`SwarmStore.announce`); this turns them into the
list one requester gets:

- only addresses of the families the requester announced from (it can use them);
- an address known unreachable is never listed; a member with none left is dropped;
- at most ``max_per_owner`` members of one certificate serial (origins exempt);
- origins first, then connectable members, then unknown ones;
- where the requester's network holds enough members, ``local_share`` of the list is
  theirs and the rest from elsewhere (so swarms stay connected); otherwise whatever
  there is, local first.

A member counts once even when it is listed with both an IPv4 and an IPv6 address.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tracker.reachability import Reachability
from tracker.store import NO_OWNER, member_addresses, member_owner

__all__ = ["ListShape", "shape_peer_list"]

_V4 = 6


@dataclass(frozen=True, slots=True)
class ListShape:
    """How lists are shaped (from `SwarmPolicy`)."""

    numwant: int
    max_per_owner: int = 2
    local_share: float = 0.75


def _usable(member: bytes, v4_ok: bool, v6_ok: bool) -> list[bytes]:
    v4, v6 = member_addresses(member)
    out = []
    if v6 is not None and v6_ok:
        out.append(v6)
    if v4 is not None and v4_ok:
        out.append(v4)
    return out


def shape_peer_list(
    requester: bytes,
    origins: Iterable[bytes],
    candidates: Iterable[bytes],
    shape: ListShape,
    class_of: Callable[[bytes], Reachability],
    network_of: Callable[[bytes], str],
) -> tuple[bytes, bytes]:
    """The compact IPv4 (``peers``) and IPv6 (``peers6``) lists for member ``requester``.

    ``candidates`` are members in random order (the store's sample); ``class_of`` and
    ``network_of`` take a compact address.
    """
    own = [a for a in member_addresses(requester) if a is not None]
    v4_ok = any(len(a) == _V4 for a in own)
    v6_ok = any(len(a) != _V4 for a in own)
    home = {network_of(a) for a in own}

    listed: list[list[bytes]] = []
    for member in origins:
        addresses = _usable(member, v4_ok, v6_ok)
        if addresses and member != requester:
            listed.append(addresses)
    room = max(0, shape.numwant - len(listed))

    # (connectable, unknown) x (local, remote), each in the sample's random order
    buckets: tuple[list[list[bytes]], ...] = ([], [], [], [])
    per_owner: dict[bytes, int] = {}
    for member in candidates:
        owner = member_owner(member)
        if owner != NO_OWNER and per_owner.get(owner, 0) >= shape.max_per_owner:
            continue
        addresses = []
        connectable = local = False
        for a in _usable(member, v4_ok, v6_ok):
            cls = class_of(a)
            if cls is Reachability.UNREACHABLE:
                continue
            addresses.append(a)
            connectable = connectable or cls is Reachability.CONNECTABLE
            local = local or network_of(a) in home
        if not addresses:
            continue
        if owner != NO_OWNER:
            per_owner[owner] = per_owner.get(owner, 0) + 1
        if connectable:  # its connectable addresses first
            addresses.sort(key=lambda a: class_of(a) is not Reachability.CONNECTABLE)
        buckets[(0 if connectable else 2) + (0 if local else 1)].append(addresses)

    conn_local, conn_remote, unk_local, unk_remote = buckets
    locals_ = conn_local + unk_local
    remotes = conn_remote + unk_remote
    remote_slots = min(len(remotes), math.ceil(room * (1 - shape.local_share)))
    n_local = min(len(locals_), room - remote_slots)
    n_remote = min(len(remotes), room - n_local)
    picked_local, picked_remote = locals_[:n_local], remotes[:n_remote]
    # the list's order: connectable before unknown, local before remote within each
    c_local = picked_local[: min(n_local, len(conn_local))]
    c_remote = picked_remote[: min(n_remote, len(conn_remote))]
    listed += c_local + c_remote
    listed += picked_local[len(c_local) :] + picked_remote[len(c_remote) :]

    v4_out = bytearray()
    v6_out = bytearray()
    for addresses in listed:
        for a in addresses:
            (v4_out if len(a) == _V4 else v6_out).extend(a)
    return bytes(v4_out), bytes(v6_out)
