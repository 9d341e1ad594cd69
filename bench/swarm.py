"""Flash-crowd swarm benchmark: 1 origin + N clients, everyone capped, on loopback.

Prints one JSON line: origin copies (origin bytes / film size; the limit is 1.0)
and completion p50/p95 against the Kumar-Ross minimum distribution time
T_min = max(F/u_s, F/d_min, N*F/(u_s + sum u_i)); medians over --runs.

    .venv/bin/python bench/swarm.py [--clients 8] [--size-mib 64] [--rate 4M] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import trio

from peernode.cli.demo import decrypts_to_original
from sim.demo import DemoConfig, run_demo
from support.units import parse_rate


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--size-mib", type=float, default=64)
    ap.add_argument("--rate", default="4M", help="origin upload and client up/down cap")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--normal-seeding", action="store_true",
                    help="origin without super-seeding (the libtorrent default policy)")
    args = ap.parse_args()
    rate = parse_rate(args.rate)
    film_bytes = int(args.size_mib * 1024 * 1024)
    cfg = DemoConfig(
        clients=args.clients, size_mb=film_bytes / 1e6, origin_upload_bps=rate,
        client_upload_bps=rate, client_download_bps=rate, stagger_s=0.0,
        origin_super_seed=not args.normal_seeding,
    )
    n, f = args.clients, film_bytes
    t_min = max(f / rate, f / rate, n * f / (rate + n * rate))
    runs = []
    for _ in range(args.runs):
        report = trio.run(lambda: run_demo(cfg, decrypts_to_original, out=sys.stderr))
        times = [c.seconds for c in report.clients]
        runs.append({
            "origin_copies": report.origin_bytes / report.film_bytes,
            "offload": report.offload,
            "p50_over_tmin": _percentile(times, 0.5) / t_min,
            "p95_over_tmin": _percentile(times, 0.95) / t_min,
            "ok": report.ok,
        })
    out = {
        "bench": "swarm",
        "clients": n,
        "film_bytes": f,
        "rate_bps": rate,
        "super_seed": not args.normal_seeding,
        "t_min_s": round(t_min, 2),
        **{k: round(statistics.median(r[k] for r in runs), 3)
           for k in ("origin_copies", "offload", "p50_over_tmin", "p95_over_tmin")},
        "runs": runs,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
