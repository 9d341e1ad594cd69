"""The capacity planner: a whole service's CDN egress from a flow-level swarm model.

Pure core (numpy): `PlanConfig` and `load_plan`, `build_workload`, `run_swarms`,
`run_plan`, `calibrate`. Shell: `write_plan_report` (report.md, report.json, plots) and
the ``peernode plan`` command (`sim.planner.cli`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

_LAZY = {
    "calibrate": "sim.planner.calibration",
    "CalibrationResult": "sim.planner.calibration",
    "EXAMPLE_PLAN": "sim.planner.toml_file",
    "load_plan": "sim.planner.toml_file",
    "MeasuredRun": "sim.planner.origin_policy",
    "PlanConfig": "sim.planner.config",
    "PlanError": "sim.planner.errors",
    "PlanResult": "sim.planner.planning",
    "plan_from_mapping": "sim.planner.toml_file",
    "Rentals": "sim.planner.swarm_model",
    "run_plan": "sim.planner.planning",
    "run_swarms": "sim.planner.swarm_model",
    "SwarmInputs": "sim.planner.swarm_model",
    "build_workload": "sim.planner.workload",
    "upload_sweep": "sim.planner.planning",
    "write_plan_report": "sim.planner.report",
}

if TYPE_CHECKING:
    from sim.planner.calibration import CalibrationResult, calibrate
    from sim.planner.config import PlanConfig
    from sim.planner.errors import PlanError
    from sim.planner.origin_policy import MeasuredRun
    from sim.planner.planning import PlanResult, run_plan, upload_sweep
    from sim.planner.report import write_plan_report
    from sim.planner.swarm_model import Rentals, SwarmInputs, run_swarms
    from sim.planner.toml_file import EXAMPLE_PLAN, load_plan, plan_from_mapping
    from sim.planner.workload import build_workload

__all__ = [
    "EXAMPLE_PLAN",
    "CalibrationResult",
    "MeasuredRun",
    "PlanConfig",
    "PlanError",
    "PlanResult",
    "Rentals",
    "SwarmInputs",
    "build_workload",
    "calibrate",
    "load_plan",
    "plan_from_mapping",
    "run_plan",
    "run_swarms",
    "upload_sweep",
    "write_plan_report",
]

__getattr__ = lazy_attributes(__name__, _LAZY)
