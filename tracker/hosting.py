"""Which swarm members are hosts, and what they uploaded (pure).

A host is a node admitted with a hosting credential (`Reason.ADMITTED_HOST`): it carries
a film's ciphertext placed before the release and serves it, but rents nothing. The
swarm store treats it as any peer (so renters find it like one); this ledger keeps what
sets it apart, for the metrics and ``/members.json``: the compact addresses of hosts per
film (last announce time, so a departed host stops counting after the peer TTL) and the
bytes hosts report uploading (their announced ``uploaded``, summed as deltas).

Kept in the tracker's memory only: with several trackers on Redis each counts the
announces it answered, which is how the byte counters already work.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from ipaddress import ip_address

__all__ = ["HOSTS_PATH", "HostLedger", "HostProgress", "hosts_json"]

HOSTS_PATH = "/hosts.json"
"""Where the metrics listener lists hosts and their progress (operator-only)."""


@dataclass(slots=True)
class HostProgress:
    """One host of one film as the tracker last heard it."""

    last_seen_s: float
    left_bytes: int
    uploaded_bytes: int = 0


@dataclass
class HostLedger:
    """Hosts per film, keyed by the compact address they announce from."""

    ttl_s: float = 3600.0
    uploaded: Counter[str] = field(default_factory=Counter)
    """Bytes hosts reported uploading, per film."""
    downloaded: Counter[str] = field(default_factory=Counter)
    """Bytes hosts reported downloading (placement), per film."""
    _hosts: dict[str, dict[bytes, HostProgress]] = field(default_factory=dict)
    _latest_s: float = float("-inf")

    def note(
        self,
        film: str,
        address: bytes,
        *,
        uploaded_delta: int,
        downloaded_delta: int,
        left: int,
        stopped: bool,
        now: float,
    ) -> None:
        """Record an admitted host announce (``now``: monotonic seconds)."""
        self._latest_s = max(self._latest_s, now)
        self.uploaded[film] += uploaded_delta
        self.downloaded[film] += downloaded_delta
        hosts = self._hosts.setdefault(film, {})
        if stopped:
            hosts.pop(address, None)
            return
        before = hosts.get(address)
        total = (before.uploaded_bytes if before else 0) + uploaded_delta
        hosts[address] = HostProgress(now, left, total)
        self._drop_stale(now)

    def _drop_stale(self, now: float) -> None:
        for film in list(self._hosts):
            hosts = self._hosts[film]
            for address in [a for a, p in hosts.items() if now - p.last_seen_s > self.ttl_s]:
                del hosts[address]
            if not hosts:
                del self._hosts[film]

    def hosts_of(self, film: str, now: float) -> dict[bytes, HostProgress]:
        """The live hosts of ``film`` (heard from within the TTL)."""
        return {a: p for a, p in self._hosts.get(film, {}).items()
                if now - p.last_seen_s <= self.ttl_s}

    def films(self) -> list[str]:
        """Films with hosts recorded (live or not yet dropped), in name order."""
        return sorted(self._hosts)

    def addresses(self, now: float) -> frozenset[bytes]:
        """Every live host's compact address, all films."""
        return frozenset(a for film in self._hosts for a in self.hosts_of(film, now))

    def counts(self, now: float | None = None) -> dict[str, tuple[int, int]]:
        """Per film: (live hosts, of which complete); ``now`` defaults to the last announce's."""
        now = self._latest_s if now is None else now
        out: dict[str, tuple[int, int]] = {}
        for film in sorted(self._hosts):
            hosts = self.hosts_of(film, now)
            out[film] = (len(hosts), sum(1 for p in hosts.values() if p.left_bytes == 0))
        return out


def _format(address: bytes) -> str:
    ip, port = ip_address(address[:-2]), int.from_bytes(address[-2:], "big")
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def hosts_json(ledger: HostLedger, now: float) -> bytes:
    """The hosts' progress as placement reads it::

        {"films": {FILM: [{"address": "IP:PORT", "left_bytes": N, "complete": BOOL,
                           "uploaded_bytes": N}, ...]}}
    """
    films = {
        film: [
            {"address": _format(a), "left_bytes": p.left_bytes, "complete": p.left_bytes == 0,
             "uploaded_bytes": p.uploaded_bytes}
            for a, p in sorted(ledger.hosts_of(film, now).items())
        ]
        for film in ledger.films()
    }
    return json.dumps({"films": films}, sort_keys=True).encode() + b"\n"
