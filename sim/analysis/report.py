"""The report of a run: every figure as JSON, and a Markdown page a planner can read.

Building both is pure (`build_report`, `render_markdown`); `write_report` writes
them atomically, next to the plots.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sim.analysis.hosting_figures import HostingFigures
from sim.analysis.network_figures import NetworkFigures
from sim.analysis.outcomes import ClientOutcome, SwarmFigures
from sim.analysis.timeseries import StatusSample, ThroughputPoint
from sim.driver import RunRecord
from sim.scenario.model import FlashCrowd, Scenario
from sim.scenario.plan import SwarmPlan
from support.atomic_write import write_atomic
from support.units import format_bytes

__all__ = ["CONNECTIVITY_PLOT", "PLOT_FILES", "SimulationReport", "build_report", "plot_files",
           "render_markdown", "write_report"]

PLOT_FILES = {
    "throughput": "throughput.png",
    "completion_cdf": "completion-cdf.png",
    "bytes_by_source": "bytes-by-source.png",
}
CONNECTIVITY_PLOT = ("connectivity", "connectivity.png")
"""The heatmap of bytes between router kinds, drawn when they were measured."""


@dataclass(frozen=True)
class SimulationReport:
    """What a run produced, ready to be rendered."""

    scenario: Scenario
    seed: int
    backend: str
    plan: SwarmPlan
    record: RunRecord
    figures: SwarmFigures
    outcomes: tuple[ClientOutcome, ...]
    film_intact: Mapping[str, bool | None]
    throughput: tuple[ThroughputPoint, ...]
    samples: Mapping[str, Sequence[StatusSample]]
    network: NetworkFigures | None = None
    """By router kind and ISP, for a scenario with a ``[network]`` part."""
    hosting: HostingFigures | None = None
    """The origin's bytes by window and the hosts' (pre-positioning, `[hosts]`)."""


def plot_files(r: SimulationReport) -> dict[str, str]:
    """The plots of this report: `PLOT_FILES`, and the connectivity heatmap when the
    bytes between kinds were measured."""
    files = dict(PLOT_FILES)
    if r.network is not None and r.network.connectivity is not None:
        files[CONNECTIVITY_PLOT[0]] = CONNECTIVITY_PLOT[1]
    return files


def _figures_json(r: SimulationReport) -> dict[str, object]:
    figures = r.figures.to_json()
    n = r.network.to_json() if r.network is not None else {}
    figures["by_kind"] = n.get("by_kind")
    figures["cross_isp_share"] = n.get("cross_isp_share")
    figures["network"] = {k: v for k, v in n.items() if k not in ("by_kind", "cross_isp_share")
                          } if n else None
    if r.hosting is not None:
        figures["origin_copies_release_window"] = r.hosting.origin_copies_release_window
        figures["origin_copies_placement"] = r.hosting.origin_copies_placement
        figures["bytes_from_hosts"] = r.hosting.bytes_from_hosts
        figures["hosting"] = r.hosting.to_json()
    return figures


def _scenario_json(s: Scenario) -> dict[str, object]:
    values = dataclasses.asdict(s)
    values["arrivals"] = {
        "kind": "flash-crowd" if isinstance(s.arrivals, FlashCrowd) else "poisson",
        **dataclasses.asdict(s.arrivals),
    }
    values["network"] = None if s.network is None else s.network.to_json()
    return values


def build_report(r: SimulationReport) -> dict[str, object]:
    """Every figure of the run as JSON-ready values."""
    t_min = r.figures.t_min_s
    clients = []
    for o in r.outcomes:
        entry = o.to_json()
        entry["completion_over_t_min"] = (
            o.completion_s / t_min if o.completion_s is not None and t_min > 0 else None)
        entry["film_intact"] = r.film_intact.get(o.name)
        clients.append(entry)
    return {
        "scenario": _scenario_json(r.scenario),
        "seed": r.seed,
        "backend": r.backend,
        "figures": _figures_json(r),
        "run": {
            "t0_unix": r.record.t0_unix,
            "duration_s": round(r.record.duration_s, 3),
            "timed_out": r.record.timed_out,
            "placement": (r.record.placement.to_json() if r.record.placement is not None
                          else None),
            "all_complete": all(o.fate == "complete" for o in r.outcomes
                                if o.fate.meant_to_complete),
            "films_intact": all(v for v in r.film_intact.values() if v is not None),
        },
        "clients": clients,
        "events": [e.to_json() for e in r.record.events],
        "throughput": [dataclasses.asdict(p) for p in r.throughput],
        "timeseries": {name: [s.to_json(r.record.t0_unix) for s in samples]
                       for name, samples in r.samples.items()},
        "plan": r.plan.to_json(),
        "plots": plot_files(r),
    }


def _rate(bps: int) -> str:
    return "unlimited" if bps == 0 else f"{format_bytes(bps)}/s"


def _seconds(value: float | None, t_min: float, *, missing: str = "n/a") -> str:
    if value is None:
        return missing
    return f"{value:.1f} s ({value / t_min:.2f} x T_min)" if t_min > 0 else f"{value:.1f} s"


def _startup(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def _measured_rows(f: SwarmFigures) -> list[str]:
    rows = []
    if f.origin_bytes_kernel is not None:
        rows.append(f"| origin bytes counted by the kernel (with TLS, TCP/IP, resends) | "
                    f"{format_bytes(f.origin_bytes_kernel)} |")
    if f.arrival_spread_s is not None:
        rows.append(f"| arrivals: largest gap between planned and actual start | "
                    f"{f.arrival_spread_s:.2f} s |")
    return rows


def _share(value: float | None) -> str:
    return "not measured" if value is None else f"{value * 100:.1f} %"


def _network_lines(n: NetworkFigures, t_min: float, locality: bool) -> list[str]:
    offload_by = {"origin": "counted at the origin per peer",
                  "clients": "origin bytes counted by the clients per connection"}
    lines = [
        "", "## By router kind", "",
        "| kind | clients / completed | p95 from arrival | offload (measured) "
        "| from origin | from peers | uploaded | connectable | port mapped |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, k in n.by_kind.items():
        lines.append(
            f"| {kind} | {k.clients} / {k.completed} "
            f"| {_seconds(k.completion_p95_from_arrival_s, t_min, missing='not reached')} "
            f"| {_share(k.offload_measured)} | {format_bytes(k.bytes_from_origin)} "
            f"| {format_bytes(k.bytes_from_peers)} | {format_bytes(k.uploaded)} "
            f"| {_share(k.connectable_share)} | {_share(k.port_mapped_share)} |")
    lines += ["", "Offload per kind: " + offload_by.get(n.offload_by or "", "not measured")
              + ". Connectable: classed so by the tracker under any of the client's "
              "addresses. Port mapped: of the clients that reported a mapping outcome.", ""]
    if n.peer_bytes_within_isp is None or n.peer_bytes_across_isp is None:
        lines.append("Peer bytes within vs across ISPs: not measured (the clients' summaries "
                     "carry no per-peer counts).")
    else:
        across = ("n/a" if n.cross_isp_share is None
                  else f"{n.cross_isp_share * 100:.1f} % of peer bytes")
        lines.append(
            f"Peer bytes within an ISP {format_bytes(n.peer_bytes_within_isp)}, across ISPs "
            f"{format_bytes(n.peer_bytes_across_isp)} (**{across}**; locality "
            f"{'on' if locality else 'off'})"
            + (f"; from addresses that are no client {format_bytes(n.peer_bytes_unmatched)}"
               if n.peer_bytes_unmatched else "") + ".")
    if n.connectivity is not None:
        senders = list(dict.fromkeys(c for row in n.connectivity.values() for c in row))
        lines += [
            "", "## Connectivity", "",
            f"Bytes received by each kind (rows) from each kind (columns), counted by "
            f"{n.clients_with_peer_counts} clients per connection.", "",
            "| received by, from | " + " | ".join(senders) + " |",
            "|---|" + "---|" * len(senders),
        ]
        for receiver, row in n.connectivity.items():
            lines.append(f"| {receiver} | "
                         + " | ".join(format_bytes(row.get(c, 0)) for c in senders) + " |")
    return lines


def _origin_rows(f: SwarmFigures) -> list[str]:
    if f.origin_bytes_measured is None:
        return [f"| origin copies (clients' attribution; the origin's own count was not "
                f"collected) | {f.origin_copies:.2f} |", *_measured_rows(f)]
    gap = "n/a" if f.attribution_gap is None else f"{f.attribution_gap * 100:+.1f} %"
    return [
        f"| origin copies, measured at the origin | {f.origin_copies:.2f} "
        f"({format_bytes(f.origin_bytes_measured)}) |",
        f"| origin copies, by the clients' attribution | {f.origin_copies_attributed:.2f} "
        f"(gap {gap}) |",
        *_measured_rows(f),
    ]


def render_markdown(r: SimulationReport) -> str:
    """A page for capacity planners: the headline table, then per-client rows and plots."""
    f, s = r.figures, r.scenario
    lines = [
        f"# Simulation: {s.name}",
        "",
        *([s.description, ""] if s.description else []),
        f"Backend `{r.backend}`, seed {r.seed}, run time {r.record.duration_s:.1f} s"
        + (" (**timed out**)" if r.record.timed_out else "") + ".",
        "",
        "| figure | value |",
        "|---|---|",
        f"| clients (meant to complete / completed) | {f.clients} / {f.completed} |",
        f"| film (encrypted container) | {format_bytes(f.film_bytes)} |",
        f"| origin upload | {_rate(s.origin.upload_bps)} |",
        f"| **CDN offload** | **{f.offload * 100:.1f} %** "
        f"(limit 1 - 1/N = {f.offload_limit * 100:.1f} %) |",
        *_origin_rows(f),
        f"| CDN egress saved per {f.rentals:,} rentals | {f.cdn_egress_saved_gb:,.1f} GB |",
        f"| T_min (Kumar-Ross) | {f.t_min_s:.1f} s |",
        f"| did not finish (of those meant to) | {f.incomplete_clients} |",
        f"| completion p50 from arrival | "
        f"{_seconds(f.completion_p50_from_arrival_s, f.t_min_s, missing='not reached')} |",
        f"| completion p95 from arrival | "
        f"{_seconds(f.completion_p95_from_arrival_s, f.t_min_s, missing='not reached')} |",
        f"| completion p50 from download start | "
        f"{_seconds(f.completion_p50_s, f.t_min_s, missing='not reached')} |",
        f"| completion p95 from download start | "
        f"{_seconds(f.completion_p95_s, f.t_min_s, missing='not reached')} |",
        f"| start-up p50 | {_startup(f.startup_p50_s)} |",
        "",
        "Offload = 1 - origin bytes / bytes delivered. T_min = max(F/u_s, F/d_min, "
        "N·F/(u_s + Σu_i)) is the fastest any scheme could serve N clients starting "
        "together. Completion from arrival runs from when the customer pressed \"rent\" "
        "(the scenario's arrival) and includes start-up; from download start leaves "
        "start-up out. Clients that did not finish count: a percentile that falls on one "
        "is \"not reached\" (the p95 once more than 5 % did not finish).",
        "",
        "| client | link (home) | arrival | start-up | fate | from arrival | from download start "
        "| from origin | from peers | uploaded |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    homes = {c.name: c.home for c in r.plan.clients if c.home is not None}
    for o in r.outcomes:
        home = homes.get(o.name)
        link = o.link if home is None else f"{o.link}, {home.kind.value} in {home.isp}"
        lines.append(
            f"| {o.name} | {link} | {o.arrival_s:.1f} s | {_startup(o.startup_s)} "
            f"| {o.fate.value} | {_seconds(o.completion_from_arrival_s, f.t_min_s)} "
            f"| {_seconds(o.completion_s, f.t_min_s)} | {format_bytes(o.bytes_from_origin)} "
            f"| {format_bytes(o.bytes_from_peers)} | {format_bytes(o.bytes_uploaded)} |"
        )
    if r.record.events:
        lines += ["", "Events: " + "; ".join(
            f"{e.describe()} at {e.done_at_s:.1f} s"
            for e in r.record.events) + "."]
    if r.network is not None:
        lines += _network_lines(r.network, f.t_min_s,
                                s.network.locality if s.network is not None else False)
    lines += ["", *(f"![{name}]({file})" for name, file in plot_files(r).items()), ""]
    return "\n".join(lines)


def write_report(out_dir: Path, r: SimulationReport) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir`` atomically; returns their paths."""
    data = json.dumps(build_report(r), indent=2, allow_nan=False).encode() + b"\n"
    json_path = write_atomic(out_dir / "report.json", data)
    md_path = write_atomic(out_dir / "report.md", render_markdown(r).encode())
    return json_path, md_path
