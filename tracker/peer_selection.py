"""Shape a peer list from the store's random sample: reachability, locality, serial caps (pure).

The store samples members uniformly (`SwarmStore.announce`); this turns them into the
list one requester gets:

- only addresses of the families the requester announced from (it can use them);
- an address known unreachable is never listed; a member with none left is dropped;
- at most ``max_per_owner`` members of one certificate serial (origins exempt);
- origins first, then connectable members, then unknown ones;
- where the requester's network holds enough members, ``local_share`` of the list is
  theirs and the rest from elsewhere (so swarms stay connected), and once it gives the
  list ``local_enough`` members, at most ``max_remote`` from elsewhere (a requester not
  known connectable gets remote connectable members beyond them until
  ``min_connectable`` of its list are: it can reach no one else; and only ``remote_share``
  of requesters get those remote members at all, the same ones each time, so that fewer
  connections cross between networks while every network keeps some); otherwise whatever
  there is, local first. Under that cap the remote members come in a stable order per
  requester (a keyed hash of their addresses): a member that announces again is handed
  the same few, not a new few each time (libtorrent keeps every peer it was handed). With
  ``locality`` off (comparison runs) the network plays no part: members come in the
  sample's random order within each class.

A member counts once even when it is listed with both an IPv4 and an IPv6 address. The
result says how many listed members share the requester's network and how many do not
(with locality off too, so runs with and without it compare).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tracker.locality import NetworkMap
from tracker.reachability import Reachability
from tracker.store import MEMBER_BYTES, NO_OWNER, OWNER_BYTES, member_addresses

__all__ = ["ListShape", "PeerList", "shape_peer_list"]

_V4 = 6
_V6_AT = OWNER_BYTES + _V4
_EMPTY_V4, _EMPTY_V6 = bytes(_V4), bytes(18)


@dataclass(frozen=True, slots=True)
class ListShape:
    """How lists are shaped (from `SwarmPolicy`)."""

    numwant: int
    max_per_owner: int = 2
    local_share: float = 0.75
    locality: bool = True
    """False: blind to networks (only reachability orders the list)."""
    max_remote: int | None = None
    """Members of other networks in a list, at most, once the requester's network gives
    it ``local_enough`` members; None: only ``local_share`` bounds them."""
    local_enough: int = 0
    """With ``max_remote``: fewer members of its own network than this, and the list is
    filled from elsewhere as ``local_share`` allows."""
    min_connectable: int = 0
    """With ``max_remote``: a requester not known connectable gets remote connectable
    members until this many of its list are connectable."""
    remote_share: float = 1.0
    """With ``max_remote``: the share of requesters (chosen by a hash of their addresses,
    so always the same ones) that get ``max_remote`` members from elsewhere once their
    network gives ``local_enough``; the others get none beyond ``min_connectable``."""


@dataclass(frozen=True, slots=True)
class PeerList:
    """One requester's list: compact ``peers`` and ``peers6``, and its members by network."""

    peers: bytes
    peers6: bytes
    same_network: int = 0
    """Listed members (origins included) on the requester's network."""
    other_network: int = 0
    """Listed members on another network."""
    connectable: int = 0
    """Listed members (origins aside) known to accept connections."""


def _usable(member: bytes, v4_ok: bool, v6_ok: bool) -> list[bytes]:
    v4, v6 = member_addresses(member)
    out = []
    if v6 is not None and v6_ok:
        out.append(v6)
    if v4 is not None and v4_ok:
        out.append(v4)
    return out


def _links_out(requester: bytes, share: float) -> bool:
    """Whether ``requester`` is one of the ``share`` of members given peers from other
    networks (the same answer at every announce: a hash of its addresses)."""
    if share >= 1.0:
        return True
    digest = hashlib.blake2b(requester[OWNER_BYTES:], digest_size=2).digest()
    return int.from_bytes(digest, "big") < share * 65536


def shape_peer_list(
    requester: bytes,
    origins: Iterable[bytes],
    candidates: Iterable[bytes],
    shape: ListShape,
    classes: Mapping[bytes, Reachability],
    networks: NetworkMap,
) -> PeerList:
    """The compact IPv4 (``peers``) and IPv6 (``peers6``) lists for member ``requester``.

    ``candidates`` are members in random order (the store's sample); ``classes`` maps
    a compact address to its class (absent: unknown); ``networks`` says which
    addresses share a network.
    """
    own = [a for a in member_addresses(requester) if a is not None]
    v4_ok = any(len(a) == _V4 for a in own)
    v6_ok = any(len(a) != _V4 for a in own)
    prefixes = networks.byte_prefixes()
    if prefixes is not None:  # the network is the leading bytes: compare those
        homes = {a[: prefixes[len(a) != _V4]] for a in own}
        # an IPv4 prefix never equals an IPv6 one of another length; of the same length
        # (/48 and a 6-byte IPv4 key, impossible: at most 4 bytes) it could not match
        key_v4, key_v6 = prefixes
    else:
        names = {networks.name_of(a) for a in own}

    def is_local(address: bytes) -> bool:
        if prefixes is None:
            return networks.name_of(address) in names
        return address[: prefixes[len(address) != _V4]] in homes

    # each entry: the member's usable addresses, and whether it is on our network
    listed: list[tuple[list[bytes], bool]] = []
    for member in origins:
        addresses = _usable(member, v4_ok, v6_ok)
        if addresses and member != requester:
            listed.append((addresses, any(is_local(a) for a in addresses)))
    room = max(0, shape.numwant - len(listed))

    # (connectable, unknown) x (local, remote), each in the sample's random order (blind
    # to networks: everything in the "remote" buckets); this loop runs for every sampled
    # member of every announce, so it is kept flat
    buckets: tuple[list[tuple[list[bytes], bool]], ...] = ([], [], [], [])
    per_owner: dict[bytes, int] = {}
    cap = shape.max_per_owner
    locality = shape.locality
    remote_slots = math.ceil(room * (1 - shape.local_share)) if locality else room
    capped = locality and shape.max_remote is not None
    if capped:
        remote_slots = min(remote_slots, shape.max_remote or 0)
    enough_local = room - remote_slots
    conn_local_n = conn_remote_n = 0
    unreachable, connectable = Reachability.UNREACHABLE, Reachability.CONNECTABLE
    class_get = classes.get
    # which slices of a member to look at: (start, end, empty slot, network key bytes)
    slots: list[tuple[int, int, bytes, int | None]] = []
    if v6_ok:
        slots.append((_V6_AT, MEMBER_BYTES, _EMPTY_V6, None if prefixes is None else key_v6))
    if v4_ok:
        slots.append((OWNER_BYTES, _V6_AT, _EMPTY_V4, None if prefixes is None else key_v4))
    for member in candidates:
        addresses = []
        is_connectable = local = False
        for start, end, empty, key in slots:
            a = member[start:end]
            if a == empty:
                continue
            cls = class_get(a)
            if cls is unreachable:
                continue
            if cls is connectable:
                is_connectable = True
                addresses.insert(0, a)  # its connectable address first
            else:
                addresses.append(a)
            if not local:
                local = networks.name_of(a) in names if key is None else a[:key] in homes
        if not addresses:
            continue
        owner = member[:OWNER_BYTES]
        if owner != NO_OWNER:
            held = per_owner.get(owner, 0)
            if held >= cap:
                continue
            per_owner[owner] = held + 1
        placed_local = local and locality
        buckets[(0 if is_connectable else 2) + (0 if placed_local else 1)].append(
            (addresses, local)
        )
        if is_connectable:
            if placed_local:
                conn_local_n += 1
            else:
                conn_remote_n += 1
            if conn_local_n >= enough_local and conn_remote_n >= remote_slots:
                break  # nothing later in the sample could be placed before these

    conn_local, conn_remote, unk_local, unk_remote = buckets
    locals_ = conn_local + unk_local
    n_local = min(len(locals_), room - min(len(conn_remote) + len(unk_remote), remote_slots))
    if capped and n_local >= shape.local_enough:
        # the same few remote members each time this requester asks

        def stable(entry: tuple[list[bytes], bool]) -> bytes:
            seen = b"".join(sorted(entry[0]))  # whichever of its addresses is listed first
            return hashlib.blake2b(seen, digest_size=8, key=requester[:64]).digest()

        conn_remote.sort(key=stable)
        unk_remote.sort(key=stable)
        remotes = conn_remote + unk_remote
        wanted = remote_slots if _links_out(requester, shape.remote_share) else 0
        if not any(class_get(a) is connectable for a in own):
            have = min(n_local, len(conn_local))
            wanted = max(wanted, min(len(conn_remote), shape.min_connectable - have))
        n_remote = min(len(remotes), room - n_local, wanted)
    else:
        remotes = conn_remote + unk_remote
        n_remote = min(len(remotes), room - n_local)
    picked_local, picked_remote = locals_[:n_local], remotes[:n_remote]
    # the list's order: connectable before unknown, local before remote within each
    c_local = picked_local[: min(n_local, len(conn_local))]
    c_remote = picked_remote[: min(n_remote, len(conn_remote))]
    listed += c_local + c_remote
    listed += picked_local[len(c_local) :] + picked_remote[len(c_remote) :]

    v4_out = bytearray()
    v6_out = bytearray()
    same = 0
    for addresses, local in listed:
        same += local
        for a in addresses:
            (v4_out if len(a) == _V4 else v6_out).extend(a)
    return PeerList(
        bytes(v4_out), bytes(v6_out), same, len(listed) - same, len(c_local) + len(c_remote)
    )
