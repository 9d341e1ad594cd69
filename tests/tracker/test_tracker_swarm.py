"""Swarm state: selection rules, counts, expiry under an injected clock, memory per peer."""

from __future__ import annotations

import gc
import random
import tracemalloc
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.config import SwarmPolicy
from tracker.request import AnnounceRequest, Event
from tracker.store import StoreRefusal
from tracker.swarm import AnnounceResult, Swarms, compact_address

IH = b"\x11" * 20
OTHER_IH = b"\x22" * 20


def pid(n: int) -> bytes:
    return n.to_bytes(20, "big")


def ip(n: int) -> IPv4Address:
    return IPv4Address(0x0A000000 + n)


def req(
    n: int,
    *,
    left: int = 100,
    event: Event = Event.NONE,
    numwant: int | None = None,
    ih: bytes = IH,
    up: int = 0,
    down: int = 0,
) -> AnnounceRequest:
    return AnnounceRequest(
        info_hash=ih,
        peer_id=pid(n),
        port=1000 + n % 60000,
        uploaded=up,
        downloaded=down,
        left=left,
        event=event,
        numwant=numwant,
    )


def addrs(result: AnnounceResult) -> set[bytes]:
    return {result.peers[i : i + 6] for i in range(0, len(result.peers), 6)}


def addr(n: int) -> bytes:
    return compact_address(ip(n), 1000 + n % 60000)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(7)


def populate(
    swarms: Swarms,
    rng: random.Random,
    *,
    seeders: range,
    leechers: range,
    origins: range = range(0),
    now: float = 0.0,
) -> None:
    for n in seeders:
        swarms.announce(req(n, left=0), ip(n), now, rng)
    for n in leechers:
        swarms.announce(req(n), ip(n), now, rng)
    for n in origins:
        swarms.announce(req(n, left=0), ip(n), now, rng, is_origin=True)


def test_seeder_gets_leechers_only(rng: random.Random) -> None:
    s = Swarms()
    populate(s, rng, seeders=range(0, 5), leechers=range(10, 15), origins=range(20, 22))
    result = s.announce(req(0, left=0), ip(0), 1.0, rng)
    assert addrs(result) == {addr(n) for n in range(10, 15)}
    origin = s.announce(req(20, left=0), ip(20), 1.0, rng, is_origin=True)
    assert addrs(origin) == {addr(n) for n in range(10, 15)}


def test_leecher_gets_seeders_leechers_and_origins_but_not_itself(rng: random.Random) -> None:
    s = Swarms()
    populate(s, rng, seeders=range(0, 5), leechers=range(10, 15), origins=range(20, 22))
    result = s.announce(req(10), ip(10), 1.0, rng)
    everyone = {addr(n) for n in [*range(0, 5), *range(11, 15), *range(20, 22)]}
    assert addrs(result) == everyone
    assert (result.counts.seeders, result.counts.leechers) == (7, 5)


def test_origins_always_included_for_a_leecher_even_when_sampling(rng: random.Random) -> None:
    s = Swarms()
    populate(s, rng, seeders=range(0, 300), leechers=range(1000, 1300), origins=range(5000, 5003))
    for _ in range(20):
        result = s.announce(req(1000, numwant=10), ip(1000), 1.0, rng)
        got = addrs(result)
        # the list may come back short: when a sample holds local_enough peers of the
        # requester's /24 but fewer than the list's local places, max_listed_remote caps
        # the rest (Redis samples at random, whatever rng says)
        assert 3 < len(got) <= 10
        assert {addr(n) for n in range(5000, 5003)} <= got


def test_origins_not_forced_when_policy_says_so() -> None:
    s = Swarms(SwarmPolicy(origin_always_included=False))
    rng = random.Random(1)
    populate(s, rng, seeders=range(0, 300), leechers=range(1000, 1300), origins=range(5000, 5003))
    misses = sum(
        not {addr(n) for n in range(5000, 5003)}
        <= addrs(s.announce(req(1000, numwant=10), ip(1000), 1.0, rng))
        for _ in range(20)
    )
    assert misses > 0


def test_numwant_default_cap_and_zero(rng: random.Random) -> None:
    s = Swarms()
    populate(s, rng, seeders=range(0, 400), leechers=range(1000, 1001))
    assert len(addrs(s.announce(req(1000), ip(1000), 1.0, rng))) == 50
    assert len(addrs(s.announce(req(1000, numwant=1000), ip(1000), 1.0, rng))) == 200
    assert len(addrs(s.announce(req(1000, numwant=7), ip(1000), 1.0, rng))) == 7
    assert s.announce(req(1000, numwant=0), ip(1000), 1.0, rng).peers == b""


def test_sample_is_random_and_distinct(rng: random.Random) -> None:
    s = Swarms()
    populate(s, rng, seeders=range(0, 100), leechers=range(1000, 1001))
    seen: set[bytes] = set()
    for _ in range(30):
        result = s.announce(req(1000, numwant=10), ip(1000), 1.0, rng)
        assert len(result.peers) == 60
        seen |= addrs(result)
    assert len(seen) > 80


def test_address_comes_from_the_connection_and_ipv6_goes_to_peers6(rng: random.Random) -> None:
    s = Swarms()
    v6 = IPv6Address("2001:db8::7")
    s.announce(req(1, left=0), v6, 0.0, rng)
    s.announce(req(2, left=0), ip_address("::ffff:10.0.0.2"), 0.0, rng)
    result = s.announce(req(3), ip(3), 0.0, rng)
    assert result.peers == addr(2)
    assert result.peers6 == b""  # it announced over IPv4 only: it may have no IPv6
    # the same peer announcing over IPv6 as well (libtorrent: once per listen socket)
    both = s.announce(req(3), IPv6Address("2001:db8::3"), 0.0, rng)
    assert both.peers == addr(2)
    assert both.peers6 == v6.packed + (1001).to_bytes(2, "big")
    assert (both.counts.seeders, both.counts.leechers) == (2, 1)


def test_reannounce_updates_address_and_role(rng: random.Random) -> None:
    s = Swarms()
    s.announce(req(1), ip(1), 0.0, rng)
    s.announce(req(1), ip(99), 0.0, rng)
    assert addrs(s.announce(req(2, left=0), ip(2), 0.0, rng)) == {compact_address(ip(99), 1001)}
    done = s.announce(req(1, left=0, event=Event.COMPLETED), ip(99), 0.0, rng)
    assert (done.counts.seeders, done.counts.leechers, done.counts.completed) == (2, 0, 1)
    # a repeated "completed" from a peer already seeding is not counted again
    again = s.announce(req(1, left=0, event=Event.COMPLETED), ip(99), 0.0, rng)
    assert again.counts.completed == 1


def test_stopped_removes_and_returns_no_peers(rng: random.Random) -> None:
    s = Swarms()
    populate(s, rng, seeders=range(0, 3), leechers=range(10, 13))
    result = s.announce(req(10, event=Event.STOPPED), ip(10), 1.0, rng)
    assert result.peers == b""
    assert (result.counts.seeders, result.counts.leechers) == (3, 2)
    assert addr(10) not in addrs(s.announce(req(0, left=0), ip(0), 1.0, rng))
    # stopping an unknown peer is harmless
    assert s.announce(req(77, event=Event.STOPPED), ip(77), 1.0, rng).counts.leechers == 2


def test_paused_partial_seed_gets_leechers_only_and_counts_as_leecher(rng: random.Random) -> None:
    s = Swarms()
    populate(s, rng, seeders=range(0, 3), leechers=range(10, 13))
    result = s.announce(req(20, event=Event.PAUSED), ip(20), 1.0, rng)
    assert addrs(result) == {addr(n) for n in range(10, 13)}
    assert (result.counts.seeders, result.counts.leechers) == (3, 4)


def test_swarms_are_separate(rng: random.Random) -> None:
    s = Swarms()
    s.announce(req(1, left=0), ip(1), 0.0, rng)
    assert s.announce(req(2, ih=OTHER_IH), ip(2), 0.0, rng).peers == b""
    assert dict(s.scrape([IH, OTHER_IH, b"\x33" * 20])) == {
        IH: s.scrape([IH])[IH],
        OTHER_IH: s.scrape([OTHER_IH])[OTHER_IH],
        b"\x33" * 20: s.scrape([b"\x33" * 20])[b"\x33" * 20],
    }
    assert s.scrape([b"\x33" * 20])[b"\x33" * 20].seeders == 0
    assert {ih for ih, _ in s.swarms()} == {IH, OTHER_IH}


def test_expiry_after_the_configured_multiple_of_the_interval(rng: random.Random) -> None:
    s = Swarms(
        SwarmPolicy(announce_interval_s=100, min_announce_interval_s=10, peer_timeout_intervals=2)
    )
    s.announce(req(1, left=0), ip(1), 0.0, rng)
    s.announce(req(2), ip(2), 50.0, rng)
    assert s.expire(199.0) == 0
    assert s.expire(200.0) == 1  # peer 1: last seen at 0 s, TTL 2 x 100 s
    assert s.scrape([IH])[IH].seeders == 0
    s.announce(req(2), ip(2), 240.0, rng)  # announcing again renews the TTL
    assert s.expire(260.0) == 0
    assert s.expire(440.0) == 1
    assert list(s.swarms()) == []


def test_completed_count_survives_an_emptied_swarm(rng: random.Random) -> None:
    s = Swarms()
    s.announce(req(1, left=0, event=Event.COMPLETED), ip(1), 0.0, rng)
    s.announce(req(1, left=0, event=Event.STOPPED), ip(1), 0.0, rng)
    assert s.scrape([IH])[IH].completed == 1


def test_byte_deltas_between_announces(rng: random.Random) -> None:
    s = Swarms()
    first = s.announce(req(1, up=100, down=1000), ip(1), 0.0, rng)
    assert (first.uploaded_delta, first.downloaded_delta) == (100, 1000)
    second = s.announce(req(1, up=150, down=4000), ip(1), 0.0, rng)
    assert (second.uploaded_delta, second.downloaded_delta) == (50, 3000)
    restarted = s.announce(req(1, up=5, down=7), ip(1), 0.0, rng)  # client session restarted
    assert (restarted.uploaded_delta, restarted.downloaded_delta) == (5, 7)


def test_full_swarm_answers_without_storing(rng: random.Random) -> None:
    s = Swarms(SwarmPolicy(max_peers_per_swarm=3))
    populate(s, rng, seeders=range(0, 3), leechers=range(0))
    extra = s.announce(req(9), ip(9), 0.0, rng)
    assert len(addrs(extra)) == 3
    assert extra.counts.leechers == 0


ops = st.lists(
    st.tuples(st.integers(0, 15), st.sampled_from(["leech", "seed", "origin", "pause", "stop"])),
    max_size=80,
)


@settings(max_examples=150, deadline=None)  # speed is bench/, not tests
@given(ops)
def test_store_matches_a_simple_model(operations: list[tuple[int, str]]) -> None:
    """Random announce sequences: counts and peer lists agree with a plain dict model."""
    s = Swarms()
    rng = random.Random(0)
    model: dict[int, str] = {}
    for n, op in operations:
        event = {"pause": Event.PAUSED, "stop": Event.STOPPED}.get(op, Event.NONE)
        left = 0 if op in ("seed", "origin") else 10
        result = s.announce(
            req(n, left=left, event=event, numwant=200), ip(n), 0.0, rng, is_origin=op == "origin"
        )
        if op == "stop":
            model.pop(n, None)
            assert result.peers == b""
        else:
            model[n] = op
            wanted = {
                # partial seeds need nothing from seeders, so seeders are not told of them
                m
                for m, role in model.items()
                if m != n and (op == "leech" or role == "leech")
            }
            assert addrs(result) == {addr(m) for m in wanted}
        seeders = sum(r in ("seed", "origin") for r in model.values())
        assert (result.counts.seeders, result.counts.leechers) == (seeders, len(model) - seeders)


def test_memory_per_peer_below_200_bytes() -> None:
    """100k peers in 10 swarms, measured with tracemalloc."""
    rng = random.Random(3)
    requests = [req(n, ih=bytes([n % 10]) * 20, left=n % 3, numwant=0) for n in range(100_000)]
    addresses = [ip(n) for n in range(100_000)]
    s = Swarms()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for r, a in zip(requests, addresses, strict=True):
            s.announce(r, a, 0.0, rng)
        gc.collect()
        per_peer = (tracemalloc.get_traced_memory()[0] - before) / 100_000
    finally:
        tracemalloc.stop()
    assert sum(c.seeders + c.leechers for _, c in s.swarms()) == 100_000
    assert per_peer < 200, per_peer


# ---------------------------------------------------------------- members and their owners
# (run against the Redis store too, by tests/tracker/redis_backend/test_tracker_redis_swarm.py)

V6_BASE = int(IPv6Address("2001:db8::"))


def ip6(n: int) -> IPv6Address:
    return IPv6Address(V6_BASE + (n << 80) + n)  # each n in its own /48


def test_one_peer_over_both_families_is_one_member(rng: random.Random) -> None:
    s = Swarms()
    s.announce(req(1, left=0), ip(1), 0.0, rng, serial=11)
    s.announce(req(1, left=0), ip6(1), 0.0, rng, serial=11)
    s.announce(req(2), ip(2), 0.0, rng, serial=12)
    both = s.announce(req(2), ip6(2), 0.0, rng, serial=12)
    assert (both.counts.seeders, both.counts.leechers) == (1, 1)
    assert both.peers == addr(1)
    assert both.peers6 == compact_address(ip6(1), 1001)
    # a stop removes the member (both addresses)
    s.announce(req(1, left=0, event=Event.STOPPED), ip(1), 0.0, rng, serial=11)
    gone = s.announce(req(2), ip6(2), 0.0, rng, serial=12)
    assert (gone.counts.seeders, gone.peers, gone.peers6) == (0, b"", b"")


def test_another_serial_can_neither_stop_nor_replace_a_record(rng: random.Random) -> None:
    s = Swarms()
    s.announce(req(1, left=0), ip(1), 0.0, rng, is_origin=True, serial=1)
    stop = s.announce(req(1, event=Event.STOPPED), ip(66), 0.0, rng, serial=66)
    assert stop.refusal is StoreRefusal.OTHER_OWNER
    hijack = s.announce(req(1), ip(66), 0.0, rng, serial=66)
    assert hijack.refusal is StoreRefusal.OTHER_OWNER
    assert (hijack.peers, hijack.counts.seeders, hijack.counts.leechers) == (b"", 1, 0)
    # the evidence: the origin is still there, at its own address
    assert s.announce(req(2), ip(2), 0.0, rng, serial=2).peers == addr(1)
    # its own serial may update and stop it
    assert s.announce(req(1, left=0), ip(1), 0.0, rng, is_origin=True, serial=1).refusal is None
    s.announce(req(1, left=0, event=Event.STOPPED), ip(1), 0.0, rng, is_origin=True, serial=1)
    assert s.announce(req(2), ip(2), 0.0, rng, serial=2).peers == b""


def test_a_serial_holds_a_few_peer_ids_per_swarm(rng: random.Random) -> None:
    s = Swarms(SwarmPolicy(max_peers_per_serial=3))
    results = [s.announce(req(n), ip(n), 0.0, rng, serial=5) for n in range(10)]
    assert [r.refusal for r in results[:3]] == [None] * 3
    assert {r.refusal for r in results[3:]} == {StoreRefusal.OWNER_CAP}
    assert results[-1].counts.leechers == 3
    # a stop frees a place; the cap is per swarm; origins are exempt
    s.announce(req(0, event=Event.STOPPED), ip(0), 0.0, rng, serial=5)
    assert s.announce(req(20), ip(20), 0.0, rng, serial=5).refusal is None
    assert s.announce(req(21, ih=OTHER_IH), ip(21), 0.0, rng, serial=5).refusal is None
    for n in range(30, 40):
        assert s.announce(req(n, left=0), ip(n), 0.0, rng, is_origin=True, serial=9).refusal is None


def test_an_expired_peer_frees_its_serials_place(rng: random.Random) -> None:
    s = Swarms(SwarmPolicy(max_peers_per_serial=1))
    s.announce(req(1), ip(1), 0.0, rng, serial=5)
    assert s.announce(req(2), ip(2), 1.0, rng, serial=5).refusal is StoreRefusal.OWNER_CAP
    s.expire(SwarmPolicy().peer_ttl_s + 1)
    assert s.announce(req(2), ip(2), 700.0, rng, serial=5).refusal is None


def test_two_thousand_peer_ids_of_one_serial_do_not_fill_a_newcomers_list(
    rng: random.Random,
) -> None:
    s = Swarms()
    populate(s, rng, seeders=range(0), leechers=range(0), origins=range(9000, 9001))
    for n in range(2000):
        s.announce(req(n, left=0), ip(n), 0.0, rng, serial=666)
    for n in range(3000, 3030):  # honest peers, one serial each
        s.announce(req(n, left=0), ip(n), 0.0, rng, serial=n)
    got = s.announce(req(5000, numwant=20), ip(5000), 0.0, rng, serial=5000)
    listed = addrs(got)
    assert len(listed) == 20
    assert addr(9000) in listed  # the origin
    assert len(listed & {addr(n) for n in range(2000)}) <= SwarmPolicy().max_listed_per_serial


def test_a_known_unreachable_address_is_never_listed(rng: random.Random) -> None:
    s = Swarms()
    populate(s, rng, seeders=range(0, 20), leechers=range(0))
    for n in range(0, 10):
        s.reachability.record(addr(n), False, 0.0)
    for n in range(10, 12):
        s.reachability.record(addr(n), True, 0.0)
    for _ in range(10):  # 14 wanted: the store's sample (1.5 per wanted) is the whole swarm
        got = s.announce(req(100, numwant=14), ip(100), 0.0, rng)
        raw = got.peers
        listed = [raw[i : i + 6] for i in range(0, len(raw), 6)]
        assert len(listed) == 10  # 20 peers, 10 of them unreachable
        assert not set(listed) & {addr(n) for n in range(10)}
        assert listed[:2] == [addr(10), addr(11)] or listed[:2] == [addr(11), addr(10)]


def test_members_lists_rental_members_not_origins_stopped_or_expired(
    rng: random.Random,
) -> None:
    swarms = Swarms(SwarmPolicy(announce_interval_s=100))  # peers expire after 200 s
    populate(swarms, rng, seeders=range(1, 3), leechers=range(3, 5), origins=range(9, 10))
    swarms.announce(req(4, ih=OTHER_IH), ip(4), 0.0, rng)
    v6 = IPv6Address("2001:db8::3")
    swarms.announce(req(3), v6, 0.0, rng)  # member 3 over both families: one member
    swarms.announce(req(2, event=Event.STOPPED), ip(2), 0.0, rng)
    swarms.announce(req(1, left=0), ip(1), 150.0, rng)  # 1 announced again later
    listed = {ih: sorted(members) for ih, members in swarms.members(100.0)}
    three = compact_address(ip(3), 1003) + compact_address(v6, 1003)
    assert {ih: [m[20:] for m in ms] for ih, ms in listed.items()} == {
        IH: sorted([addr(1) + bytes(18), three, addr(4) + bytes(18)]),
        OTHER_IH: [addr(4) + bytes(18)],
    }
    assert {ih: [m[20:] for m in ms] for ih, ms in swarms.members(210.0)} == {
        IH: [addr(1) + bytes(18)]
    }


def test_a_lonely_leecher_nobody_can_reach_is_asked_back_at_the_min_interval(
    rng: random.Random,
) -> None:
    policy = SwarmPolicy(announce_interval_s=300, min_announce_interval_s=60, lonely_below=2)
    swarms = Swarms(policy)
    table = swarms.reachability
    swarms.announce(req(9, left=0), ip(9), 0.0, rng, is_origin=True)
    # unknown (not probed yet), given only the origin: it must come back to find peers
    first = swarms.announce(req(1), ip(1), 0.0, rng)
    assert (first.interval_s, first.min_interval_s) == (60, 60)
    table.record(addr(1), False, 1.0)
    table.record(addr(1), False, 2.0)  # unreachable after its retry
    for n in (2, 3):
        swarms.announce(req(n, left=0), ip(n), 0.0, rng)
        table.record(addr(n), True, 1.0)
    # two connectable seeders in its list: the regular interval
    assert swarms.announce(req(1), ip(1), 3.0, rng).interval_s == 300
    # a connectable leecher is found by newcomers: the regular interval even when alone
    alone = Swarms(policy)
    alone.reachability.record(addr(4), True, 1.0)
    assert alone.announce(req(4), ip(4), 3.0, rng).interval_s == 300
    # seeders never need peers; 0 turns the rule off
    assert swarms.announce(req(5, left=0), ip(5), 3.0, rng).interval_s == 300
    off = Swarms(SwarmPolicy(lonely_below=0))
    assert off.announce(req(6), ip(6), 3.0, rng).interval_s == 300
