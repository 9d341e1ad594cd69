"""The plan's plots, drawn with matplotlib's object API on the Agg canvas (no pyplot)."""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.planner.planning import PlanResult, RatioPoint
from support.atomic_write import write_atomic

__all__ = ["plot_egress_week", "plot_offload_by_rank", "plot_server_share", "write_plan_plots"]

_ORIGIN, _PEERS = "#d62728", "#2ca02c"


def _png(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    write_atomic(path, buffer.getvalue())


def plot_egress_week(result: PlanResult) -> Figure:
    """CDN egress and peer bytes per hour (TB), with the hourly peak origin rate."""
    figure = Figure(figsize=(10, 4.5))
    ax = figure.add_subplot()
    hours = np.arange(result.hourly_cdn_egress_tb.shape[0])
    ax.fill_between(hours, result.hourly_cdn_egress_tb, step="post", color=_ORIGIN,
                    alpha=0.8, label="CDN egress")
    ax.fill_between(hours, result.hourly_cdn_egress_tb,
                    result.hourly_cdn_egress_tb + result.hourly_peer_tb, step="post",
                    color=_PEERS, alpha=0.5, label="from peers")
    ax.set_xlabel("hour of the plan")
    ax.set_ylabel("TB per hour")
    rate = ax.twinx()
    rate.plot(hours, result.hourly_peak_origin_gbps, color="black", lw=0.8,
              label="peak origin Gbit/s")
    rate.set_ylabel("peak origin rate (Gbit/s)")
    ax.legend(loc="upper left")
    ax.set_title(f"CDN egress {result.figures.cdn_egress_tb:,.0f} TB, "
                 f"offload {result.figures.offload * 100:.1f} %")
    figure.tight_layout()
    return figure


def plot_offload_by_rank(result: PlanResult) -> Figure:
    """Offload per film against its popularity rank (log scale), with a binned median."""
    figure = Figure(figsize=(7, 4.5))
    ax = figure.add_subplot()
    values = result.film_rank_offload
    ranks = np.arange(1, values.shape[0] + 1)
    rented = ~np.isnan(values)
    ax.scatter(ranks[rented], values[rented], s=3, alpha=0.3, color=_PEERS)
    edges = np.unique(np.geomspace(1, values.shape[0] + 1, 30).astype(int))
    mids, medians = [], []
    for lo, hi in itertools.pairwise(edges):
        chunk = values[lo - 1:hi - 1]
        chunk = chunk[~np.isnan(chunk)]
        if chunk.size:
            mids.append(np.sqrt(lo * hi))
            medians.append(float(np.median(chunk)))
    ax.plot(mids, medians, color="black", label="median")
    ax.set_xscale("log")
    ax.set_xlabel("popularity rank")
    ax.set_ylabel("offload")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    ax.set_title("Offload by popularity: concurrency makes the swarm")
    figure.tight_layout()
    return figure


def plot_server_share(sweep: list[RatioPoint], current: float) -> Figure:
    """The CDN's share of the bytes against the upload/demand ratio (Huang, Li & Ross)."""
    figure = Figure(figsize=(7, 4.5))
    ax = figure.add_subplot()
    x = [p.upload_demand_ratio for p in sweep]
    ax.plot(x, [p.server_share for p in sweep], marker="o", color=_ORIGIN,
            label="model: CDN share, whole catalogue")
    ax.plot(x, [p.server_share_head for p in sweep], marker="s", color="#1f77b4",
            label="model: head films")
    grid = np.linspace(0, max([*x, current, 1.5]), 100)
    ax.plot(grid, np.clip(1 - grid, 0, 1), ls="--", color="grey",
            label="max(0, 1 - upload/demand)")
    ax.axvline(1.0, color="grey", lw=0.8)
    ax.axvline(current, color="black", lw=0.8, ls=":", label=f"this plan ({current:.2f})")
    ax.set_xlabel("upload/demand ratio")
    ax.set_ylabel("CDN share of the bytes (1 - offload)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend()
    ax.set_title("Server load vs upload/demand: the crossover at 1")
    figure.tight_layout()
    return figure


def write_plan_plots(result: PlanResult, sweep: list[RatioPoint], out: Path,
                     files: Mapping[str, str]) -> None:
    """Write the three plots into ``out`` under the names of ``files``."""
    _png(plot_egress_week(result), out / files["egress_week"])
    _png(plot_offload_by_rank(result), out / files["offload_by_rank"])
    _png(plot_server_share(sweep, result.figures.upload_demand_ratio),
         out / files["offload_by_upload_ratio"])
