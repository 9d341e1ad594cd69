"""Network simulations of peernode swarms and the CDN-offload report.

Scenario files (`load_scenario`) describe an audience; `plan_swarm` turns one into
a concrete, seeded plan; a `Backend` (`LocalBackend`: processes on loopback) runs
it, driven on time by `drive_swarm`; `swarm_figures` and the report give the CDN
offload, origin copies and completion times against the Kumar-Ross bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from certs.lazy import lazy_attributes

from .addresses import LOOPBACK_POOL, AddressPool
from .backend import Backend, ClientObservation, Swarm
from .errors import BackendError, ScenarioError, SimError
from .metrics import (
    cdn_egress_saved_gb,
    kumar_ross_t_min,
    offload,
    offload_limit,
    origin_copies,
    percentile,
)
from .outcomes import ClientOutcome, Fate, SwarmFigures, client_outcome, swarm_figures
from .plan import ClientPlan, SwarmPlan, arrival_times, plan_swarm
from .scenario import (
    ClientsSpec,
    EventAction,
    FlashCrowd,
    LinkProfile,
    OriginSpec,
    PoissonArrivals,
    Scenario,
    SimEvent,
    StopHow,
)
from .scenario_file import load_scenario, scenario_from_mapping
from .timeseries import StatusSample, ThroughputPoint, parse_status_log, swarm_throughput

# Heavy parts (servers, Redis, plots) load on first use, so `peernode --help`
# and every other command do not pay for them.
_LAZY = {
    "EventRecord": "driver",
    "LocalBackend": "local",
    "RunRecord": "driver",
    "SimulationReport": "report",
    "build_report": "report",
    "drive_swarm": "driver",
    "open_local_swarm": "local",
    "render_markdown": "report",
    "run_simulation": "runner",
    "write_report": "report",
}

if TYPE_CHECKING:
    from .driver import EventRecord, RunRecord, drive_swarm
    from .local import LocalBackend, open_local_swarm
    from .report import SimulationReport, build_report, render_markdown, write_report
    from .runner import run_simulation


__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "LOOPBACK_POOL",
    "AddressPool",
    "Backend",
    "BackendError",
    "ClientObservation",
    "ClientOutcome",
    "ClientPlan",
    "ClientsSpec",
    "EventAction",
    "EventRecord",
    "Fate",
    "FlashCrowd",
    "LinkProfile",
    "LocalBackend",
    "OriginSpec",
    "PoissonArrivals",
    "RunRecord",
    "Scenario",
    "ScenarioError",
    "SimError",
    "SimEvent",
    "SimulationReport",
    "StatusSample",
    "StopHow",
    "Swarm",
    "SwarmFigures",
    "SwarmPlan",
    "ThroughputPoint",
    "arrival_times",
    "build_report",
    "cdn_egress_saved_gb",
    "client_outcome",
    "drive_swarm",
    "kumar_ross_t_min",
    "load_scenario",
    "offload",
    "offload_limit",
    "open_local_swarm",
    "origin_copies",
    "parse_status_log",
    "percentile",
    "plan_swarm",
    "render_markdown",
    "run_simulation",
    "scenario_from_mapping",
    "swarm_figures",
    "swarm_throughput",
    "write_report",
]
