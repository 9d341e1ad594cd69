"""Benchmark: the capacity planner's model at full scale, and how its time grows.

The goal: 10,000 films, 1,000,000 rentals a day for 7 days at 1-minute steps in at most
30 s on one core, peak memory at most 2 GB. Each measurement runs in a fresh process
(so peak memory is its own): the plan of ``peernode plan --example`` with the films and
days changed, through `run_plan` (drawing the rentals and stepping every swarm; no
report, no upload sweep). ``seconds`` is CPU time of that one process (one core);
``wall_s`` is wall-clock time, which a loaded machine inflates.

Prints one JSON line: the full-scale figures, then ``scaling`` with films and days
varied one at a time (``--quick``: the full-scale run only).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time
import tomllib

FULL = {"films": 10_000, "days": 7.0}
SCALING = [
    {"films": 2_500, "days": 7.0},
    {"films": 5_000, "days": 7.0},
    {"films": 20_000, "days": 7.0},
    {"films": 10_000, "days": 1.0},
    {"films": 10_000, "days": 3.5},
]


def measure_one(films: int, days: float) -> dict[str, object]:
    """Run the example plan with ``films`` and ``days`` in this process."""
    from sim.planner.planning import run_plan
    from sim.planner.toml_file import EXAMPLE_PLAN, plan_from_mapping

    config = plan_from_mapping(tomllib.loads(EXAMPLE_PLAN))
    config = dataclasses.replace(
        config,
        catalogue=dataclasses.replace(config.catalogue, films=films),
        audience=dataclasses.replace(config.audience, days=days),
    )
    cpu, wall = time.process_time(), time.perf_counter()
    result = run_plan(config)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    f = result.figures
    return {
        "films": films, "days": days, "rentals": f.rentals,
        "steps": round(days * 86400 / config.model.step_s),
        "seconds": round(cpu, 2), "wall_s": round(wall, 2), "peak_memory_mb": round(peak_mb),
        "offload": round(f.offload, 4), "cdn_egress_tb": round(f.cdn_egress_tb, 1),
        "peak_origin_gbps": round(f.peak_origin_gbps, 1),
    }


def _in_subprocess(films: int, days: float) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--one", str(films), str(days)],
                          capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the full-scale run only")
    parser.add_argument("--one", nargs=2, metavar=("FILMS", "DAYS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(int(args.one[0]), float(args.one[1]))))
        return
    full = _in_subprocess(int(FULL["films"]), FULL["days"])
    line: dict[str, object] = {
        "bench": "plan", **full,
        "goal_seconds": 30, "goal_peak_memory_mb": 2048,
        "within_goal": float(str(full["seconds"])) <= 30
        and float(str(full["peak_memory_mb"])) <= 2048,
    }
    if not args.quick:
        line["scaling"] = [
            {k: r[k] for k in ("films", "days", "rentals", "seconds", "peak_memory_mb")}
            for r in (_in_subprocess(int(s["films"]), s["days"]) for s in SCALING)
        ]
    print(json.dumps(line))


if __name__ == "__main__":
    main()
