"""Shaping peer lists: families, reachability order, per-serial caps, locality (pure)."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from tracker.errors import ConfigError
from tracker.locality import NetworkMap
from tracker.peer_selection import ListShape, shape_peer_list
from tracker.reachability import Reachability
from tracker.store import NO_OWNER, merge_member, owner_bytes
from tracker.swarm import compact_address

NETS = NetworkMap()


def v4(text: str, port: int = 6881) -> bytes:
    return compact_address(IPv4Address(text), port)


def v6(text: str, port: int = 6881) -> bytes:
    return compact_address(IPv6Address(text), port)


def member(*addresses: bytes, serial: int | None = None) -> bytes:
    m: bytes | None = None
    for address in addresses:
        m = merge_member(m, owner_bytes(serial), address)
    assert m is not None
    return m


def split(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def shape(
    me: bytes,
    candidates: list[bytes],
    numwant: int,
    classes: dict[bytes, Reachability] | None = None,
    origins: list[bytes] | None = None,
    **kw: float | bool,
) -> tuple[list[bytes], list[bytes]]:
    known = classes or {}
    listed = shape_peer_list(
        me,
        origins or [],
        candidates,
        ListShape(numwant, **kw),  # type: ignore[arg-type]
        known,
        NETS,
    )
    return split(listed.peers, 6), split(listed.peers6, 18)


def test_families_follow_the_requester() -> None:
    dual = member(v4("10.0.0.1"), v6("2001:db8::1"))
    only4 = member(v4("10.0.1.2"))
    only6 = member(v6("2001:db8:1::3"))
    assert shape(member(v4("10.9.0.1")), [dual, only6], 10) == ([v4("10.0.0.1")], [])
    assert shape(member(v6("2001:db8:9::1")), [dual, only4], 10) == ([], [v6("2001:db8::1")])
    assert shape(member(v4("10.9.0.1"), v6("2001:db8:9::1")), [dual], 10) == (
        [v4("10.0.0.1")],
        [v6("2001:db8::1")],
    )


def test_unreachable_never_listed_connectable_then_unknown_origin_first() -> None:
    rng = random.Random(3)
    peers = [member(v4(f"10.{n}.0.1")) for n in range(30)]
    classes = {v4(f"10.{n}.0.1"): Reachability.UNREACHABLE for n in range(0, 10)}
    classes |= {v4(f"10.{n}.0.1"): Reachability.CONNECTABLE for n in range(10, 15)}
    origin = member(v4("192.0.2.1"))
    for _ in range(20):
        rng.shuffle(peers)
        got, _ = shape(member(v4("10.99.0.1")), peers, 12, classes, [origin])
        assert got[0] == v4("192.0.2.1")
        assert len(got) == 12
        assert all(classes.get(a) is not Reachability.UNREACHABLE for a in got)
        assert {classes.get(a) for a in got[1:6]} == {Reachability.CONNECTABLE}
        assert {classes.get(a) for a in got[6:]} == {None}
    # a swarm of only unreachable peers yields an empty list, never an unreachable one
    only_bad = [member(v4(f"10.{n}.0.1")) for n in range(10)]
    assert shape(member(v4("10.99.0.1")), only_bad, 5, classes) == ([], [])


def test_a_member_with_an_unreachable_ipv4_is_listed_by_its_ipv6() -> None:
    nat = member(v4("10.0.0.1"), v6("2001:db8::1"))
    classes = {
        v4("10.0.0.1"): Reachability.UNREACHABLE,
        v6("2001:db8::1"): Reachability.CONNECTABLE,
    }
    me = member(v4("10.5.0.1"), v6("2001:db8:5::1"))
    assert shape(me, [nat], 5, classes) == ([], [v6("2001:db8::1")])


def test_one_serial_gets_a_few_places_at_most() -> None:
    sybils = [member(v4(f"10.1.{n // 250}.{n % 250 + 1}"), serial=666) for n in range(2000)]
    honest = [member(v4(f"10.2.0.{n + 1}"), serial=n + 1) for n in range(20)]
    rng = random.Random(1)
    candidates = sybils[:100] + honest
    rng.shuffle(candidates)
    got, _ = shape(member(v4("10.3.0.1"), serial=9999), candidates, 20, max_per_owner=2)
    assert len(got) == 20
    assert sum(a.startswith(bytes([10, 1])) for a in got) <= 2
    # records without a serial (pure tests, benchmarks) are not capped
    bare = [member(v4(f"10.4.0.{n + 1}")) for n in range(10)]
    assert len(shape(member(v4("10.3.0.1")), bare, 10, max_per_owner=1)[0]) == 10
    assert owner_bytes(None) == NO_OWNER


def test_locality_mostly_local_with_a_few_from_elsewhere() -> None:
    rng = random.Random(5)
    local = [member(v4(f"10.0.0.{n + 2}")) for n in range(100)]
    remote = [member(v4(f"10.{n + 1}.0.1")) for n in range(100)]
    me = member(v4("10.0.0.1"))
    for _ in range(10):
        candidates = local + remote
        rng.shuffle(candidates)
        got, _ = shape(me, candidates, 20, local_share=0.75)
        assert len(got) == 20
        n_local = sum(a[:3] == bytes([10, 0, 0]) for a in got)
        assert n_local == 15
        assert all(a[:3] == bytes([10, 0, 0]) for a in got[:15])  # local first
    # too few local peers: all of them, then others
    got, _ = shape(me, local[:3] + remote, 20)
    assert sum(a[:3] == bytes([10, 0, 0]) for a in got) == 3
    assert len(got) == 20


def test_connectable_remote_before_unknown_local() -> None:
    local = [member(v4(f"10.0.0.{n + 2}")) for n in range(10)]
    remote = [member(v4(f"10.{n + 1}.0.1")) for n in range(10)]
    classes = {v4(f"10.{n + 1}.0.1"): Reachability.CONNECTABLE for n in range(10)}
    got, _ = shape(member(v4("10.0.0.1")), local + remote, 8, classes, local_share=0.5)
    assert [classes.get(a) for a in got] == [Reachability.CONNECTABLE] * 4 + [None] * 4


def test_network_map_defaults_and_operator_prefixes() -> None:
    assert NETS.name_of(v4("10.1.2.3")) == "10.1.2.0/24"
    assert NETS.name_of(v6("2001:db8:aa:bb::1")) == "2001:db8:aa::/48"
    assert NETS.name_of(ip_address("10.1.2.3").packed) == "10.1.2.0/24"
    m = NetworkMap({"10.0.0.0/8": "isp", "10.5.0.0/16": "campus", "2001:db8::/32": "isp6"})
    assert m.name_of(v4("10.5.9.9")) == "campus"  # the longest prefix wins
    assert m.name_of(v4("10.6.9.9")) == "isp"
    assert m.name_of(v6("2001:db8:1::1")) == "isp6"
    assert m.name_of(v4("192.0.2.7")) == "192.0.2.0/24"
    assert NetworkMap(v4_prefix=16).name_of(v4("10.1.2.3")) == "10.1.0.0/16"


@pytest.mark.parametrize("cidr", ["10.0.0.1/8", "10.0.0.0/33", "not-a-net", "::1/200"])
def test_bad_cidr_is_a_one_line_config_error(cidr: str) -> None:
    with pytest.raises(ConfigError, match=r"^networks: .* is not a CIDR prefix") as e:
        NetworkMap({cidr: "x"})
    assert "\n" not in str(e.value)
