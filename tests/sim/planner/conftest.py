"""Small plans and hand-built swarms for the planner's tests (each runs in well under 1 s)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from sim.planner.config import (
    AudienceSpec,
    CatalogueSpec,
    ClientsSpec,
    LinkClass,
    ModelSpec,
    OriginSpec,
    PlanConfig,
)
from sim.planner.swarm_model import Rentals

SMALL_PLAN = """\
[catalogue]
films = 50
film_gb = 2.0
zipf_s = 0.9
[audience]
rentals_per_day = 3000
days = 0.5
diurnal = "evening"
[clients]
upload_mbps = 20
download_mbps = 100
share_consent = 0.7
seed_for_h = 1
connectable_share = 0.6
[origin]
gbps = 100
[price]
usd_per_gb = 0.01
"""


def rentals(arrival_step: list[int], *, film: list[int] | None = None,
            down: float = 4e6, up: float = 4e6, size: float = 64e6,
            seed_steps: int = 0) -> Rentals:
    """Rentals of equal clients (bytes/s), sorted as given."""
    n = len(arrival_step)
    return Rentals(
        film=np.array(film if film is not None else [0] * n, np.int64),
        arrival_step=np.array(arrival_step, np.int64),
        download_bps=np.full(n, down), upload_bps=np.full(n, up),
        target_bytes=np.full(n, size), seed_steps=np.full(n, seed_steps, np.int64),
    )


@pytest.fixture
def small_config() -> PlanConfig:
    """A half-day plan of 50 films and 1,500 rentals."""
    return PlanConfig(
        catalogue=CatalogueSpec(films=50, film_gb=2.0, zipf_s=0.9, head_films=5,
                                torso_films=20),
        audience=AudienceSpec(rentals_per_day=3000, days=0.5),
        clients=ClientsSpec(links=(LinkClass("all", 100, 20),), share_consent=0.7,
                            seed_for_h=1.0, connectable_share=0.6),
        origin=OriginSpec(gbps=100),
        model=ModelSpec(step_s=60),
    )


def with_clients(config: PlanConfig, **changes: Any) -> PlanConfig:
    return dataclasses.replace(config, clients=dataclasses.replace(config.clients, **changes))
