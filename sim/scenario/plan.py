"""Planning: a scenario and a seeded random source become one concrete swarm plan.

Pure: no I/O, no clock; the same scenario, address pool and seed always give the
same plan. Randomness is drawn in a fixed order (arrival times, then each client's
link, then who churns and where, then each client's home) so that changing one part
of a scenario does not reshuffle the others more than it must.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sim.errors import ScenarioError
from sim.scenario.addresses import AddressPool
from sim.scenario.home_planning import plan_homes
from sim.scenario.homes import HomePlan
from sim.scenario.hosts import HostPlan, plan_hosts
from sim.scenario.model import (
    Arrivals,
    FlashCrowd,
    LinkProfile,
    PoissonArrivals,
    Scenario,
    SimEvent,
)

__all__ = [
    "CHURN_PROGRESS_RANGE",
    "ClientPlan",
    "SwarmPlan",
    "arrival_times",
    "plan_swarm",
]

# A churning client quits somewhere in the middle of its download, not at the very
# start (that is a client that never came) nor at the end (that is a completion).
CHURN_PROGRESS_RANGE = (0.1, 0.9)


@dataclass(frozen=True)
class ClientPlan:
    """One client of a run: when it arrives, its link, and whether it quits part-way."""

    number: int
    """1-based, in order of arrival; events name clients by this number."""
    address: str
    arrival_s: float
    """Seconds after the swarm starts (origin and tracker up)."""
    link: str
    download_bps: int
    upload_bps: int
    seed_after_completion_s: float
    quit_at_progress: float | None = None
    """Churn: the client quits once this share of the film is downloaded."""
    home: HomePlan | None = None
    """Its home router and ISP when the scenario has a ``[network]`` part; None: the
    client sits directly on the backend's network (loopback, one docker bridge)."""

    @property
    def name(self) -> str:
        return f"client-{self.number}"


@dataclass(frozen=True)
class SwarmPlan:
    """Everything a backend needs to run one simulation."""

    scenario: Scenario
    addresses: AddressPool
    clients: tuple[ClientPlan, ...]
    events: tuple[SimEvent, ...]
    """The scenario's events in time order."""
    hosts: tuple[HostPlan, ...] = ()
    """Pre-positioning hosts, placed before the clients arrive (`sim.scenario.hosts`)."""

    def client(self, number: int) -> ClientPlan:
        """The client numbered ``number`` (1-based)."""
        return self.clients[number - 1]

    def to_json(self) -> dict[str, object]:
        """The plan as JSON-ready values (for report.json)."""
        return {
            "tracker_host": self.addresses.tracker_host,
            "origin_host": self.addresses.origin_host,
            "clients": [
                {
                    "name": c.name, "address": c.address, "arrival_s": round(c.arrival_s, 3),
                    "link": c.link, "download_bps": c.download_bps, "upload_bps": c.upload_bps,
                    "seed_after_completion_s": c.seed_after_completion_s,
                    "quit_at_progress": c.quit_at_progress,
                    "home": None if c.home is None else {
                        "number": c.home.number, "kind": c.home.kind.value,
                        "isp": c.home.isp},
                }
                for c in self.clients
            ],
            "events": [
                {"at_s": e.at_s, "action": e.action.value, "client": e.client,
                 "how": e.how.value}
                for e in self.events
            ],
            "hosts": [h.to_json() for h in self.hosts],
        }


def arrival_times(arrivals: Arrivals, count: int, rng: random.Random) -> list[float]:
    """``count`` arrival times in seconds, ascending.

    Flash crowd: uniform within ``within_s``. Poisson at ``rate_per_s``: the first
    client at 0 (no idle start), then exponential gaps of mean 1/rate. Poisson over
    ``window_s``: ``count`` uniform times in the window, which is the Poisson process
    conditioned on ``count`` arrivals there.
    """
    if isinstance(arrivals, FlashCrowd):
        return sorted(rng.uniform(0.0, arrivals.within_s) for _ in range(count))
    if isinstance(arrivals, PoissonArrivals):
        if arrivals.rate_per_s is not None:
            times = [0.0]
            while len(times) < count:
                times.append(times[-1] + rng.expovariate(arrivals.rate_per_s))
            return times
        if arrivals.window_s is not None:
            return sorted(rng.uniform(0.0, arrivals.window_s) for _ in range(count))
    raise ScenarioError(f"unsupported arrivals {arrivals!r}")


def _pick_link(links: tuple[LinkProfile, ...], rng: random.Random) -> LinkProfile:
    return rng.choices(links, weights=[link.weight for link in links])[0]


def plan_swarm(scenario: Scenario, addresses: AddressPool, rng: random.Random) -> SwarmPlan:
    """Plan a run of ``scenario`` on ``addresses``, drawing every random choice from ``rng``.

    Raises `ScenarioError` when the pool has fewer client addresses than the
    scenario has clients, or, for a scenario with a ``[network]`` part, room for fewer
    homes (one per client).
    """
    spec = scenario.clients
    if spec.count > addresses.capacity:
        raise ScenarioError(
            f"clients.count = {spec.count} but this backend has {addresses.capacity} client "
            f"addresses ({addresses.client_network})"
        )
    if scenario.network is not None and spec.count > addresses.home_capacity:
        raise ScenarioError(
            f"network: clients.count = {spec.count} homes (one per client) but this backend "
            f"has addresses for {addresses.home_capacity} homes"
        )
    times = arrival_times(scenario.arrivals, spec.count, rng)
    links = [_pick_link(spec.links, rng) for _ in range(spec.count)]
    churners = rng.sample(range(spec.count), round(spec.churn_fraction * spec.count))
    quit_at = {i: rng.uniform(*CHURN_PROGRESS_RANGE) for i in sorted(churners)}
    homes = (plan_homes(scenario.network, spec.count, rng) if scenario.network is not None
             else [None] * spec.count)
    clients = tuple(
        ClientPlan(
            number=i + 1,
            address=addresses.client_address(i),
            arrival_s=times[i],
            link=links[i].name,
            download_bps=links[i].download_bps,
            upload_bps=links[i].upload_bps,
            seed_after_completion_s=spec.seed_after_completion_s,
            quit_at_progress=quit_at.get(i),
            home=homes[i],
        )
        for i in range(spec.count)
    )
    events = tuple(sorted(scenario.events, key=lambda e: e.at_s))
    hosts = plan_hosts(scenario.hosts, addresses, spec.count)
    return SwarmPlan(scenario=scenario, addresses=addresses, clients=clients, events=events,
                     hosts=hosts)
