"""What a simulation runs: frozen dataclasses with units in their field names.

A `Scenario` describes an audience, not a run: per-client rates may be a weighted
mix of link profiles and arrivals a random process; `sim.scenario.plan.plan_swarm` turns it
into one concrete, reproducible plan with a seed. Rates are bytes/s and ``0``
means unlimited, as on the command line. Every value is checked on construction;
messages name the TOML key (``clients.churn_fraction``) so they read well both for
scenario files and for code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from sim.errors import ScenarioError
from sim.scenario.hosts import HostsSpec
from sim.scenario.network import NetworkSpec

__all__ = [
    "MIB",
    "Arrivals",
    "ClientsSpec",
    "EventAction",
    "FlashCrowd",
    "LinkProfile",
    "NetworkSpec",
    "OriginSpec",
    "PoissonArrivals",
    "Scenario",
    "SimEvent",
    "StopHow",
]

MIB = 1024 * 1024


def _finite(name: str, value: float, *, minimum: float = 0.0, strict: bool = False) -> None:
    if not math.isfinite(value):
        raise ScenarioError(f"{name} must be a finite number, got {value}")
    if value < minimum or (strict and value == minimum):
        relation = "greater than" if strict else "at least"
        raise ScenarioError(f"{name} must be {relation} {minimum:g}, got {value:g}")


def _rate(name: str, value: int) -> None:
    if value < 0:
        raise ScenarioError(f"{name} must not be negative (bytes/s, 0 = unlimited), got {value}")


@dataclass(frozen=True)
class LinkProfile:
    """One kind of home connection; ``weight`` is its share in a mix (any positive scale)."""

    name: str
    download_bps: int
    upload_bps: int
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ScenarioError("clients.links: every link profile needs a non-empty name")
        _rate(f"link {self.name!r} download_bps", self.download_bps)
        _rate(f"link {self.name!r} upload_bps", self.upload_bps)
        _finite(f"link {self.name!r} weight", self.weight, strict=True)


@dataclass(frozen=True)
class OriginSpec:
    """The operator's origin seeder: its upload cap, and whether it super-seeds (BEP 16)."""

    upload_bps: int
    super_seed: bool = True

    def __post_init__(self) -> None:
        _rate("origin.upload_bps", self.upload_bps)


@dataclass(frozen=True)
class ClientsSpec:
    """The audience: how many, their links, how long they share, how many give up."""

    count: int
    links: tuple[LinkProfile, ...]
    seed_after_completion_s: float = 0.0
    churn_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ScenarioError(f"clients.count must be at least 1, got {self.count}")
        if not self.links:
            raise ScenarioError("clients needs download_bps/upload_bps or [[clients.links]]")
        names = [link.name for link in self.links]
        if len(set(names)) != len(names):
            raise ScenarioError(f"clients.links: duplicate link names in {names}")
        _finite("clients.seed_after_completion_s", self.seed_after_completion_s)
        _finite("clients.churn_fraction", self.churn_fraction)
        if self.churn_fraction > 1:
            raise ScenarioError(
                f"clients.churn_fraction must be in [0, 1], got {self.churn_fraction:g}"
            )


@dataclass(frozen=True)
class FlashCrowd:
    """Every client arrives at a uniformly random time within ``within_s`` seconds."""

    within_s: float = 0.0

    def __post_init__(self) -> None:
        _finite("arrivals.within_s", self.within_s)


@dataclass(frozen=True)
class PoissonArrivals:
    """Clients arrive as a Poisson process: either at rate ``rate_per_s`` (exponential gaps),
    or, with ``window_s``, as the process conditioned on all of them arriving in the window.
    Exactly one of the two is set.
    """

    rate_per_s: float | None = None
    window_s: float | None = None

    def __post_init__(self) -> None:
        if (self.rate_per_s is None) == (self.window_s is None):
            raise ScenarioError("arrivals: a poisson process needs exactly one of "
                                "rate_per_s or window_s")
        if self.rate_per_s is not None:
            _finite("arrivals.rate_per_s", self.rate_per_s, strict=True)
        if self.window_s is not None:
            _finite("arrivals.window_s", self.window_s, strict=True)


Arrivals = FlashCrowd | PoissonArrivals


class EventAction(StrEnum):
    """What happens at an event's time."""

    ORIGIN_DOWN = "origin-down"
    ORIGIN_UP = "origin-up"
    TRACKER_DOWN = "tracker-down"
    TRACKER_UP = "tracker-up"
    TRACKER_RESTART = "tracker-restart"
    CLIENT_KILL = "client-kill"
    CLIENT_PARTITION = "client-partition"  # cut off the network (docker backend)
    CLIENT_HEAL = "client-heal"  # back on the network after a partition


CLIENT_ACTIONS = frozenset(
    {EventAction.CLIENT_KILL, EventAction.CLIENT_PARTITION, EventAction.CLIENT_HEAL}
)


class StopHow(StrEnum):
    """How a process is stopped: ``kill`` is a crash (SIGKILL), ``term`` a clean stop."""

    KILL = "kill"
    TERM = "term"


@dataclass(frozen=True)
class SimEvent:
    """An event at ``at_s`` seconds after the swarm starts; ``client`` numbers from 1."""

    at_s: float
    action: EventAction
    client: int | None = None
    how: StopHow = StopHow.KILL

    def __post_init__(self) -> None:
        _finite("events.at_s", self.at_s)
        if (self.action in CLIENT_ACTIONS) != (self.client is not None):
            raise ScenarioError(
                f"events: 'client' is required for client-kill, client-partition and "
                f"client-heal and only for them (event {self.action} at {self.at_s:g} s)"
            )
        if self.client is not None and self.client < 1:
            raise ScenarioError(f"events: client numbers start at 1, got {self.client}")


@dataclass(frozen=True)
class Scenario:
    """A whole simulation: film, origin, audience, arrivals, events, limits and, for
    home-network scenarios, the homes' routers and ISPs."""

    name: str
    film_mib: float
    origin: OriginSpec
    clients: ClientsSpec
    arrivals: Arrivals
    events: tuple[SimEvent, ...] = ()
    description: str = ""
    seed: int = 1
    timeout_s: float = 600.0
    network: NetworkSpec | None = None
    """Homes behind routers and ISPs (the ``[network]`` part); None: every client sits
    directly on the backend's one network."""
    hosts: HostsSpec | None = None
    """Pre-positioning (the ``[hosts]`` part): K hosts placed before the release."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ScenarioError("name must not be empty")
        _finite("film_mib", self.film_mib, strict=True)
        _finite("timeout_s", self.timeout_s, strict=True)
        for event in self.events:
            if event.client is not None and event.client > self.clients.count:
                raise ScenarioError(
                    f"events: {event.action} at {event.at_s:g} s names client {event.client} "
                    f"but there are {self.clients.count} clients"
                )
        _check_event_order(self.events)

    @property
    def film_bytes(self) -> int:
        """The plaintext film size in bytes (the container adds a little)."""
        return int(self.film_mib * MIB)


def _check_event_order(events: tuple[SimEvent, ...]) -> None:
    """Refuse sequences that cannot happen: the origin going down twice, up while up, ..."""
    up = {"origin": True, "tracker": True}
    for event in sorted(events, key=lambda e: e.at_s):
        target, _, change = event.action.value.partition("-")
        if target not in up:
            continue
        wanted = {"down": True, "up": False, "restart": True}[change]
        if up[target] != wanted:
            state = "up" if up[target] else "down"
            raise ScenarioError(
                f"events: {event.action} at {event.at_s:g} s but the {target} is already {state}"
            )
        up[target] = change != "down"
