"""One simulation from start to report: plan, run on a backend, measure, write.

The shape is the same for every backend: `plan_swarm` (pure), the backend's swarm
driven by `drive_swarm`, then outcomes, figures, plots and the report (pure
except for the final writes).
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import trio

from sim.analysis.hosting_figures import hosting_figures
from sim.analysis.network_figures import network_figures
from sim.analysis.outcomes import client_outcome, swarm_figures
from sim.analysis.report import CONNECTIVITY_PLOT, PLOT_FILES, SimulationReport, write_report
from sim.analysis.timeseries import swarm_throughput
from sim.backends.base import Backend
from sim.driver import drive_swarm
from sim.errors import ScenarioError
from sim.live_progress import SwarmSnapshot
from sim.placement_phase import HostingSwarm, hosts_uploaded
from sim.scenario.model import Scenario
from sim.scenario.plan import plan_swarm

__all__ = ["check_backend_can_run", "run_simulation", "write_plots"]


def check_backend_can_run(scenario: Scenario, backend: Backend) -> None:
    """Refuse, before anything starts, a scenario the backend cannot build: homes behind
    routers (a ``[network]`` part) need a backend whose ``supports_homes`` is true (docker).

    ``supports_homes`` is an optional attribute of a backend (absent: False), so a
    backend that builds no routers need not say so. Raises `ScenarioError`.
    """
    if scenario.hosts is not None and not getattr(backend, "supports_hosts", False):
        raise ScenarioError(
            f"scenario {scenario.name!r} has a [hosts] part (pre-positioning), which the "
            f"{backend.name} backend cannot run: use --backend local"
        )
    if scenario.network is not None and not getattr(backend, "supports_homes", False):
        raise ScenarioError(
            f"scenario {scenario.name!r} has a [network] part (homes behind routers), "
            f"which the {backend.name} backend cannot build: use --backend docker"
        )


async def run_simulation(
    scenario: Scenario,
    backend: Backend,
    out_dir: Path,
    *,
    seed: int | None = None,
    workdir: Path | None = None,
    show: Callable[[SwarmSnapshot], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> SimulationReport:
    """Run ``scenario`` on ``backend`` and write the report and plots into ``out_dir``.

    ``seed`` overrides the scenario's planning seed. The swarm's files (CA, film,
    downloads, logs) go to ``workdir``, or to a temporary directory removed after
    the run. ``show`` and ``say`` feed a progress display (see `drive_swarm`).
    Raises `ScenarioError` if the backend cannot hold the scenario (too many clients,
    homes it cannot build), `SimError` if a node cannot be started.
    """
    check_backend_can_run(scenario, backend)
    seed = scenario.seed if seed is None else seed
    # Planning draws from a seeded PRNG on purpose: the same seed gives the same run.
    plan = plan_swarm(scenario, backend.addresses, random.Random(seed))  # noqa: S311
    out_dir.mkdir(parents=True, exist_ok=True)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="peernode-sim-") as tmp:
            return await run_simulation(scenario, backend, out_dir, seed=seed,
                                        workdir=Path(tmp), show=show, say=say)
    async with backend.open_swarm(plan, workdir) as swarm:
        record = await drive_swarm(swarm, plan, show=show, say=say)
        measured = await swarm.measure()
        hosts_up = hosts_uploaded(swarm, plan) if isinstance(swarm, HostingSwarm) else 0
    seen = await swarm.collect()
    hosting = hosting_figures(swarm.film_bytes, measured.origin_bytes_measured,
                              record.placement, hosts_up, record.duration_s)
    # the offload figures are the release window's: the placement's bytes are apart
    origin_measured = hosting.origin_bytes_release_window
    # Completion from arrival runs from when the scenario wanted the client to arrive,
    # not from its process start: a backend may start clients ahead, waiting for a go.
    outcomes = tuple(
        client_outcome(c, record.fates[c.name], seen[c.name].samples, seen[c.name].summary,
                       seen[c.name].started_unix, arrival_unix=record.t0_unix + c.arrival_s)
        for c in plan.clients
    )
    samples = {name: o.samples for name, o in seen.items()}
    report = SimulationReport(
        scenario=scenario, seed=seed, backend=backend.name, plan=plan, record=record,
        figures=swarm_figures(outcomes, swarm.film_bytes, scenario.origin.upload_bps,
                              origin_bytes_measured=origin_measured,
                              origin_bytes_kernel=measured.origin_bytes_kernel,
                              arrival_spread_s=measured.arrival_spread_s),
        outcomes=outcomes,
        film_intact={name: o.film_intact for name, o in seen.items()},
        throughput=tuple(swarm_throughput(samples, record.t0_unix)),
        samples=samples,
        network=network_figures(
            plan, outcomes, {name: o.summary for name, o in seen.items()},
            reachability=measured.reachability, seen_as=measured.seen_as,
            origin_sent_by_address=measured.origin_sent_by_address),
        hosting=hosting,
    )
    await trio.to_thread.run_sync(write_plots, out_dir, report)
    write_report(out_dir, report)
    return report


def write_plots(out_dir: Path, r: SimulationReport) -> None:
    """Draw the report's plots into ``out_dir`` (file names: `PLOT_FILES`, and
    `CONNECTIVITY_PLOT` when the bytes between router kinds were measured)."""
    # matplotlib takes a third of a second to import: only when plotting, not for
    # every `peernode` command (whose parser imports this package).
    from sim.analysis.plots import (
        plot_bytes_by_source,
        plot_completion_cdf,
        plot_connectivity,
        plot_throughput,
        write_png,
    )

    title = r.scenario.name
    completions = [o.completion_s for o in r.outcomes if o.completion_s is not None]
    write_png(plot_throughput(r.throughput, title), out_dir / PLOT_FILES["throughput"])
    write_png(plot_completion_cdf(completions, r.figures.clients, r.figures.t_min_s, title),
              out_dir / PLOT_FILES["completion_cdf"])
    write_png(plot_bytes_by_source(r.outcomes, title), out_dir / PLOT_FILES["bytes_by_source"])
    if r.network is not None and r.network.connectivity is not None:
        write_png(plot_connectivity(r.network.connectivity, title),
                  out_dir / CONNECTIVITY_PLOT[1])
