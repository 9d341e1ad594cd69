"""The report and plots from a hand-built run: every figure, valid PNGs, atomic writes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sim import (
    LOOPBACK_POOL,
    ClientsSpec,
    EventAction,
    EventRecord,
    Fate,
    LinkProfile,
    RunRecord,
    SimulationReport,
    StatusSample,
    StopHow,
    client_outcome,
    plan_swarm,
    render_markdown,
    swarm_figures,
    swarm_throughput,
    write_report,
)
from sim.analysis.report import PLOT_FILES
from sim.runner import write_plots

from .conftest import make_scenario

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
F = 8_000_000


def _report() -> SimulationReport:
    links = (LinkProfile("fixed", 4_000_000, 4_000_000),)
    scenario = make_scenario(description="three clients",
                             clients=ClientsSpec(count=3, links=links))
    plan = plan_swarm(scenario, LOOPBACK_POOL, random.Random(1))
    t0 = 1000.0
    samples: dict[str, tuple[StatusSample, ...]] = {
        c.name: (
            StatusSample(t0 + 1, 0.5, 0.5, False, F // 4, F // 4, 0),
            StatusSample(t0 + 3, 2.0 + 2 * i, 1.0, True, F // (2 + i), F - F // (2 + i), F // 2),
        )
        for i, c in enumerate(plan.clients)
    }
    fates = {"client-1": Fate.COMPLETE, "client-2": Fate.COMPLETE, "client-3": Fate.KILLED}
    samples["client-3"] = samples["client-3"][:1]
    record = RunRecord(t0_unix=t0, duration_s=4.0, timed_out=False, fates=fates,
                       events=(EventRecord(2.0, 2.1, EventAction.CLIENT_KILL, 3, StopHow.KILL),))
    outcomes = tuple(client_outcome(c, fates[c.name], samples[c.name], None, t0)
                     for c in plan.clients)
    return SimulationReport(
        scenario=scenario, seed=1, backend="local", plan=plan, record=record,
        figures=swarm_figures(outcomes, F, scenario.origin.upload_bps), outcomes=outcomes,
        film_intact={"client-1": True, "client-2": True, "client-3": None},
        throughput=tuple(swarm_throughput(samples, t0)), samples=samples,
    )


def test_report_json_has_every_figure(tmp_path: Path) -> None:
    json_path, md_path = write_report(tmp_path, _report())
    report = json.loads(json_path.read_text())
    figures = report["figures"]
    for key in ("offload", "offload_limit", "origin_copies", "t_min_s", "completion_p50_s",
                "completion_p95_s", "p50_over_t_min", "p95_over_t_min", "cdn_egress_saved_gb"):
        assert isinstance(figures[key], float), key
    # Clients 1 and 2 are meant to complete: T_min = max(8/4, 8/4, 2·8/(4+8)) = 2 s;
    # they took 2 s and 4 s.
    assert figures["clients"] == 2
    assert figures["t_min_s"] == pytest.approx(2.0)
    assert figures["completion_p50_s"] == pytest.approx(3.0)
    assert [c["fate"] for c in report["clients"]] == ["complete", "complete", "killed"]
    assert report["clients"][1]["completion_over_t_min"] == pytest.approx(2.0)
    assert report["run"] == {"t0_unix": 1000.0, "duration_s": 4.0, "timed_out": False,
                             "all_complete": True, "films_intact": True,
                             "placement": None}
    assert report["events"][0]["action"] == "client-kill"
    assert report["scenario"]["arrivals"]["kind"] == "flash-crowd"
    assert len(report["timeseries"]["client-1"]) == 2
    assert report["throughput"][0] == {"t_s": 0.0, "origin_bps": 0.0, "peers_bps": 0.0}
    assert report["plots"] == PLOT_FILES
    assert md_path.read_text() == render_markdown(_report())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md"]


def test_markdown_is_a_planner_s_table() -> None:
    text = render_markdown(_report())
    assert "| **CDN offload** |" in text
    assert "| origin copies (clients' attribution; the origin's own count was not" in text
    assert "| CDN egress saved per 1,000 rentals |" in text
    assert "| completion p95 from download start | 3.9 s (1.95 x T_min) |" in text
    assert "| completion p95 from arrival |" in text
    assert "| did not finish (of those meant to) | 0 |" in text
    assert ("| client-3 | fixed | 1.7 s | 0.5 s | killed | n/a | n/a | 2.0 MB | 2.0 MB | 0 B |"
            in text)
    assert "client-kill client 3 (kill) at 2.1 s" in text
    assert all(f"]({name})" in text for name in PLOT_FILES.values())


def test_plots_are_valid_pngs(tmp_path: Path) -> None:
    write_plots(tmp_path, _report())
    for name in PLOT_FILES.values():
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(PLOT_FILES.values())
