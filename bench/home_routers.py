"""Home-router benchmark: sim/scenarios/home-routers.toml (homes behind public, nat,
nat-upnp and dual-stack routers in two ISPs) on the docker backend, beside the same
swarm with every home public (home-routers-public.toml), and the routers' swarm again
with the tracker's locality off (home-routers-blind.toml), each over --runs seeds.

Offload is measured at the origin (its own counters). Prints one JSON line: medians of
the routers' and the public swarm's offload and their ratio (goal >= 0.9), the nat
clients' share of bytes from peers (goal >= 0.9), the cross-ISP share of peer bytes with
locality on (goal <= 0.3) and off (blind peer choice: about 0.5), from the report (the
clients' per-peer counts, where they have them) and as the home routers' kernels counted
it (nftables counters by the sender's ISP), whether every client
completed, and the arrivals' spread (goal <= 0.5 s). --clients and --film-mib shrink the
scenarios (same shares) for a machine that cannot hold 24 homes.

    .venv/bin/python bench/home_routers.py [--runs 3] [--clients 24] [--film-mib 64]
        [--image peernode:latest]      (build it first: docker/build-image.sh --local-base)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from sim import load_scenario, run_simulation
from sim.backends.docker import DEFAULT_IMAGE, ISP_BYTES_FILE, DockerBackend
from sim.errors import SimError
from sim.scenario.model import Scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "sim" / "scenarios"
GOALS = {"offload_ratio": 0.9, "nat_peer_share": 0.9, "cross_isp_share_locality_on": 0.3,
         "cross_isp_share_kernel_locality_on": 0.3, "arrival_spread_s": 0.5}


def _scenario(name: str, clients: int | None, film_mib: float | None) -> Scenario:
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    if clients is not None:
        scenario = dataclasses.replace(
            scenario, clients=dataclasses.replace(scenario.clients, count=clients))
    if film_mib is not None:
        scenario = dataclasses.replace(scenario, film_mib=film_mib)
    return scenario


async def _run(scenario: Scenario, image: str, seed: int, keep: Path | None = None,
               tracker: dict[str, int | float | bool] | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-home-") as tmp:
        started = time.monotonic()
        out = Path(tmp) / "out" if keep is None else keep / f"{scenario.name}-seed{seed}"
        await run_simulation(scenario, DockerBackend(image=image, tracker_swarm=tracker), out,
                             seed=seed, workdir=Path(tmp) / "work")
        figures: dict[str, Any] = json.loads((out / "report.json").read_text())["figures"]
        isp_file = Path(tmp) / "work" / ISP_BYTES_FILE
        isp_bytes = json.loads(isp_file.read_text()) if isp_file.exists() else None
        if keep is not None:
            logs = out / "logs"
            logs.mkdir(exist_ok=True)
            for log in (Path(tmp) / "work").rglob("*.log"):
                (logs / log.name).write_bytes(log.read_bytes())
    figures["wall_s"] = time.monotonic() - started
    figures["cross_isp_share_kernel"] = _cross_share(isp_bytes)
    return figures


def _cross_share(isp_bytes: dict[str, dict[str, int]] | None) -> float | None:
    """Bytes clients received from peers in another ISP / from peers in any ISP, as the
    home routers' kernels counted them."""
    if not isp_bytes:
        return None
    total = sum(sum(row.values()) for row in isp_bytes.values())
    cross = sum(n for isp, row in isp_bytes.items() for sender, n in row.items()
                if sender != isp)
    return cross / total if total else None


def _nat_peer_share(figures: dict[str, Any]) -> float | None:
    nat = (figures.get("by_kind") or {}).get("nat")
    if not nat:
        return None
    total = nat["bytes_from_peers"] + nat["bytes_from_origin"]
    return nat["bytes_from_peers"] / total if total else None


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 4) if known else None


def _by_kind(runs: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Router kind -> the median over ``runs`` of each of its report figures, and its
    share of bytes from peers."""
    table: dict[str, dict[str, float | None]] = {}
    kinds = sorted({k for f in runs for k in (f.get("by_kind") or {})})
    for kind in kinds:
        rows = [f["by_kind"][kind] for f in runs if kind in (f.get("by_kind") or {})]
        fields = sorted({k for row in rows for k, v in row.items()
                         if v is None or isinstance(v, int | float)})
        table[kind] = {k: _median([row.get(k) for row in rows]) for k in fields}
        table[kind]["peer_share"] = _median([
            row["bytes_from_peers"] / (row["bytes_from_peers"] + row["bytes_from_origin"])
            for row in rows if row["bytes_from_peers"] + row["bytes_from_origin"]])
    return table


async def main(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"routers": [], "public": [], "blind": []}
    names = {"routers": "home-routers", "public": "home-routers-public",
             "blind": "home-routers-blind"}
    for seed in range(1, args.runs + 1):
        for key, name in names.items():
            if args.only and key not in args.only:
                continue
            scenario = _scenario(name, args.clients, args.film_mib)
            figures = await _run(scenario, args.image, seed, args.keep,
                                 dict(args.tracker or []))
            runs[key].append(figures)
            print(f"seed {seed} {name}: offload {figures['offload_measured']:.3f}, "
                  f"completed {figures['completed']}/{figures['clients']}, "
                  f"cross-ISP {figures.get('cross_isp_share')} "
                  f"(kernel {figures['cross_isp_share_kernel']}), "
                  f"spread {figures.get('arrival_spread_s')}, "
                  f"{figures['wall_s']:.0f} s", file=sys.stderr)
    offload = {k: _median([f["offload_measured"] for f in v]) for k, v in runs.items()}
    ratios = [r["offload_measured"] / p["offload_measured"]
              for r, p in zip(runs["routers"], runs["public"], strict=False)
              if p["offload_measured"]]
    result = {
        "bench": "home_routers",
        "runs": args.runs,
        "clients": next(f["clients"] for v in runs.values() for f in v),
        "film_mib": args.film_mib or _scenario("home-routers", None, None).film_mib,
        "offload_routers": offload["routers"],
        "offload_public": offload["public"],
        "offload_ratio": _median(list(ratios)),
        "nat_peer_share": _median([_nat_peer_share(f) for f in runs["routers"]]),
        "cross_isp_share_locality_on": _median(
            [f.get("cross_isp_share") for f in runs["routers"]]),
        "cross_isp_share_locality_off": _median(
            [f.get("cross_isp_share") for f in runs["blind"]]),
        "cross_isp_share_kernel_locality_on": _median(
            [f["cross_isp_share_kernel"] for f in runs["routers"]]),
        "cross_isp_share_kernel_locality_off": _median(
            [f["cross_isp_share_kernel"] for f in runs["blind"]]),
        "completion_p95_s": {k: _median([f.get("completion_p95_s") for f in v])
                             for k, v in runs.items()},
        "all_completed": all(f["completed"] == f["clients"]
                             for v in runs.values() for f in v),
        "arrival_spread_s": _median(
            [f.get("arrival_spread_s") for v in runs.values() for f in v]),
        "origin_kernel_over_measured": _median(
            [f["origin_bytes_kernel"] / f["origin_bytes_measured"]
             for v in runs.values() for f in v
             if f.get("origin_bytes_kernel") and f.get("origin_bytes_measured")]),
        "wall_s_routers": _median([f["wall_s"] for f in runs["routers"]]),
        "by_kind_routers": _by_kind(runs["routers"]),
        "by_kind_public": _by_kind(runs["public"]),
        "by_kind_blind": _by_kind(runs["blind"]),
        "tracker": dict(args.tracker or []),
        "goals": GOALS,
    }
    return result


def _setting(text: str) -> tuple[str, int | float | bool]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    if value in ("true", "false"):
        return key, value == "true"
    try:
        return key, int(value)
    except ValueError:
        pass
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the value is no number") from None


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="seeds per scenario (default 3)")
    p.add_argument("--clients", type=int, help="homes per swarm (default: the scenario's 24)")
    p.add_argument("--film-mib", type=float, help="film size (default: the scenario's 64)")
    p.add_argument("--image", default=DEFAULT_IMAGE, help="the peernode image to run")
    p.add_argument("--keep", type=Path,
                   help="keep each run's report (and its nodes' logs) in DIR/SCENARIO-seedN")
    p.add_argument("--tracker", type=_setting, action="append", metavar="KEY=VALUE",
                   help="a tracker [swarm] setting for every run (repeatable), e.g. "
                   "max_listed_remote=1")
    p.add_argument("--only", choices=("routers", "public", "blind"), action="append",
                   help="run only these scenarios (repeatable; default all three)")
    return p.parse_args()


if __name__ == "__main__":
    try:
        print(json.dumps(trio.run(main, _args())))
    except SimError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
