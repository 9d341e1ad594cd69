"""The model beside the simulator: each scenario through the model, against what it measured.

The measured figures are small JSON records in ``sim/planner/calibration/`` (one per
scenario: its name, the simulator commit, the origin bytes measured), so calibrating
needs no simulator run; ``peernode plan --calibrate --rerun`` regenerates them.

Two of the model's constants come from these records (`sim.planner.origin_policy`):
copies per session from the flash crowd, the super-seeder's rate share from the
asymmetric crowd; poisson (mixed links, late arrivals, churn) is fitted to nothing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.planner.errors import PlanError
from sim.planner.origin_policy import (
    CALIBRATION_DIR,
    SUPER_SEED_SILENCE_S,
    WARM_START_CAP_SHARE,
    MeasuredRun,
    measured_copies_per_session,
    super_seed_rate_share,
)
from sim.planner.swarm_model import Rentals, SwarmInputs, run_swarms
from sim.scenario.addresses import AddressPool
from sim.scenario.model import Scenario
from sim.scenario.plan import plan_swarm
from sim.scenario.toml_file import load_scenario

__all__ = [
    "CALIBRATION_DIR",
    "CALIBRATION_SCENARIOS",
    "CALIBRATION_STEP_S",
    "SCENARIO_DIR",
    "TOLERANCE",
    "CalibrationResult",
    "MeasuredRun",
    "calibrate",
    "fit_super_seed_rate_share",
    "measured_copies_per_session",
    "predict_origin_bytes",
]

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
CALIBRATION_SCENARIOS = ("flash-crowd", "asymmetric", "poisson")
CALIBRATION_STEP_S = 0.1
"""The simulator's swarms last seconds to minutes, so the model steps 0.1 s for them."""
TOLERANCE = 0.10
"""The goal: |predicted - measured| / measured at most this, for every scenario."""


@dataclass(frozen=True)
class CalibrationResult:
    """Predicted against measured origin bytes for one scenario."""

    name: str
    predicted_origin_bytes: int
    measured_origin_bytes: int

    @property
    def error(self) -> float:
        """(predicted - measured) / measured."""
        return (self.predicted_origin_bytes - self.measured_origin_bytes) \
            / self.measured_origin_bytes

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "predicted_origin_bytes": self.predicted_origin_bytes,
                "measured_origin_bytes": self.measured_origin_bytes,
                "error": round(self.error, 4)}


def _unlimited(rate_bps: int) -> float:
    return math.inf if rate_bps == 0 else float(rate_bps)


def predict_origin_bytes(scenario: Scenario, film_bytes: int, copies_per_session: float,
                         rate_share: float, step_s: float = CALIBRATION_STEP_S) -> float:
    """The model's origin bytes for ``scenario``'s seeded plan (the simulator's own plan:
    arrivals, links, who churns), moving ``film_bytes`` (the encrypted container)."""
    pool = AddressPool(tracker_host="127.0.0.1", origin_host="127.0.0.2",
                       client_network="127.1.0.0/16")
    plan = plan_swarm(scenario, pool, random.Random(scenario.seed))  # noqa: S311
    clients = sorted(plan.clients, key=lambda c: c.arrival_s)
    n = len(clients)
    share = rate_share if scenario.origin.super_seed else 1.0
    origin_bps = _unlimited(scenario.origin.upload_bps)
    rentals = Rentals(
        film=np.zeros(n, np.int64),
        arrival_step=np.array([int(c.arrival_s // step_s) for c in clients], np.int64),
        download_bps=np.array([_unlimited(c.download_bps) for c in clients]),
        upload_bps=np.array([_unlimited(c.upload_bps) for c in clients]),
        target_bytes=np.array([film_bytes * (c.quit_at_progress or 1.0) for c in clients]),
        seed_steps=np.array([round(c.seed_after_completion_s / step_s) for c in clients],
                            np.int64),
    )
    inputs = SwarmInputs(
        film_bytes=np.array([float(film_bytes)]), step_s=step_s,
        steps=math.ceil(scenario.timeout_s / step_s),
        origin_capacity_bps=origin_bps * share if math.isfinite(origin_bps) else 0.0,
        origin_per_swarm_bps=origin_bps * share if math.isfinite(origin_bps) else 0.0,
        copies_per_session=copies_per_session,
        warm_start_bps=origin_bps * WARM_START_CAP_SHARE if math.isfinite(origin_bps) else 0.0,
        warm_start_silence_s=SUPER_SEED_SILENCE_S if scenario.origin.super_seed else 0.0,
    )
    return float(run_swarms(rentals, inputs).origin_bytes_per_film[0])


def calibrate(directory: Path = CALIBRATION_DIR,
              scenario_dir: Path = SCENARIO_DIR) -> list[CalibrationResult]:
    """Every calibration scenario through the model beside its stored measurement.

    Raises `PlanError` when a record or scenario file is missing or malformed.
    """
    kappa = measured_copies_per_session(directory)
    share = super_seed_rate_share(directory)
    results = []
    for name in CALIBRATION_SCENARIOS:
        record = directory / f"{name}.json"
        if not record.exists():
            raise PlanError(f"{record}: no measured run stored (run plan --calibrate --rerun)")
        run = MeasuredRun.load(record)
        scenario = load_scenario(scenario_dir / f"{name}.toml")
        predicted = predict_origin_bytes(scenario, run.film_bytes, kappa, share)
        results.append(CalibrationResult(name, round(predicted), run.origin_bytes))
    return results


FIT_SCENARIO = "asymmetric"
"""The one origin-bound scenario: its origin bytes measure the super-seeder's rate."""


def fit_super_seed_rate_share(directory: Path = CALIBRATION_DIR,
                              scenario_dir: Path = SCENARIO_DIR) -> dict[str, object]:
    """Fit the super-seeder's rate share to the asymmetric crowd's measured origin bytes
    (bisection: the model's origin bytes grow with the share); returns the contents of
    ``fitted.json``. Raises `PlanError` for a missing record."""
    run = MeasuredRun.load(directory / f"{FIT_SCENARIO}.json")
    scenario = load_scenario(scenario_dir / f"{FIT_SCENARIO}.toml")
    kappa = measured_copies_per_session(directory)
    low, high = 0.05, 1.0
    for _ in range(14):
        mid = (low + high) / 2
        if predict_origin_bytes(scenario, run.film_bytes, kappa, mid) < run.origin_bytes:
            low = mid
        else:
            high = mid
    return {"super_seed_rate_share": round((low + high) / 2, 3), "fitted_to": FIT_SCENARIO,
            "origin_bytes": run.origin_bytes, "simulator_commit": run.simulator_commit}
