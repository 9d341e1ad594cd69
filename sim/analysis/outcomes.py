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
    attribution_gap,
    cdn_egress_saved_gb,
    kumar_ross_t_min,
    offload,
    offload_limit,
    origin_copies,
    percentile,
    percentile_of_all,
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
    completion_from_arrival_s: float | None
    """From its scenario arrival (the customer pressed "rent") to its last byte; None
    unless complete. Includes start-up and any lag in starting it."""
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


def completion_from_arrival(
    samples: Sequence[StatusSample], arrival_unix: float
) -> float | None:
    """Seconds from the client's arrival (unix time) to its last byte; None if incomplete."""
    done = next((s for s in samples if s.complete), None)
    return max(0.0, done.t_unix - arrival_unix) if done is not None else None


def client_outcome(
    plan: ClientPlan,
    fate: Fate,
    samples: Sequence[StatusSample],
    summary: Mapping[str, object] | None,
    started_unix: float | None,
    *,
    arrival_unix: float | None = None,
) -> ClientOutcome:
    """Combine a client's plan, fate and observations; the final summary's byte
    counters win over the last sample's (a summary is printed at exit, after the
    last sample, and counts what was uploaded while seeding).

    ``arrival_unix`` is when the scenario wanted the client to arrive (the run's start
    plus its arrival offset); without it, its process start stands in.
    """
    last = samples[-1] if samples else None
    arrived = arrival_unix if arrival_unix is not None else started_unix
    complete = fate is Fate.COMPLETE

    def counter(key: str, from_sample: int) -> int:
        value = summary.get(key) if summary is not None else None
        return int(value) if isinstance(value, int) else from_sample

    return ClientOutcome(
        name=plan.name, address=plan.address, link=plan.link,
        download_bps=plan.download_bps, upload_bps=plan.upload_bps,
        arrival_s=plan.arrival_s, fate=fate,
        startup_s=startup_seconds(samples, started_unix) if started_unix is not None else None,
        completion_s=completion_seconds(samples) if complete else None,
        completion_from_arrival_s=(
            completion_from_arrival(samples, arrived) if complete and arrived is not None
            else None
        ),
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
    """From download start; clients meant to complete that did not count as not done,
    so a percentile is None ("not reached") when it falls on one of them."""
    completion_p95_s: float | None
    p50_over_t_min: float | None
    p95_over_t_min: float | None
    cdn_egress_saved_gb: float
    """For `RENTALS_PER_REPORT` rentals of this film at this offload (the measured one
    when the origin's own count is known)."""
    incomplete_clients: int = 0
    """Clients meant to complete that did not (failed or timed out)."""
    startup_p50_s: float | None = None
    completion_p50_from_arrival_s: float | None = None
    completion_p95_from_arrival_s: float | None = None
    p95_from_arrival_over_t_min: float | None = None
    p95_from_start_over_t_min: float | None = None
    origin_bytes_measured: int | None = None
    """Payload bytes the origin itself counted sending (where the CDN bills)."""
    origin_copies_measured: float | None = None
    offload_measured: float | None = None
    origin_copies_attributed: float = 0.0
    """Origin copies by the clients' own attribution (each block credited to the peer it
    was requested from)."""
    attribution_gap: float | None = None
    """(attributed - measured) / measured origin bytes."""
    rentals: int = RENTALS_PER_REPORT
    origin_bytes_kernel: int | None = None
    """Bytes the kernel counted leaving the origin's interface (payload, TLS and TCP/IP
    headers, retransmissions); None where the backend cannot count them."""
    arrival_spread_s: float | None = None
    """The largest gap between a client's planned and actual start; None: not measured."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def swarm_figures(
    outcomes: Sequence[ClientOutcome],
    film_bytes: int,
    origin_upload_bps: int,
    *,
    origin_bytes_measured: int | None = None,
    origin_bytes_kernel: int | None = None,
    arrival_spread_s: float | None = None,
) -> SwarmFigures:
    """The swarm's figures from its clients' outcomes; ``film_bytes`` is what moves
    (the encrypted container). ``origin_bytes_measured`` is the origin's own count of
    payload bytes sent for this film; when given, offload, copies and the CDN egress
    saved come from it, and the clients' attribution is shown beside it.
    ``origin_bytes_kernel`` and ``arrival_spread_s`` are reported as measured.

    Raises `ValueError` for no outcomes.
    """
    if not outcomes:
        raise ValueError("no clients")
    meant = [o for o in outcomes if o.fate.meant_to_complete] or list(outcomes)
    origin_bytes = sum(o.bytes_from_origin for o in outcomes)
    peer_bytes = sum(o.bytes_from_peers for o in outcomes)
    delivered = origin_bytes + peer_bytes
    t_min = kumar_ross_t_min(film_bytes, origin_upload_bps,
                             [o.download_bps for o in meant], [o.upload_bps for o in meant])
    unfinished = sum(o.fate.meant_to_complete and o.fate is not Fate.COMPLETE for o in meant)
    times = [o.completion_s for o in outcomes if o.completion_s is not None]
    from_arrival = [
        o.completion_from_arrival_s for o in outcomes if o.completion_from_arrival_s is not None
    ]
    startups = [o.startup_s for o in outcomes if o.startup_s is not None]
    p50 = percentile_of_all(times, unfinished, 50)
    p95 = percentile_of_all(times, unfinished, 95)
    a50 = percentile_of_all(from_arrival, unfinished, 50)
    a95 = percentile_of_all(from_arrival, unfinished, 95)
    measured_share = (
        offload(origin_bytes_measured, delivered) if origin_bytes_measured is not None else None
    )
    share = measured_share if measured_share is not None else offload(origin_bytes, delivered)

    def over_t_min(value: float | None) -> float | None:
        return value / t_min if value is not None and t_min > 0 else None

    return SwarmFigures(
        film_bytes=film_bytes,
        clients=len(meant),
        completed=sum(o.fate is Fate.COMPLETE for o in outcomes),
        origin_bytes=origin_bytes,
        peer_bytes=peer_bytes,
        delivered_bytes=delivered,
        origin_copies=origin_copies(
            origin_bytes if origin_bytes_measured is None else origin_bytes_measured, film_bytes
        ),
        offload=share,
        offload_limit=offload_limit(len(meant)),
        t_min_s=t_min,
        completion_p50_s=p50,
        completion_p95_s=p95,
        p50_over_t_min=over_t_min(p50),
        p95_over_t_min=over_t_min(p95),
        cdn_egress_saved_gb=cdn_egress_saved_gb(film_bytes, share, RENTALS_PER_REPORT),
        incomplete_clients=unfinished,
        startup_p50_s=percentile(startups, 50) if startups else None,
        completion_p50_from_arrival_s=a50,
        completion_p95_from_arrival_s=a95,
        p95_from_arrival_over_t_min=over_t_min(a95),
        p95_from_start_over_t_min=over_t_min(p95),
        origin_bytes_measured=origin_bytes_measured,
        origin_copies_measured=(
            origin_copies(origin_bytes_measured, film_bytes)
            if origin_bytes_measured is not None else None
        ),
        offload_measured=measured_share,
        origin_copies_attributed=origin_copies(origin_bytes, film_bytes),
        attribution_gap=(
            attribution_gap(origin_bytes, origin_bytes_measured)
            if origin_bytes_measured is not None else None
        ),
        origin_bytes_kernel=origin_bytes_kernel,
        arrival_spread_s=arrival_spread_s,
    )
