"""The connect-back probe policy: when to probe, results with a TTL, rate limits (pure)."""

from __future__ import annotations

from ipaddress import IPv4Address

from tracker.config import ProbePolicy
from tracker.reachability import ProbeVerdict, Reachability, ReachabilityTable
from tracker.swarm import compact_address


def a(n: int, port: int = 7000) -> bytes:
    return compact_address(IPv4Address(0x0A000000 + n), port)


def table(**kw: float) -> ReachabilityTable:
    """A table whose first failure is final (the retry has a test of its own)."""
    kw.setdefault("first_retry_s", 0.0)
    return ReachabilityTable(ProbePolicy(**kw))  # type: ignore[arg-type]


def test_probe_once_then_cached_until_the_ttl() -> None:
    t = table(connectable_ttl_s=100, unreachable_ttl_s=10)
    assert t.class_of(a(1)) is Reachability.UNKNOWN
    assert t.consider(a(1), 0.0) is ProbeVerdict.PROBE
    assert t.consider(a(1), 1.0) is ProbeVerdict.PENDING  # queued: not twice
    t.record(a(1), True, 2.0, seconds=0.01)
    assert t.class_of(a(1)) is Reachability.CONNECTABLE
    assert t.consider(a(1), 101.0) is ProbeVerdict.CACHED
    assert t.consider(a(1), 102.0) is ProbeVerdict.PROBE  # TTL over: probe again
    t.record(a(1), False, 103.0)
    assert t.class_of(a(1)) is Reachability.UNREACHABLE
    assert t.consider(a(1), 112.0) is ProbeVerdict.CACHED
    assert t.consider(a(1), 113.0) is ProbeVerdict.PROBE  # unreachable: a shorter TTL
    c = t.counters
    assert (c.sent, c.ok, c.failed, c.rate_limited) == (3, 1, 1, 0)
    assert c.seconds == 0.01


def test_per_ip_limit_counts_every_port_of_the_ip() -> None:
    t = table(per_ip_probes=2, per_ip_interval_s=60)
    assert [t.consider(a(1, p), 0.0) for p in (1, 2, 3)] == [
        ProbeVerdict.PROBE,
        ProbeVerdict.PROBE,
        ProbeVerdict.RATE_LIMITED,
    ]
    assert t.consider(a(2, 3), 0.0) is ProbeVerdict.PROBE  # another IP
    assert t.consider(a(1, 3), 60.0) is ProbeVerdict.PROBE  # a new window
    assert t.counters.rate_limited == 1


def test_global_token_bucket_and_pending_bound() -> None:
    t = table(rate_per_s=2, burst=3)
    verdicts = [t.consider(a(n), 0.0) for n in range(5)]
    assert verdicts.count(ProbeVerdict.PROBE) == 3
    assert t.consider(a(10), 0.5) is ProbeVerdict.PROBE  # 0.5 s at 2/s: one token
    assert t.consider(a(11), 0.5) is ProbeVerdict.RATE_LIMITED
    small = table(max_pending=1)
    assert small.consider(a(1), 0.0) is ProbeVerdict.PROBE
    assert small.consider(a(2), 0.0) is ProbeVerdict.RATE_LIMITED
    small.dropped(a(1))  # the shell's queue was full: counted, no longer pending
    assert small.consider(a(2), 0.0) is ProbeVerdict.PROBE
    assert (small.counters.sent, small.counters.rate_limited) == (1, 2)


def test_disabled_never_probes() -> None:
    t = table(enabled=False)
    assert t.consider(a(1), 0.0) is ProbeVerdict.CACHED
    assert t.counters.sent == 0


def test_seen_addresses_expire_and_results_are_bounded() -> None:
    t = table(max_entries=2, connectable_ttl_s=10, unreachable_ttl_s=10)
    for n in range(3):
        t.consider(a(n), float(n))
        t.record(a(n), n != 1, float(n))
    assert t.class_of(a(0)) is Reachability.UNKNOWN  # oldest result dropped
    assert t.class_counts() == {
        Reachability.UNKNOWN: 1,
        Reachability.UNREACHABLE: 1,
        Reachability.CONNECTABLE: 1,
    }
    t.forget(a(2))
    assert set(t.seen()) == {a(0), a(1)}
    assert t.expire(20.0, peer_ttl_s=100) == 0
    assert t.class_of(a(1)) is Reachability.UNREACHABLE
    # results older than twice their TTL go; a(0), last seen at 0, is no longer a peer
    assert t.expire(100.5, peer_ttl_s=100) == 2
    assert set(t.seen()) == {a(1)}
    assert t.class_of(a(1)) is Reachability.UNKNOWN


def test_only_a_first_failure_is_retried_and_the_retry_obeys_the_rate_limits() -> None:
    from tracker.config import ProbePolicy
    from tracker.reachability import ProbeVerdict, ReachabilityTable

    table = ReachabilityTable(ProbePolicy(first_retry_s=20.0, per_ip_probes=2))
    a = bytes([10, 0, 0, 1, 0x1A, 0xE1])
    assert table.consider(a, 0.0) is ProbeVerdict.PROBE
    table.record(a, False, 0.1)
    assert table.wants_retry(a)
    assert table.class_of(a) is Reachability.UNKNOWN  # one failure: no evidence yet
    assert table.consider(a, 1.0) is ProbeVerdict.CACHED  # an announce: the failure is cached
    assert table.consider(a, 20.1, retry=True) is ProbeVerdict.PROBE
    table.record(a, False, 20.2)
    assert not table.wants_retry(a)  # a second failure in a row: wait for the TTL
    assert table.class_of(a) is Reachability.UNREACHABLE
    assert table.consider(a, 21.0, retry=True) is ProbeVerdict.CACHED
    b = bytes([10, 0, 0, 1, 0x1A, 0xE2])  # the same IP: its per-IP budget (2) is spent
    assert table.consider(b, 22.0) is ProbeVerdict.RATE_LIMITED
    table.record(a, True, 700.0)
    assert not table.wants_retry(a)
    assert ReachabilityTable(ProbePolicy(first_retry_s=0.0)).wants_retry(a) is False
