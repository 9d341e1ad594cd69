"""Network simulations of peernode swarms and the CDN-offload report.

Scenario files (`load_scenario`) describe an audience; `plan_swarm` turns one into
a concrete, seeded plan; a `Backend` (`LocalBackend`: processes on loopback, started
and always torn down by `open_process_group`) runs it, driven on time by
`drive_swarm`; `swarm_figures` and the report give the CDN offload, origin copies and
completion times against the Kumar-Ross bound. `run_demo` is `peernode demo`: the
built-in demo scenario on the local backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

# Every public name loads on first use (PEP 562): importing one module of this
# package, or the package itself, loads nothing else.
_LAZY = {
    "AddressPool": "sim.scenario.addresses",
    "arrival_times": "sim.scenario.plan",
    "Backend": "sim.backends.base",
    "BackendError": "sim.errors",
    "build_report": "sim.analysis.report",
    "cdn_egress_saved_gb": "sim.analysis.figures",
    "client_outcome": "sim.analysis.outcomes",
    "ClientObservation": "sim.backends.base",
    "ClientOutcome": "sim.analysis.outcomes",
    "ClientPlan": "sim.scenario.plan",
    "ClientsSpec": "sim.scenario.model",
    "DemoConfig": "sim.demo",
    "DemoReport": "sim.demo",
    "drive_swarm": "sim.driver",
    "EventAction": "sim.scenario.model",
    "EventRecord": "sim.driver",
    "Fate": "sim.analysis.outcomes",
    "FlashCrowd": "sim.scenario.model",
    "HomeKind": "sim.scenario.homes",
    "HomePlan": "sim.scenario.homes",
    "kumar_ross_t_min": "sim.analysis.figures",
    "LinkProfile": "sim.scenario.model",
    "load_scenario": "sim.scenario.toml_file",
    "LocalBackend": "sim.backends.local",
    "LOOPBACK_POOL": "sim.scenario.addresses",
    "network_figures": "sim.analysis.network_figures",
    "NetworkFigures": "sim.analysis.network_figures",
    "NetworkSpec": "sim.scenario.network",
    "offload": "sim.analysis.figures",
    "offload_limit": "sim.analysis.figures",
    "open_local_swarm": "sim.backends.local",
    "origin_copies": "sim.analysis.figures",
    "OriginSpec": "sim.scenario.model",
    "parse_status_log": "sim.analysis.timeseries",
    "percentile": "sim.analysis.figures",
    "plan_swarm": "sim.scenario.plan",
    "PoissonArrivals": "sim.scenario.model",
    "ProcessGroup": "sim.backends.launcher",
    "open_process_group": "sim.backends.launcher",
    "run_demo": "sim.demo",
    "render_markdown": "sim.analysis.report",
    "run_simulation": "sim.runner",
    "RunRecord": "sim.driver",
    "Scenario": "sim.scenario.model",
    "scenario_from_mapping": "sim.scenario.toml_file",
    "ScenarioError": "sim.errors",
    "SimError": "sim.errors",
    "SimEvent": "sim.scenario.model",
    "SimulationReport": "sim.analysis.report",
    "StatusSample": "sim.analysis.timeseries",
    "StopHow": "sim.scenario.model",
    "Swarm": "sim.backends.base",
    "swarm_figures": "sim.analysis.outcomes",
    "swarm_throughput": "sim.analysis.timeseries",
    "SwarmFigures": "sim.analysis.outcomes",
    "SwarmPlan": "sim.scenario.plan",
    "ThroughputPoint": "sim.analysis.timeseries",
    "write_report": "sim.analysis.report",
}

if TYPE_CHECKING:
    from sim.analysis.figures import (
        cdn_egress_saved_gb,
        kumar_ross_t_min,
        offload,
        offload_limit,
        origin_copies,
        percentile,
    )
    from sim.analysis.network_figures import NetworkFigures, network_figures
    from sim.analysis.outcomes import (
        ClientOutcome,
        Fate,
        SwarmFigures,
        client_outcome,
        swarm_figures,
    )
    from sim.analysis.report import SimulationReport, build_report, render_markdown, write_report
    from sim.analysis.timeseries import (
        StatusSample,
        ThroughputPoint,
        parse_status_log,
        swarm_throughput,
    )
    from sim.backends.base import Backend, ClientObservation, Swarm
    from sim.backends.launcher import ProcessGroup, open_process_group
    from sim.backends.local import LocalBackend, open_local_swarm
    from sim.demo import DemoConfig, DemoReport, run_demo
    from sim.driver import EventRecord, RunRecord, drive_swarm
    from sim.errors import BackendError, ScenarioError, SimError
    from sim.runner import run_simulation
    from sim.scenario.addresses import LOOPBACK_POOL, AddressPool
    from sim.scenario.homes import HomeKind, HomePlan
    from sim.scenario.model import (
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
    from sim.scenario.network import NetworkSpec
    from sim.scenario.plan import ClientPlan, SwarmPlan, arrival_times, plan_swarm
    from sim.scenario.toml_file import load_scenario, scenario_from_mapping

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
    "DemoConfig",
    "DemoReport",
    "EventAction",
    "EventRecord",
    "Fate",
    "FlashCrowd",
    "HomeKind",
    "HomePlan",
    "LinkProfile",
    "LocalBackend",
    "NetworkFigures",
    "NetworkSpec",
    "OriginSpec",
    "PoissonArrivals",
    "ProcessGroup",
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
    "network_figures",
    "offload",
    "offload_limit",
    "open_local_swarm",
    "open_process_group",
    "origin_copies",
    "parse_status_log",
    "percentile",
    "plan_swarm",
    "render_markdown",
    "run_demo",
    "run_simulation",
    "scenario_from_mapping",
    "swarm_figures",
    "swarm_throughput",
    "write_report",
]
