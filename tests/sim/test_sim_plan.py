"""Planning: reproducible from a seed, arrivals, link mix, churn, addresses."""

from __future__ import annotations

import random

import pytest

from sim import (
    LOOPBACK_POOL,
    AddressPool,
    ClientsSpec,
    EventAction,
    FlashCrowd,
    LinkProfile,
    PoissonArrivals,
    ScenarioError,
    SimEvent,
    arrival_times,
    plan_swarm,
)
from sim.scenario.plan import CHURN_PROGRESS_RANGE

from .conftest import make_scenario


def test_the_same_seed_gives_the_same_plan() -> None:
    s = make_scenario(count=10, arrivals=PoissonArrivals(rate_per_s=0.5))
    first = plan_swarm(s, LOOPBACK_POOL, random.Random(42))
    assert plan_swarm(s, LOOPBACK_POOL, random.Random(42)) == first
    assert plan_swarm(s, LOOPBACK_POOL, random.Random(43)) != first


def test_flash_crowd_arrives_within_its_window_in_order() -> None:
    times = arrival_times(FlashCrowd(within_s=3.0), 50, random.Random(1))
    assert times == sorted(times)
    assert all(0 <= t < 3.0 for t in times)


def test_flash_crowd_of_zero_seconds_starts_everyone_together() -> None:
    assert arrival_times(FlashCrowd(), 5, random.Random(1)) == [0.0] * 5


def test_poisson_at_a_rate_starts_at_zero_with_exponential_gaps() -> None:
    rng = random.Random(3)
    times = arrival_times(PoissonArrivals(rate_per_s=2.0), 4, rng)
    expected_rng = random.Random(3)
    gaps = [expected_rng.expovariate(2.0) for _ in range(3)]
    assert times == pytest.approx([0.0, gaps[0], gaps[0] + gaps[1], sum(gaps)])


def test_poisson_rate_gives_the_expected_mean_gap() -> None:
    times = arrival_times(PoissonArrivals(rate_per_s=0.5), 2001, random.Random(5))
    assert times[-1] / 2000 == pytest.approx(2.0, rel=0.1)


def test_poisson_over_a_window_stays_in_it() -> None:
    times = arrival_times(PoissonArrivals(window_s=60.0), 30, random.Random(1))
    assert times == sorted(times)
    assert all(0 <= t < 60 for t in times)


def test_clients_are_numbered_in_arrival_order_on_their_own_addresses() -> None:
    plan = plan_swarm(make_scenario(count=6), LOOPBACK_POOL, random.Random(1))
    assert [c.name for c in plan.clients] == [f"client-{i}" for i in range(1, 7)]
    assert [c.address for c in plan.clients] == [f"127.1.0.{i}" for i in range(1, 7)]
    assert [c.arrival_s for c in plan.clients] == sorted(c.arrival_s for c in plan.clients)
    assert plan.client(3) is plan.clients[2]


def test_a_weighted_link_mix_is_sampled_by_weight() -> None:
    links = (LinkProfile("fibre", 50_000_000, 10_000_000, weight=1),
             LinkProfile("adsl", 8_000_000, 1_000_000, weight=3))
    s = make_scenario(clients=ClientsSpec(count=254, links=links))
    plan = plan_swarm(s, LOOPBACK_POOL, random.Random(2))
    adsl = [c for c in plan.clients if c.link == "adsl"]
    assert 0.65 < len(adsl) / 254 < 0.85
    assert all((c.download_bps, c.upload_bps) == (8_000_000, 1_000_000) for c in adsl)


def test_churn_picks_that_share_of_clients_to_quit_mid_download() -> None:
    links = (LinkProfile("fixed", 1, 1),)
    s = make_scenario(clients=ClientsSpec(count=20, links=links, churn_fraction=0.25,
                                          seed_after_completion_s=30))
    plan = plan_swarm(s, LOOPBACK_POOL, random.Random(1))
    quitting = [c.quit_at_progress for c in plan.clients if c.quit_at_progress is not None]
    assert len(quitting) == 5
    low, high = CHURN_PROGRESS_RANGE
    assert all(low <= q <= high for q in quitting)
    assert all(c.seed_after_completion_s == 30 for c in plan.clients)


def test_events_are_sorted_by_time() -> None:
    events = (SimEvent(9.0, EventAction.ORIGIN_UP), SimEvent(3.0, EventAction.ORIGIN_DOWN))
    plan = plan_swarm(make_scenario(events=events), LOOPBACK_POOL, random.Random(1))
    assert [e.at_s for e in plan.events] == [3.0, 9.0]


def test_an_address_pool_knows_its_capacity() -> None:
    pool = AddressPool("10.0.0.1", "10.0.0.2", "10.1.0.0/30")
    assert pool.capacity == 2
    assert [pool.client_address(0), pool.client_address(1)] == ["10.1.0.1", "10.1.0.2"]
    with pytest.raises(ScenarioError, match="client 3 has no address"):
        pool.client_address(2)
    assert LOOPBACK_POOL.capacity == 254


def test_a_plan_is_json_ready() -> None:
    plan = plan_swarm(make_scenario(count=2), LOOPBACK_POOL, random.Random(1))
    clients = plan.to_json()["clients"]
    assert isinstance(clients, list)
    assert [c["name"] for c in clients] == ["client-1", "client-2"]
