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


def test_rerun_stores_every_run_and_refits(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    # The simulator itself takes minutes: stand in for `peernode sim` with the stored runs.
    import subprocess

    from sim.planner import cli, origin_policy

    calls: list[list[str]] = []

    def fake_sim(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        name = Path(argv[argv.index("sim") + 1]).stem
        stored = MeasuredRun.load(CALIBRATION_DIR / f"{name}.json")
        figures = {"film_bytes": stored.film_bytes, "clients": stored.clients,
                   "origin_bytes": stored.origin_bytes,
                   "delivered_bytes": stored.delivered_bytes_runs[0]}
        out = Path(argv[argv.index("--out") + 1])
        (out / "report.json").write_text(json.dumps(
            {"figures": figures, "seed": 1, "backend": "local"}))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(cli.subprocess, "run", fake_sim)
    monkeypatch.setattr(cli, "_commit", lambda _: "0" * 40)
    monkeypatch.setattr(origin_policy, "CALIBRATION_DIR", tmp_path)
    cli._rerun(2)
    assert len(calls) == 2 * len(CALIBRATION_SCENARIOS)
    for name in CALIBRATION_SCENARIOS:
        record = MeasuredRun.load(tmp_path / f"{name}.json")
        assert len(record.origin_bytes_runs) == 2
        assert record.simulator_commit == "0" * 40
    fitted = json.loads((tmp_path / origin_policy.FITTED_FILE).read_text())
    assert 0 < fitted["super_seed_rate_share"] <= 1
