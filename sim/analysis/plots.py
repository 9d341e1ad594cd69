"""The report's plots, drawn with matplotlib's object API on the Agg canvas.

No pyplot: figures are plain objects (no global state, no display needed), each
rendered to PNG bytes and written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.analysis.outcomes import ClientOutcome
from sim.analysis.timeseries import ThroughputPoint
from support.atomic_write import write_atomic

__all__ = [
    "plot_bytes_by_source",
    "plot_completion_cdf",
    "plot_connectivity",
    "plot_throughput",
    "write_png",
]

_ORIGIN_COLOUR, _PEERS_COLOUR = "#d62728", "#2ca02c"
_MB = 1e6


def write_png(figure: Figure, path: Path) -> Path:
    """Render ``figure`` to ``path`` as PNG, atomically."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return write_atomic(path, buffer.getvalue())


def plot_throughput(points: Sequence[ThroughputPoint], title: str) -> Figure:
    """Origin vs peer throughput (MB/s) received by the swarm over time."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    if points:
        # A closing zero one bin after the last, so that the last bin is drawn too.
        bin_s = points[1].t_s - points[0].t_s if len(points) > 1 else 1.0
        ax.stackplot(
            [p.t_s for p in points] + [points[-1].t_s + bin_s],
            [p.origin_bps / _MB for p in points] + [0.0],
            [p.peers_bps / _MB for p in points] + [0.0],
            labels=["from origin (CDN)", "from peers"],
            colors=[_ORIGIN_COLOUR, _PEERS_COLOUR], step="post", alpha=0.8,
        )
        ax.legend(loc="upper right")
    ax.set(xlabel="time since start (s)", ylabel="received (MB/s)",
           title=f"{title}: where the swarm's bytes came from")
    ax.grid(alpha=0.3)
    return fig


def plot_completion_cdf(
    completions_s: Sequence[float], clients: int, t_min_s: float, title: str
) -> Figure:
    """Share of the ``clients`` that had completed, against time, with T_min marked."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ordered = sorted(completions_s)
    shares = [(i + 1) / clients for i in range(len(ordered))]
    ax.step([0.0, *ordered], [0.0, *shares], where="post", label="completed")
    ax.axvline(t_min_s, color="black", linestyle="--",
               label=f"T_min (Kumar-Ross) = {t_min_s:.1f} s")
    ax.set(xlabel="completion time (s)", ylabel="share of clients", ylim=(0, 1.02),
           title=f"{title}: completion times")
    ax.set_xlim(left=0)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def plot_bytes_by_source(outcomes: Sequence[ClientOutcome], title: str) -> Figure:
    """Each client's received bytes (MB), split into origin and peers, and its upload."""
    fig = Figure(figsize=(max(6.0, 0.45 * len(outcomes) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    names = [o.name.removeprefix("client-") for o in outcomes]
    origin = [o.bytes_from_origin / _MB for o in outcomes]
    peers = [o.bytes_from_peers / _MB for o in outcomes]
    ax.bar(names, origin, color=_ORIGIN_COLOUR, label="from origin (CDN)")
    ax.bar(names, peers, bottom=origin, color=_PEERS_COLOUR, label="from peers")
    ax.scatter(names, [o.bytes_uploaded / _MB for o in outcomes], color="black", marker="_",
               s=200, label="uploaded", zorder=3)
    ax.set(xlabel="client", ylabel="MB", title=f"{title}: bytes per client by source")
    fig.legend(loc="outside lower center", ncols=3)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_connectivity(matrix: Mapping[str, Mapping[str, int]], title: str) -> Figure:
    """A heatmap of bytes received (MB) by each router kind (rows) from each kind and the
    origin (columns), every cell labelled."""
    receivers = list(matrix)
    senders = list(dict.fromkeys(c for row in matrix.values() for c in row))
    values = [[matrix[r].get(c, 0) / _MB for c in senders] for r in receivers]
    fig = Figure(figsize=(1.3 * len(senders) + 3, 0.8 * len(receivers) + 2),
                 layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label="MB received")
    ax.set_xticks(range(len(senders)), senders, rotation=30, ha="right")
    ax.set_yticks(range(len(receivers)), receivers)
    top = max((v for row in values for v in row), default=0.0)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:.0f}", ha="center", va="center",
                    color="black" if top and value > top / 2 else "white")
    ax.set(xlabel="sent by", ylabel="received by",
           title=f"{title}: bytes between router kinds")
    return fig
