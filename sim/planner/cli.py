"""`peernode plan PLAN.toml --out REPORT_DIR | plan --example | plan --calibrate [--json]`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from sim.planner.errors import PlanError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `plan` to the `peernode` parser."""
    p = sub.add_parser(
        "plan",
        help="capacity planner: a whole service's CDN egress from a flow-level swarm model",
        description="Predict a whole catalogue's CDN egress (TB per hour, peak origin "
        "Gbit/s, offload by popularity class, cost) from a flow-level model of every "
        "film's swarm, calibrated against the simulator's measured reports. "
        "--example prints a documented PLAN.toml; --calibrate compares the model with "
        "the stored simulator runs.",
    )
    p.add_argument("plan", nargs="?", type=Path, metavar="PLAN.toml", help="the plan file")
    p.add_argument("--out", type=Path, metavar="REPORT_DIR",
                   help="directory for report.json, report.md and the plots")
    p.add_argument("--example", action="store_true", help="print a documented PLAN.toml")
    p.add_argument("--calibrate", action="store_true",
                   help="predicted vs measured origin bytes for the simulator's scenarios")
    p.add_argument("--rerun", action="store_true",
                   help="with --calibrate: run the simulator again (minutes per scenario) "
                   "and store its measurements first")
    p.add_argument("--refit", action="store_true",
                   help="with --calibrate: refit the super-seeder's rate share to the stored "
                   "records (done by --rerun too)")
    p.add_argument("--runs", type=int, default=1, metavar="N",
                   help="with --rerun: simulator runs per scenario (the median is used)")
    p.add_argument("--json", action="store_true",
                   help="with --calibrate: the last stdout line is one JSON object")
    p.add_argument("--no-sweep", action="store_true",
                   help="skip the upload/demand sweep (nine more, smaller model runs)")
    p.set_defaults(func=_cmd_plan)


def _cmd_plan(args: argparse.Namespace) -> int:
    if args.example:
        from sim.planner.toml_file import EXAMPLE_PLAN

        sys.stdout.write(EXAMPLE_PLAN)
        return 0
    if args.calibrate:
        return _calibrate(args)
    if args.plan is None or args.out is None:
        raise PlanError("plan needs PLAN.toml and --out REPORT_DIR (or --example, --calibrate)")
    from sim.planner.planning import run_plan, upload_sweep
    from sim.planner.report import write_plan_report
    from sim.planner.toml_file import load_plan

    config = load_plan(args.plan)
    result = run_plan(config)
    sweep = [] if args.no_sweep else upload_sweep(config)
    write_plan_report(result, sweep, args.out)
    f = result.figures
    sys.stdout.write(
        f"CDN egress {f.cdn_egress_tb:,.1f} TB for {f.rentals:,} rentals "
        f"({f.cdn_egress_gb_per_1000_rentals:,.1f} GB per 1,000), offload "
        f"{f.offload * 100:.1f} %, peak origin {f.peak_origin_gbps:,.1f} Gbit/s, "
        f"cost {f.cost_usd:,.0f} USD; report in {args.out}\n")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from sim.planner.calibration import TOLERANCE, calibrate

    if args.rerun:
        _rerun(max(1, args.runs))
    elif args.refit:
        _refit()
    from sim.planner.origin_policy import measured_copies_per_session, super_seed_rate_share

    results = calibrate()
    sys.stdout.write(
        f"model constants: {measured_copies_per_session():.3f} origin copies per swarm "
        f"session (flash-crowd, measured), super-seeder rate share "
        f"{super_seed_rate_share():.3f} (fitted to asymmetric); poisson is fitted to nothing\n")
    for r in results:
        mark = "ok" if abs(r.error) <= TOLERANCE else "OUT OF TOLERANCE"
        sys.stdout.write(f"{r.name}: predicted {r.predicted_origin_bytes:,} B, measured "
                         f"{r.measured_origin_bytes:,} B, error {r.error * 100:+.1f} % "
                         f"({mark}, goal {TOLERANCE * 100:.0f} %)\n")
    if args.json:
        sys.stdout.write(json.dumps({"scenarios": [r.to_json() for r in results]}) + "\n")
    return 0


def _commit(repo: Path) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def _rerun(runs: int) -> None:
    """Run every calibration scenario through the real simulator; store its figures."""
    from sim.planner.calibration import CALIBRATION_SCENARIOS, SCENARIO_DIR
    from sim.planner.origin_policy import CALIBRATION_DIR, MeasuredRun
    from support.atomic_write import write_atomic
    from support.processes import peernode_argv

    commit = _commit(SCENARIO_DIR)
    for name in CALIBRATION_SCENARIOS:
        reports = []
        for i in range(runs):
            with tempfile.TemporaryDirectory(prefix=f"plan-calibrate-{name}-") as tmp:
                sys.stderr.write(f"simulating {name} (run {i + 1} of {runs}) ...\n")
                done = subprocess.run(
                    peernode_argv("sim", SCENARIO_DIR / f"{name}.toml", "--out", tmp),
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
                if done.returncode != 0:
                    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                    raise PlanError(f"simulating {name} failed: {last}")
                reports.append(json.loads((Path(tmp) / "report.json").read_text()))
        record = MeasuredRun.from_reports(reports, name, commit)
        write_atomic(CALIBRATION_DIR / f"{name}.json",
                     (json.dumps(record.to_json(), indent=2) + "\n").encode())
    _refit()


def _refit() -> None:
    """Fit the super-seeder's rate share to the stored records; write fitted.json."""
    from sim.planner.calibration import fit_super_seed_rate_share
    from sim.planner.origin_policy import CALIBRATION_DIR, FITTED_FILE
    from support.atomic_write import write_atomic

    fitted = fit_super_seed_rate_share()
    write_atomic(CALIBRATION_DIR / FITTED_FILE, (json.dumps(fitted, indent=2) + "\n").encode())
    sys.stderr.write(f"fitted the super-seeder's rate share: {fitted['super_seed_rate_share']}\n")
