"""Locality that holds in small swarms: a few peers from other networks per list, the
same few each time, more only to top a short list up or to give a lonely member
connectable peers (pure, and through `Swarms` with the default policy)."""

from __future__ import annotations

import random
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from tracker.cli import config_from_args
from tracker.config import SwarmPolicy
from tracker.errors import ConfigError
from tracker.locality import NetworkMap
from tracker.reachability import Reachability
from tracker.request import AnnounceRequest
from tracker.swarm import Swarms, compact_address

from .test_tracker_locality_members import _args
from .test_tracker_peer_selection import member, shape, v4

CAP = {"max_remote": 2, "local_enough": 4, "min_connectable": 4}


def isp(a: bytes) -> int:
    return a[1]  # 10.<isp>.<home>.1: one /16 per ISP in these tests


def two_isps(per_isp: int) -> tuple[list[bytes], list[bytes]]:
    nets = [[member(v4(f"10.{n}.{h}.1")) for h in range(per_isp)] for n in (1, 2)]
    return nets[0], nets[1]


ISPS = NetworkMap({"10.1.0.0/16": "isp-a", "10.2.0.0/16": "isp-b"})


def shape_isps(
    me: bytes,
    candidates: list[bytes],
    classes: dict[bytes, Reachability] | None = None,
    **kw: float | bool | int | None,
) -> list[bytes]:
    from tracker.peer_selection import ListShape, shape_peer_list

    listed = shape_peer_list(
        me,
        [],
        candidates,
        ListShape(200, **kw),
        classes or {},
        ISPS,  # type: ignore[arg-type]
    )
    return [listed.peers[i : i + 6] for i in range(0, len(listed.peers), 6)]


def test_two_equal_networks_every_local_and_the_same_two_remote_each_time() -> None:
    a, b = two_isps(12)
    me, others = a[0], a[1:] + b
    rng = random.Random(4)
    seen_remote = set()
    for _ in range(20):
        rng.shuffle(others)
        got = shape_isps(me, others, **CAP)
        assert sum(isp(x) == 1 for x in got) == 11  # every other member of its ISP
        remote = frozenset(x for x in got if isp(x) == 2)
        assert len(remote) == 2
        seen_remote.add(remote)
    assert len(seen_remote) == 1  # announcing again hands out the same two
    # requesters differ in which two: the cross-network links spread over the network
    picks = {frozenset(x for x in shape_isps(m, a + b, **CAP) if isp(x) == 2) for m in a}
    assert len(picks) > 3
    # without the cap (or with locality off) every list held everyone: 23 of 23
    assert len(shape_isps(me, others)) == 23
    assert len(shape_isps(me, others, locality=False, **CAP)) == 23


def test_a_network_with_too_few_members_gets_its_list_filled_from_elsewhere() -> None:
    a, b = two_isps(12)
    got = shape_isps(a[0], a[1:3] + b, **CAP)  # two of its own network in the swarm
    assert sum(isp(x) == 1 for x in got) == 2
    assert len(got) == 14  # and every one of the other network: as without the cap
    assert len(shape_isps(a[0], b, **CAP)) == 12
    # four of its own: enough, the cap holds
    assert len(shape_isps(a[0], a[1:5] + b, **CAP)) == 4 + 2


def test_a_member_not_known_connectable_gets_connectable_peers_from_elsewhere() -> None:
    a, b = two_isps(12)
    # its own network: nothing connectable yet; the other: all connectable
    classes = {x[20:26]: Reachability.CONNECTABLE for x in b}
    for me_class in (None, Reachability.UNREACHABLE):
        mine = dict(classes)
        if me_class is not None:
            mine[a[0][20:26]] = me_class
        got = shape_isps(a[0], a[1:] + b, mine, **CAP)
        remote = [x for x in got if isp(x) == 2]
        assert len(remote) == 4  # lonely_below of them, not just the two
        assert all(mine.get(x) is Reachability.CONNECTABLE for x in remote)
        assert got[:4] == remote  # connectable first
    # a connectable member is found by others: two from elsewhere are enough
    mine = classes | {a[0][20:26]: Reachability.CONNECTABLE}
    assert sum(isp(x) == 2 for x in shape_isps(a[0], a[1:] + b, mine, **CAP)) == 2
    # enough connectable members of its own: no more from elsewhere
    mine = classes | {x[20:26]: Reachability.CONNECTABLE for x in a[1:6]}
    assert sum(isp(x) == 2 for x in shape_isps(a[0], a[1:] + b, mine, **CAP)) == 2


def test_a_large_network_keeps_the_cap_and_local_share_bounds_small_lists() -> None:
    rng = random.Random(9)
    local = [member(v4(f"10.0.0.{n + 2}")) for n in range(100)]
    remote = [member(v4(f"10.{n + 1}.0.1")) for n in range(100)]
    me = member(v4("10.0.0.1"))
    candidates = local + remote
    rng.shuffle(candidates)
    got, _ = shape(me, candidates, 40, **CAP)
    assert len(got) == 40
    assert sum(a[:3] != bytes([10, 0, 0]) for a in got) == 2
    # a list of 4: local_share (0.75) leaves one place from elsewhere, under the cap
    got, _ = shape(me, candidates, 4, **CAP)
    assert sum(a[:3] != bytes([10, 0, 0]) for a in got) == 1


def test_swarms_default_policy_caps_remote_peers_and_the_settings_load() -> None:
    policy = SwarmPolicy()
    assert (policy.max_listed_remote, policy.local_enough) == (1, 4)
    swarms = Swarms(policy, networks=ISPS)
    rng = random.Random(2)
    got = None
    for n in (1, 2):
        for h in range(12):
            request = AnnounceRequest(
                info_hash=b"\x11" * 20,
                peer_id=bytes([n, h]) * 10,
                port=6881,
                uploaded=0,
                downloaded=0,
                left=100,
                numwant=200,
            )
            got = swarms.announce(request, IPv4Address(f"10.{n}.{h}.1"), 0.0, rng)
    assert got is not None
    # at most one from elsewhere, and only for the half of members that link out
    assert got.same_network == 11
    assert got.other_network <= 1
    assert compact_address(IPv4Address("10.2.11.1"), 6881) not in got.peers
    loaded = SwarmPolicy(**{"max_listed_remote": 5, "local_enough": 3})
    assert (loaded.max_listed_remote, loaded.local_enough) == (5, 3)


def test_the_settings_load_from_the_swarm_table(tmp_path: Path) -> None:
    f = tmp_path / "tracker.toml"
    f.write_text("[swarm]\nmax_listed_remote = 5\nlocal_enough = 3\n")
    config = config_from_args(_args("--config", str(f)))
    assert (config.swarm.max_listed_remote, config.swarm.local_enough) == (5, 3)
    f.write_text("[swarm]\nmax_listed_remote = 1.5\n")
    with pytest.raises(ConfigError, match="max_listed_remote") as e:
        config_from_args(_args("--config", str(f)))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("key", ["max_listed_remote", "local_enough", "connectable_wanted"])
def test_a_negative_remote_setting_is_a_one_line_error(key: str) -> None:
    with pytest.raises(
        ConfigError, match=r"max_listed_remote, local_enough and connectable_wanted must not"
    ) as e:
        SwarmPolicy(**{key: -1})  # type: ignore[arg-type]
    assert "\n" not in str(e.value)


def test_only_a_share_of_members_get_remote_peers_and_always_the_same_ones() -> None:
    a, b = two_isps(40)
    given = []
    for me in a:
        others = [m for m in a + b if m != me]
        got = shape_isps(me, others, max_remote=1, local_enough=4, remote_share=0.5)
        again = shape_isps(me, list(reversed(others)), max_remote=1, local_enough=4,
                           remote_share=0.5)
        assert sorted(got) == sorted(again)  # the same answer at every announce
        remote = [p for p in got if isp(p) != isp(me[20:26])]
        assert len(remote) <= 1
        given.append(bool(remote))
    assert 10 <= sum(given) <= 30  # about half of the 40, by the hash
    # share 1: everyone gets one; share 0: no one (they are all connectable-unknown here)
    assert all(any(isp(p) == 2 for p in shape_isps(me, b + a[1:], max_remote=1,
                                                    local_enough=4))
               for me in a[:1])
    assert not any(isp(p) == 2 for me in a for p in shape_isps(
        me, [m for m in a + b if m != me], max_remote=1, local_enough=4, remote_share=0.0))


def test_a_member_nobody_can_reach_still_gets_connectable_peers_without_the_share() -> None:
    a, b = two_isps(6)
    me = a[0]
    classes = {m[20:26]: Reachability.CONNECTABLE for m in b}
    got = shape_isps(me, a[1:] + b, classes, max_remote=1, local_enough=4,
                     min_connectable=4, remote_share=0.0)
    assert sum(isp(p) == 2 for p in got) == 4  # its only way to connectable peers


def test_remote_share_is_checked() -> None:
    assert SwarmPolicy().remote_share == 0.5
    with pytest.raises(ConfigError, match="remote_share must be between 0 and 1"):
        SwarmPolicy(remote_share=1.5)
