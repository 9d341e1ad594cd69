"""What became of each client, and the swarm's figures computed from that (pure).

A backend observes each client (its status samples, its final JSON summary, when
it was started); the driver decides its `Fate`. From those, `client_outcome` and
`swarm_figures` compute everything the report shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

from sim.analysis.figures import (
    cdn_egress_saved_gb,
    kumar_ross_t_min,
    offload,
    offload_limit,
    origin_copies,
    percentile,
)
from sim.analysis.timeseries import StatusSample
from sim.scenario.plan import ClientPlan

__all__ = [
    "RENTALS_PER_REPORT",
    "ClientOutcome",
    "Fate",
    "SwarmFigures",
    "client_outcome",
    "completion_seconds",
    "startup_seconds",
    "swarm_figures",
]

RENTALS_PER_REPORT = 1000
"""The CDN egress saved is given for this many rentals of the film."""


class Fate(StrEnum):
    """How a client's run ended."""

    COMPLETE = "complete"
    QUIT = "quit"
    """Churn: it quit part-way on purpose."""
    KILLED = "killed"
    """An event killed it."""
    NOT_STARTED = "not-started"
    """An event killed it before it arrived."""
    FAILED = "failed"
    """It exited on its own without completing."""
    TIMEOUT = "timeout"
    """It was still downloading when the run's time was up."""

    @property
    def meant_to_complete(self) -> bool:
        """Whether the scenario wanted this client to finish (it counts in N and T_min)."""
        return self in (Fate.COMPLETE, Fate.FAILED, Fate.TIMEOUT)


@dataclass(frozen=True)
class ClientOutcome:
    """One client's result: times in seconds, bytes received by source and uploaded."""

    name: str
    address: str
    link: str
    download_bps: int
    upload_bps: int
    arrival_s: float
    fate: Fate
    startup_s: float | None
    """From its process start to when its download began (a simulation cost)."""
    completion_s: float | None
    """From when its download began to its last byte; None unless complete."""
    bytes_from_origin: int
    bytes_from_peers: int
    bytes_uploaded: int

    def to_json(self) -> dict[str, object]:
        values = asdict(self)
        values["fate"] = self.fate.value
        return values


def completion_seconds(samples: Sequence[StatusSample]) -> float | None:
    """Seconds from when the client's download began to its last byte; None if incomplete.

    This is the node's own clock (``seconds`` stops at completion), so the time a
    simulated process takes to start (imports, session setup: a customer's app is
    already running) is left out; see `startup_seconds`.
    """
    done = next((s for s in samples if s.complete), None)
    return done.seconds if done is not None else None


def startup_seconds(samples: Sequence[StatusSample], started_unix: float) -> float | None:
    """Seconds from the client's process start to when its download began."""
    if not samples:
        return None
    first = samples[0]
    return max(0.0, first.t_unix - first.seconds - started_unix)


def client_outcome(
    plan: ClientPlan,
    fate: Fate,
    samples: Sequence[StatusSample],
    summary: Mapping[str, object] | None,
    started_unix: float | None,
) -> ClientOutcome:
    """Combine a client's plan, fate and observations; the final summary's byte
    counters win over the last sample's (a summary is printed at exit, after the
    last sample, and counts what was uploaded while seeding)."""
    last = samples[-1] if samples else None

    def counter(key: str, from_sample: int) -> int:
        value = summary.get(key) if summary is not None else None
        return int(value) if isinstance(value, int) else from_sample

    return ClientOutcome(
        name=plan.name, address=plan.address, link=plan.link,
        download_bps=plan.download_bps, upload_bps=plan.upload_bps,
        arrival_s=plan.arrival_s, fate=fate,
        startup_s=startup_seconds(samples, started_unix) if started_unix is not None else None,
        completion_s=completion_seconds(samples) if fate is Fate.COMPLETE else None,
        bytes_from_origin=counter("bytes_from_origin", last.bytes_from_origin if last else 0),
        bytes_from_peers=counter("bytes_from_peers", last.bytes_from_peers if last else 0),
        bytes_uploaded=counter("bytes_uploaded", last.bytes_uploaded if last else 0),
    )


@dataclass(frozen=True)
class SwarmFigures:
    """The swarm's figures; N counts the clients meant to complete (no churn, no kills)."""

    film_bytes: int
    clients: int
    completed: int
    origin_bytes: int
    peer_bytes: int
    delivered_bytes: int
    origin_copies: float
    offload: float
    offload_limit: float
    t_min_s: float
    completion_p50_s: float | None
    completion_p95_s: float | None
    p50_over_t_min: float | None
    p95_over_t_min: float | None
    cdn_egress_saved_gb: float
    """For `RENTALS_PER_REPORT` rentals of this film at this offload."""
    rentals: int = RENTALS_PER_REPORT

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def swarm_figures(
    outcomes: Sequence[ClientOutcome], film_bytes: int, origin_upload_bps: int
) -> SwarmFigures:
    """The swarm's figures from its clients' outcomes; ``film_bytes`` is what moves
    (the encrypted container). Raises `ValueError` for no outcomes."""
    if not outcomes:
        raise ValueError("no clients")
    meant = [o for o in outcomes if o.fate.meant_to_complete] or list(outcomes)
    origin_bytes = sum(o.bytes_from_origin for o in outcomes)
    peer_bytes = sum(o.bytes_from_peers for o in outcomes)
    delivered = origin_bytes + peer_bytes
    t_min = kumar_ross_t_min(film_bytes, origin_upload_bps,
                             [o.download_bps for o in meant], [o.upload_bps for o in meant])
    times = [o.completion_s for o in outcomes if o.completion_s is not None]
    p50 = percentile(times, 50) if times else None
    p95 = percentile(times, 95) if times else None
    share = offload(origin_bytes, delivered)

    def over_t_min(value: float | None) -> float | None:
        return value / t_min if value is not None and t_min > 0 else None

    return SwarmFigures(
        film_bytes=film_bytes,
        clients=len(meant),
        completed=sum(o.fate is Fate.COMPLETE for o in outcomes),
        origin_bytes=origin_bytes,
        peer_bytes=peer_bytes,
        delivered_bytes=delivered,
        origin_copies=origin_copies(origin_bytes, film_bytes),
        offload=share,
        offload_limit=offload_limit(len(meant)),
        t_min_s=t_min,
        completion_p50_s=p50,
        completion_p95_s=p95,
        p50_over_t_min=over_t_min(p50),
        p95_over_t_min=over_t_min(p95),
        cdn_egress_saved_gb=cdn_egress_saved_gb(film_bytes, share, RENTALS_PER_REPORT),
    )
