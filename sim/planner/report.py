"""A plan's report: every figure as JSON, a Markdown page, and the plots, written atomically.

`build_plan_report` and `render_plan_markdown` are pure; `write_plan_report` writes
report.json, report.md and the PNG plots into a directory.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from sim.planner.planning import PlanResult, RatioPoint
from support.atomic_write import write_atomic

__all__ = ["PLOT_FILES", "build_plan_report", "render_plan_markdown", "write_plan_report"]

PLOT_FILES = {
    "egress_week": "egress-week.png",
    "offload_by_rank": "offload-by-rank.png",
    "offload_by_upload_ratio": "offload-by-upload-ratio.png",
}


def _round(value: float, digits: int = 4) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def build_plan_report(result: PlanResult, sweep: list[RatioPoint]) -> dict[str, object]:
    """Every figure of the plan as JSON-ready values (hourly series in TB and Gbit/s)."""
    figures = {k: _round(v) if isinstance(v, float) else v
               for k, v in dataclasses.asdict(result.figures).items()}
    hourly_offload = [
        _round(1 - o / (o + p)) if o + p > 0 else None
        for o, p in zip(result.hourly_cdn_egress_tb, result.hourly_peer_tb, strict=True)
    ]
    return {
        "figures": figures,
        "classes": [{k: _round(v) if isinstance(v, float) else v
                     for k, v in dataclasses.asdict(c).items()} for c in result.classes],
        "hourly": {
            "cdn_egress_tb": [_round(v, 6) for v in result.hourly_cdn_egress_tb],
            "peer_tb": [_round(v, 6) for v in result.hourly_peer_tb],
            "peak_origin_gbps": [_round(v, 3) for v in result.hourly_peak_origin_gbps],
            "offload": hourly_offload,
        },
        "upload_sweep": [{"upload_demand_ratio": _round(p.upload_demand_ratio),
                          "server_share": _round(p.server_share),
                          "server_share_head": _round(p.server_share_head)} for p in sweep],
        "plan": _plan_json(result),
        "plots": dict(PLOT_FILES),
    }


def _plan_json(result: PlanResult) -> dict[str, object]:
    def plain(value: object) -> object:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(result.config).items()}


def render_plan_markdown(result: PlanResult, sweep: list[RatioPoint]) -> str:
    """A page for the capacity planner: headline table, classes, the regime sweep, plots."""
    f, c = result.figures, result.config
    lines = [
        "# Capacity plan",
        "",
        f"{c.catalogue.films_csv or f'{c.catalogue.films:,} films'}, "
        f"{f.rentals:,} rentals over {f.days:g} days, model step {c.model.step_s:g} s.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| bytes delivered to customers | {f.delivered_tb:,.1f} TB |",
        f"| **CDN egress** | **{f.cdn_egress_tb:,.1f} TB** |",
        f"| **offload** (share the CDN did not send) | **{f.offload * 100:.1f} %** |",
        f"| peak origin rate | {f.peak_origin_gbps:,.1f} Gbit/s "
        f"(capacity {c.origin.gbps:g} Gbit/s) |",
        f"| CDN egress per 1,000 rentals | {f.cdn_egress_gb_per_1000_rentals:,.1f} GB |",
        f"| cost at {c.price.usd_per_gb:g} USD/GB | {f.cost_usd:,.0f} USD "
        f"(without peers {f.cost_usd_without_peers:,.0f} USD) |",
        f"| swarm sessions | {f.swarm_sessions:,} "
        f"(origin copies per session at least {f.copies_per_session:.2f}) |",
        f"| upload/demand ratio | {f.upload_demand_ratio:.2f} |",
        f"| hours with the origin saturated | {f.origin_saturated_hours:.1f} |",
        "",
        "## By popularity class",
        "",
        "| class | films | rentals | delivered TB | CDN egress TB | offload |",
        "|---|---|---|---|---|---|",
        *(f"| {k.name} | {k.films:,} | {k.rentals:,} | {k.delivered_tb:,.1f} | "
          f"{k.cdn_egress_tb:,.1f} | {k.offload * 100:.1f} % |" for k in result.classes),
        "",
        "## Server share against upload/demand (Huang, Li & Ross)",
        "",
        "A one-day, scaled-down copy of this plan (same rentals per film) with every "
        "client's upload scaled:",
        "",
        "| upload/demand | CDN share of the bytes | head films only |",
        "|---|---|---|",
        *(f"| {p.upload_demand_ratio:.2f} | {p.server_share * 100:.1f} % | "
          f"{p.server_share_head * 100:.1f} % |" for p in sweep),
        "",
        "## Plots",
        "",
        *(f"![{name}]({file})" for name, file in PLOT_FILES.items()),
        "",
    ]
    return "\n".join(lines)


def write_plan_report(result: PlanResult, sweep: list[RatioPoint], out: Path) -> Path:
    """Write report.json, report.md and the plots into ``out`` (created); returns it."""
    from sim.planner.plots import write_plan_plots  # matplotlib only when writing

    out.mkdir(parents=True, exist_ok=True)
    write_plan_plots(result, sweep, out, PLOT_FILES)
    report = build_plan_report(result, sweep)
    write_atomic(out / "report.json", (json.dumps(report, indent=2) + "\n").encode())
    write_atomic(out / "report.md", render_plan_markdown(result, sweep).encode())
    return out
