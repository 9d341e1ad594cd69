"""Per-second samples of a client's download and the swarm's throughput over time.

A client run with ``peernode fetch --status-log FILE`` appends one JSON line a
second (``t`` in unix seconds, byte counters since the download began). These
pure functions parse those lines and turn counters into origin and peer
throughput per time bin, summed over the swarm.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "StatusLogTail",
    "StatusSample",
    "ThroughputPoint",
    "parse_status_log",
    "swarm_throughput",
]


@dataclass(frozen=True)
class StatusSample:
    """One line of a status log; bytes are cumulative since the download began."""

    t_unix: float
    seconds: float
    """Download time so far (frozen at completion)."""
    progress: float
    complete: bool
    bytes_from_origin: int
    bytes_from_peers: int
    bytes_uploaded: int

    def to_json(self, t0_unix: float) -> dict[str, object]:
        """JSON-ready values with the time relative to ``t0_unix``."""
        return {
            "t_s": round(self.t_unix - t0_unix, 3), "progress": round(self.progress, 4),
            "complete": self.complete, "bytes_from_origin": self.bytes_from_origin,
            "bytes_from_peers": self.bytes_from_peers, "bytes_uploaded": self.bytes_uploaded,
        }


@dataclass(frozen=True)
class ThroughputPoint:
    """Bytes/s received by the whole swarm from the origin and from peers in one bin."""

    t_s: float
    """Start of the bin, seconds after the swarm started."""
    origin_bps: float
    peers_bps: float


def _sample(line: str) -> StatusSample | None:
    try:
        raw = json.loads(line)
        sample = StatusSample(
            t_unix=float(raw["t"]),
            seconds=float(raw["seconds"]),
            progress=float(raw["progress"]),
            complete=bool(raw["complete"]),
            bytes_from_origin=int(raw["bytes_from_origin"]),
            bytes_from_peers=int(raw["bytes_from_peers"]),
            bytes_uploaded=int(raw["bytes_uploaded"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return sample if math.isfinite(sample.t_unix) else None


def parse_status_log(lines: Iterable[str]) -> tuple[StatusSample, ...]:
    """The samples of a status log, skipping lines that are not whole records.

    The log is read while its writer is running, so the last line may be torn;
    such lines (and anything else that is not a record) are skipped, not errors.
    """
    samples = (_sample(line) for line in lines if line.strip())
    return tuple(s for s in samples if s is not None)


def swarm_throughput(
    series: Mapping[str, Sequence[StatusSample]], t0_unix: float, *, bin_s: float = 1.0
) -> list[ThroughputPoint]:
    """Origin and peer throughput of the swarm per ``bin_s`` seconds since ``t0_unix``.

    Each client's counter increase between two samples is put in the bin of the
    later sample (a client's first sample counts from zero). Bins run from 0 to
    the last sample of any client; bins before ``t0_unix`` are dropped.
    """
    if bin_s <= 0:
        raise ValueError("bin_s must be positive")
    origin: dict[int, int] = {}
    peers: dict[int, int] = {}
    for samples in series.values():
        last_origin = last_peers = 0
        for s in sorted(samples, key=lambda s: s.t_unix):
            slot = math.floor((s.t_unix - t0_unix) / bin_s)
            if slot >= 0:
                origin[slot] = origin.get(slot, 0) + s.bytes_from_origin - last_origin
                peers[slot] = peers.get(slot, 0) + s.bytes_from_peers - last_peers
            last_origin, last_peers = s.bytes_from_origin, s.bytes_from_peers
    if not origin:
        return []
    return [
        ThroughputPoint(t_s=slot * bin_s, origin_bps=origin.get(slot, 0) / bin_s,
                        peers_bps=peers.get(slot, 0) / bin_s)
        for slot in range(max(origin) + 1)
    ]


class StatusLogTail:
    """Follows a status log as its client appends to it: each `read` parses only the
    whole lines written since the last one (the writer may be mid-line)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples: list[StatusSample] = []
        self._offset = 0

    def read(self) -> tuple[StatusSample, ...]:
        """Parse what was appended since the last call; returns every sample so far."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return tuple(self.samples)
        whole = data[: data.rfind(b"\n") + 1]
        self._offset += len(whole)
        self.samples.extend(parse_status_log(whole.decode("utf-8", errors="replace").splitlines()))
        return tuple(self.samples)
