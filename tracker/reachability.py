"""Does a peer accept incoming connections? The connect-back probe policy (pure).

The tracker learns it by a TCP connect to the announcer's own source address and
announced port (the shell, `tracker.probe`); this module decides when to probe, keeps
the results with a TTL and classes each address: unknown, connectable or unreachable.
Bounds (so the tracker can neither be a scanner nor a load amplifier): only addresses
that announced are ever probed, at most ``per_ip_probes`` per IP per
``per_ip_interval_s``, at most ``rate_per_s`` in all (a token bucket of ``burst``), at
most ``max_pending`` queued. Time is a parameter (seconds on any monotonic clock).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tracker.config import ProbePolicy

__all__ = ["ProbeCounters", "ProbeVerdict", "Reachability", "ReachabilityTable"]


class Reachability(enum.StrEnum):
    """The class of one address; the value is a metric label."""

    UNKNOWN = "unknown"
    CONNECTABLE = "connectable"
    UNREACHABLE = "unreachable"


class ProbeVerdict(enum.StrEnum):
    """What `ReachabilityTable.consider` decided for one announce."""

    PROBE = "probe"
    """Probe it now (the caller queues the connect)."""
    CACHED = "cached"
    """A result younger than its TTL is known."""
    PENDING = "pending"
    """A probe of it is already queued or running."""
    RATE_LIMITED = "rate_limited"
    """Wanted, but over the per-IP or the global rate (retried at a later announce)."""


@dataclass
class ProbeCounters:
    """Probe totals since start (for metrics and benchmarks)."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    """Wall time the connects took, summed."""


class ReachabilityTable:
    """Probe results by compact address, the probe rate limits, and the addresses seen."""

    def __init__(self, policy: ProbePolicy | None = None) -> None:
        self.policy = policy or ProbePolicy()
        self.counters = ProbeCounters()
        self._results: dict[bytes, tuple[Reachability, float]] = {}
        self._class: dict[bytes, Reachability] = {}  # the same classes, for `class_of`
        self._pending: set[bytes] = set()
        self._per_ip: dict[bytes, tuple[int, float]] = {}  # IP -> probes, window start
        self._tokens = float(self.policy.burst)
        self._tokens_at: float | None = None
        self._seen: dict[bytes, float] = {}  # address -> last announce
        self._failures: dict[bytes, int] = {}  # address -> failed probes in a row

    def class_of(self, address: bytes) -> Reachability:
        """The class of a compact address: its last probe result, else unknown.

        A first failure awaiting its retry is still unknown: one refused connect while
        the node's router may still be mapping its port is no evidence yet.
        """
        return self._class.get(address, Reachability.UNKNOWN)

    @property
    def classes(self) -> Mapping[bytes, Reachability]:
        """Every address with a probe result, and its class (read-only view)."""
        return MappingProxyType(self._class)

    def seen(self) -> dict[bytes, Reachability]:
        """Every address that announced and is not expired, with its class."""
        return {a: self.class_of(a) for a in self._seen}

    def seen_classes(self) -> Iterator[tuple[bytes, Reachability]]:
        """`seen` one pair at a time, building no dict (the table must not change
        while it is iterated: consume it without awaiting)."""
        class_of, unknown = self._class.get, Reachability.UNKNOWN
        for address in self._seen:
            yield address, class_of(address, unknown)

    def note(self, address: bytes, now: float) -> None:
        """Note an admitted announce from ``address`` (without considering a probe)."""
        seen = self._seen
        if address in seen:
            del seen[address]  # re-inserted last: the dict is in order of last announce
        seen[address] = now

    def consider(self, address: bytes, now: float, *, retry: bool = False) -> ProbeVerdict:
        """`note` an admitted announce from ``address``; decide whether to probe it now.

        ``retry``: the probe runner asks again after a first failure (`wants_retry`);
        then the cached failure does not count, but every rate limit still does.
        On `ProbeVerdict.PROBE` the address is pending until `record` (or
        `dropped`) is called for it.
        """
        policy = self.policy
        if retry:
            if not self.wants_retry(address):
                return ProbeVerdict.CACHED
        else:
            self.note(address, now)
        if not policy.enabled:
            return ProbeVerdict.CACHED
        if address in self._pending:
            return ProbeVerdict.PENDING
        result = self._results.get(address)
        if result is not None and not retry:
            cls, checked_at = result
            ttl = (
                policy.connectable_ttl_s
                if cls is Reachability.CONNECTABLE
                else policy.unreachable_ttl_s
            )
            if now - checked_at < ttl:
                return ProbeVerdict.CACHED
        ip = address[:-2]
        count, window_start = self._per_ip.get(ip, (0, now))
        if now - window_start >= policy.per_ip_interval_s:
            count, window_start = 0, now
        if (
            count >= policy.per_ip_probes
            or len(self._pending) >= policy.max_pending
            or not self._take_token(now)
        ):
            self.counters.rate_limited += 1
            return ProbeVerdict.RATE_LIMITED
        self._per_ip[ip] = (count + 1, window_start)
        self._pending.add(address)
        self.counters.sent += 1
        return ProbeVerdict.PROBE

    def _take_token(self, now: float) -> bool:
        policy = self.policy
        if self._tokens_at is not None:
            elapsed = max(0.0, now - self._tokens_at)
            self._tokens = min(float(policy.burst), self._tokens + elapsed * policy.rate_per_s)
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def dropped(self, address: bytes) -> None:
        """A probe `consider` asked for could not be queued: count it as rate-limited."""
        if address in self._pending:
            self._pending.discard(address)
            self.counters.sent -= 1
            self.counters.rate_limited += 1

    def record(self, address: bytes, connected: bool, now: float, seconds: float = 0.0) -> None:
        """Store a probe's result (``seconds``: what the connect took)."""
        self._pending.discard(address)
        self.counters.seconds += seconds
        if connected:
            self.counters.ok += 1
            self._failures.pop(address, None)
        else:
            self.counters.failed += 1
            self._failures[address] = self._failures.get(address, 0) + 1
        results = self._results
        results.pop(address, None)
        cls = Reachability.CONNECTABLE if connected else Reachability.UNREACHABLE
        results[address] = (cls, now)
        # the class peer lists use: a first failure awaiting its retry is no evidence yet
        self._class[address] = Reachability.UNKNOWN if self.wants_retry(address) else cls
        while len(results) > self.policy.max_entries:  # oldest result first
            oldest = next(iter(results))
            del results[oldest], self._class[oldest]

    def wants_retry(self, address: bytes) -> bool:
        """Whether ``address`` failed its first probe (and only that one) and still
        announces: worth one more probe after ``first_retry_s``."""
        return (
            self.policy.first_retry_s > 0
            and self._failures.get(address) == 1
            and address in self._seen
        )

    def forget(self, address: bytes) -> None:
        """The address's peer stopped: it is no longer a peer (its result is kept)."""
        self._seen.pop(address, None)

    def expire(self, now: float, peer_ttl_s: float) -> int:
        """Drop addresses not seen for ``peer_ttl_s`` and results past twice their TTL.

        Returns how many results were dropped.
        """
        seen = self._seen
        while seen:
            address, last = next(iter(seen.items()))
            if now - last < peer_ttl_s:
                break
            del seen[address]
        keep_s = 2 * max(self.policy.connectable_ttl_s, self.policy.unreachable_ttl_s)
        stale = [a for a, (_, t) in self._results.items() if now - t >= keep_s]
        for address in stale:
            del self._results[address], self._class[address]
            self._failures.pop(address, None)
        window = self.policy.per_ip_interval_s
        for ip in [ip for ip, (_, t) in self._per_ip.items() if now - t >= window]:
            del self._per_ip[ip]
        return len(stale)

    def class_counts(self) -> Counter[Reachability]:
        """Addresses seen (not expired) per class."""
        return Counter(self.class_of(a) for a in self._seen)
