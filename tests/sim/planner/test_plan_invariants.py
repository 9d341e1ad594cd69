"""Whole-plan invariants: consent and catalogue size move offload the way they must."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.planner.config import PlanConfig
from sim.planner.planning import run_plan, upload_sweep

from .conftest import with_clients


@pytest.mark.parametrize("per_swarm_gbps", [0.0, 0.05])  # 0.05: warm start, super-seeding
def test_more_consent_never_gives_less_offload(small_config: PlanConfig,
                                               per_swarm_gbps: float) -> None:
    config = dataclasses.replace(small_config, origin=dataclasses.replace(
        small_config.origin, per_swarm_gbps=per_swarm_gbps))
    shares = [run_plan(with_clients(config, share_consent=c)).figures.offload
              for c in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert shares[0] == pytest.approx(0.0, abs=1e-9)
    assert shares == sorted(shares)
    assert shares[-1] > 0.3


def test_doubling_the_catalogue_at_the_same_rentals_never_gives_more_offload(
        small_config: PlanConfig) -> None:
    shares = []
    for films in (25, 50, 100, 200):
        config = dataclasses.replace(
            small_config, catalogue=dataclasses.replace(small_config.catalogue, films=films))
        shares.append(run_plan(config).figures.offload)
    assert shares == sorted(shares, reverse=True)


def test_nobody_connectable_means_no_offload(small_config: PlanConfig) -> None:
    none = run_plan(with_clients(small_config, connectable_share=0.0)).figures
    assert none.offload == pytest.approx(0.0, abs=1e-9)


def test_head_films_offload_more_than_the_tail(small_config: PlanConfig) -> None:
    head, torso, tail = run_plan(small_config).classes
    assert head.offload > tail.offload
    assert head.rentals + torso.rentals + tail.rentals == run_plan(small_config).figures.rentals


def test_figures_add_up(small_config: PlanConfig) -> None:
    result = run_plan(small_config)
    f = result.figures
    assert result.hourly_cdn_egress_tb.sum() == pytest.approx(f.cdn_egress_tb)
    assert f.cdn_egress_gb_per_1000_rentals == pytest.approx(
        f.cdn_egress_tb * 1000 / f.rentals * 1000)
    assert f.cost_usd == pytest.approx(f.cdn_egress_tb * 1000 * small_config.price.usd_per_gb)
    assert 0 < f.peak_origin_gbps <= small_config.origin.gbps


def test_server_share_crosses_over_at_upload_equal_to_demand(
        small_config: PlanConfig) -> None:
    # Huang, Li & Ross: server load large below upload/demand 1, small above it.
    busy = with_clients(small_config, share_consent=1.0, connectable_share=1.0,
                        seed_for_h=0.0)
    busy = dataclasses.replace(busy, catalogue=dataclasses.replace(busy.catalogue, films=3))
    points = upload_sweep(busy, ratios=(0.25, 0.5, 2.0, 4.0))
    low = [p.server_share for p in points if p.upload_demand_ratio < 1]
    high = [p.server_share for p in points if p.upload_demand_ratio > 1]
    assert min(low) > 0.4
    assert max(high) < 0.25
    assert [p.server_share for p in points] == sorted(
        (p.server_share for p in points), reverse=True)


def test_the_warm_up_keeps_the_first_hour_from_a_cold_start(small_config: PlanConfig) -> None:
    flat = dataclasses.replace(small_config, audience=dataclasses.replace(
        small_config.audience, days=1.0, diurnal=()))
    cold = dataclasses.replace(flat, model=dataclasses.replace(flat.model, warmup_h=0.0))
    warm_hours = run_plan(flat).hourly_cdn_egress_tb
    cold_hours = run_plan(cold).hourly_cdn_egress_tb
    assert cold_hours[0] > 1.5 * float(np.median(cold_hours))
    assert warm_hours[0] < 1.5 * float(np.median(warm_hours))


def test_longer_seeding_never_gives_less_offload(small_config: PlanConfig) -> None:
    shares = [run_plan(with_clients(small_config, seed_for_h=h)).figures.offload
              for h in (0.0, 0.5, 1.0, 2.0)]
    assert shares == sorted(shares)
