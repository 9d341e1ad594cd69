"""Drawing a plan's rentals, and who can connect to whom."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.planner.config import ClientsSpec, LinkClass, PlanConfig
from sim.planner.errors import PlanError
from sim.planner.workload import build_workload, pair_connectivity

LINK = (LinkClass("all", 100, 20),)


@pytest.mark.parametrize(("mix", "expected"), [
    ((("public", 1.0),), 1.0),
    ((("nat", 1.0),), 0.0),
    ((("nat", 0.5), ("nat-upnp", 0.5)), 0.75),
    ((("v6-only", 0.5), ("public", 0.5)), 0.5),  # v6-only meets public over nothing
    ((("v6-only", 0.5), ("dual-stack", 0.5)), 1.0),
])
def test_router_mix_connectivity(mix: tuple[tuple[str, float], ...], expected: float) -> None:
    assert pair_connectivity(ClientsSpec(links=LINK, router_mix=mix)) == pytest.approx(expected)


def test_connectable_share_connectivity() -> None:
    assert pair_connectivity(ClientsSpec(links=LINK, connectable_share=0.6)) == pytest.approx(
        1 - 0.4**2)


def test_unknown_router_kind_is_named() -> None:
    with pytest.raises(PlanError, match=r"clients\.router_mix\.cgnat"):
        ClientsSpec(links=LINK, router_mix=(("cgnat", 1.0),))


def test_rentals_follow_the_volume_and_popularity(small_config: PlanConfig) -> None:
    work = build_workload(small_config, 1.2)
    warmup = work.inputs.warmup_steps
    in_plan = work.rentals.arrival_step >= warmup
    assert in_plan.sum() == pytest.approx(1500, rel=0.1)  # 3,000 a day for half a day
    counts = np.bincount(work.rentals.film, minlength=50)
    assert counts[0] > counts[10] > counts[49]
    assert (np.diff(work.rentals.arrival_step) >= 0).all()


def test_more_consent_shares_a_superset_of_the_rentals(small_config: PlanConfig) -> None:
    def sharing(consent: float) -> np.ndarray:
        clients = dataclasses.replace(small_config.clients, share_consent=consent)
        work = build_workload(dataclasses.replace(small_config, clients=clients), 1.2)
        return work.rentals.upload_bps > 0

    low, high = sharing(0.3), sharing(0.6)
    assert (high | ~low).all()
    assert high.sum() > low.sum()


def test_premieres_get_no_rentals_before_release(small_config: PlanConfig) -> None:
    cat = dataclasses.replace(small_config.catalogue, new_releases=1, release_boost=5.0)
    work = build_workload(dataclasses.replace(small_config, catalogue=cat), 1.2)
    first = work.rentals.arrival_step[work.rentals.film == 0].min()
    warmup = work.inputs.warmup_steps
    release = warmup + (work.inputs.steps - warmup) / 2  # one premiere: mid-plan
    assert first >= release - 60  # popularity is drawn hour by hour (60 steps)
    assert (work.rentals.film == 0).sum() > 100
