"""The model against the simulator's stored measurements: within the tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.planner.calibration import CALIBRATION_SCENARIOS, TOLERANCE, calibrate
from sim.planner.errors import PlanError
from sim.planner.origin_policy import CALIBRATION_DIR, MeasuredRun


def test_every_scenario_is_predicted_within_the_tolerance() -> None:
    results = calibrate()
    assert [r.name for r in results] == list(CALIBRATION_SCENARIOS)
    for r in results:
        assert abs(r.error) <= TOLERANCE, r


def test_stored_records_name_their_scenario_and_simulator_commit() -> None:
    for name in CALIBRATION_SCENARIOS:
        record = MeasuredRun.load(CALIBRATION_DIR / f"{name}.json")
        assert record.scenario == name
        assert len(record.simulator_commit) == 40
        assert record.origin_bytes >= record.film_bytes  # at least one copy


def test_a_malformed_record_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flash-crowd.json"
    path.write_text(json.dumps({"scenario": "flash-crowd"}))
    with pytest.raises(PlanError, match="not a calibration record"):
        MeasuredRun.load(path)
