"""NAT benchmark: a swarm behind home routers in network namespaces vs the same swarm
with every client public (root; the lab of sim/netlab).

Origin on the internet, 2 public, 2 nat-upnp and 4 nat-only clients (by default), every
link shaped equally with tbf (--rate each way), all starting together and sharing until
the last one completes. Offload = 1 - origin bytes / bytes the clients downloaded, the
origin's bytes read from its Prometheus metrics (the clients' own bytes_from_origin
beside); completion seconds per class. Prints one JSON line: both swarms (medians over
--runs) and offload_nat / offload_public (goal >= 0.9, and every NAT-only client done).

Time is scaled: a download here lasts about 10 s where a film's lasts minutes, so the
tracker's min interval (at which a leecher nobody can reach is asked back, [swarm]
lonely_below) is 3 s here (--min-interval; 60 s in production). A node obeys a tracker
interval that short only if its libtorrent ``min_announce_interval`` (300 s by default)
is lower; see docs/real-networks.md.

    sudo .venv/bin/python bench/nat.py [--size-mib 24] [--rate 4M] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import trio

from sim.netlab import HomeKind, Lab, lab_unavailable, open_lab
from sim.netlab.swarm import open_lab_swarm
from support.units import parse_rate

GOAL_RATIO = 0.9
RUN_TIMEOUT_S = 300.0


def _tracker_toml(args: argparse.Namespace) -> str:
    """The tracker's tunables for the run (its [swarm] intervals, the probe's retry)."""
    return (f"[swarm]\nannounce_interval_s = {args.interval}\n"
            f"min_announce_interval_s = {args.min_interval}\n"
            f"lonely_below = {args.lonely_below}\n"
            f"[probe]\nfirst_retry_s = {args.probe_retry}\n")


async def _run_swarm(lab: Lab, kinds: list[HomeKind], size_mib: float,
                     origin_args: list[str], tracker_toml: str) -> dict[str, object]:
    homes = [lab.add_home(f"h{i}", kind) for i, kind in enumerate(kinds, start=1)]
    config = lab.workdir / "tracker.toml"
    config.write_text(tracker_toml, encoding="utf-8")
    async with open_lab_swarm(lab, clients=len(homes), film_mib=size_mib) as swarm:
        await swarm.start_tracker("--config", str(config))
        await swarm.start_origin(*origin_args)
        started = time.monotonic()
        for number, home in enumerate(homes, start=1):
            await swarm.start_fetch(home.client, number, "--seed-for", str(RUN_TIMEOUT_S),
                                    timeout_s=RUN_TIMEOUT_S)
        done: dict[int, float] = {}
        with trio.move_on_after(RUN_TIMEOUT_S):
            while len(done) < len(homes):
                for number in range(1, len(homes) + 1):
                    status = swarm.status(number)
                    if number not in done and status and status.get("complete"):
                        done[number] = float(str(status["seconds"]))
                await trio.sleep(0.25)
        wall_s = time.monotonic() - started
        await trio.sleep(2)  # the origin's metrics are updated every second
        origin_bytes = await swarm.origin_uploaded()
        for number in range(1, len(homes) + 1):
            swarm.stop_fetch(number)
        summaries = [(await swarm.result(number, 30)).summary or {}
                     for number in range(1, len(homes) + 1)]
    downloaded = sum(int(str(s.get("bytes_from_origin", 0))) + int(str(s.get(
        "bytes_from_peers", 0))) for s in summaries)
    from_origin = sum(int(str(s.get("bytes_from_origin", 0))) for s in summaries)
    # payload the clients received, duplicates included (libtorrent's session counter)
    session = sum(int(str(s.get("bytes_downloaded_session", 0))) for s in summaries)
    hash_failures = sum(int(str(s.get("hash_failures", 0))) for s in summaries)
    by_class: dict[str, list[float]] = {}
    complete: dict[str, str] = {}
    for number, kind in enumerate(kinds, start=1):
        by_class.setdefault(kind.value, [])
        if number in done:
            by_class[kind.value].append(done[number])
    for cls, times in by_class.items():
        complete[cls] = f"{len(times)}/{sum(1 for k in kinds if k.value == cls)}"
    # per class: the share of its clients' bytes that came from the origin
    origin_share: dict[str, float] = {}
    for cls in by_class:
        shares = [int(str(s.get("bytes_from_origin", 0))) / max(1, int(str(s.get(
            "bytes_total", 1)))) for s, k in zip(summaries, kinds, strict=True) if k.value == cls]
        origin_share[cls] = round(statistics.mean(shares), 3) if shares else 0.0
    return {
        "offload": 1 - origin_bytes / downloaded if downloaded else 0.0,
        "origin_bytes": origin_bytes,
        "clients_bytes_from_origin": from_origin,
        "clients_bytes_downloaded": downloaded,
        "clients_bytes_received": session,
        # received beyond the film's bytes: blocks that came twice (end game) or again
        # after a failed piece; beside it, origin bytes the clients did not attribute
        "clients_bytes_redundant": session - downloaded,
        "origin_bytes_unattributed": origin_bytes - from_origin,
        "hash_failures": hash_failures,
        "completion_s": {cls: round(statistics.median(t), 2) if t else None
                         for cls, t in by_class.items()},
        "complete": complete,
        "origin_share": origin_share,
        "wall_s": round(wall_s, 1),
    }


def _median_runs(runs: list[dict[str, object]]) -> dict[str, object]:
    def med(values: list[float]) -> float:
        return round(statistics.median(values), 3)
    classes = runs[0]["completion_s"]
    assert isinstance(classes, dict)
    return {
        "offload": med([float(str(r["offload"])) for r in runs]),
        "completion_s": {
            cls: med([float(v) for r in runs
                      if (v := r["completion_s"][cls]) is not None])  # type: ignore[index]
            if any(r["completion_s"][cls] is not None for r in runs)  # type: ignore[index]
            else None
            for cls in classes},
        "origin_share": {
            cls: med([float(r["origin_share"][cls]) for r in runs])  # type: ignore[index]
            for cls in classes},
        "runs": runs,
    }


async def _bench(args: argparse.Namespace) -> dict[str, object]:
    rate = parse_rate(args.rate)
    nat_kinds = ([HomeKind.PUBLIC] * args.public + [HomeKind.NAT_UPNP] * args.upnp
                 + [HomeKind.NAT] * args.nat)
    origin_args = ["--super-seed"] if args.super_seed else []
    results: dict[str, list[dict[str, object]]] = {"nat": [], "public": []}
    for run in range(args.runs):
        for name, kinds in (("nat", nat_kinds), ("public", [HomeKind.PUBLIC] * len(nat_kinds))):
            with open_lab("pnbench", rate_bps=rate) as lab:
                result = await _run_swarm(lab, kinds, args.size_mib, origin_args,
                                          _tracker_toml(args))
            print(f"run {run + 1} {name}: {json.dumps(result)}", file=sys.stderr)
            results[name].append(result)
    nat, public = _median_runs(results["nat"]), _median_runs(results["public"])
    ratio = float(str(nat["offload"])) / float(str(public["offload"])) \
        if float(str(public["offload"])) > 0 else 0.0
    nat_only_done = all(
        r["complete"].get("nat", "0/0").split("/")[0] == r["complete"].get("nat", "0/0")  # type: ignore[attr-defined]
        .split("/")[1] for r in results["nat"])
    return {
        "bench": "nat",
        "film_mib": args.size_mib,
        "rate_bps": rate,
        "clients": {"public": args.public, "nat-upnp": args.upnp, "nat": args.nat},
        "super_seed": args.super_seed,
        "tracker": {"interval_s": args.interval, "min_interval_s": args.min_interval,
                    "lonely_below": args.lonely_below, "probe_retry_s": args.probe_retry},
        "runs": args.runs,
        "nat": nat,
        "public": public,
        "offload_ratio": round(ratio, 3),
        "goal_ratio": GOAL_RATIO,
        "nat_only_all_complete": nat_only_done,
        "ok": ratio >= GOAL_RATIO and nat_only_done,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=float, default=24)
    ap.add_argument("--rate", default="4M", help="every link's rate, each way")
    ap.add_argument("--public", type=int, default=2)
    ap.add_argument("--upnp", type=int, default=2)
    ap.add_argument("--nat", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--super-seed", action="store_true", help="origin with --super-seed")
    ap.add_argument("--interval", type=int, default=300, help="tracker announce interval (s)")
    ap.add_argument("--min-interval", type=int, default=3,
                    help="tracker min interval (s): lonely unreachable leechers come back"
                    " then (scaled to the bench's downloads; 60 in production)")
    ap.add_argument("--lonely-below", type=int, default=4,
                    help="tracker [swarm] lonely_below (0: every leecher at --interval)")
    ap.add_argument("--probe-retry", type=float, default=20.0,
                    help="tracker [probe] first_retry_s")
    args = ap.parse_args()
    reason = lab_unavailable(upnp=True)
    if reason:
        sys.exit(f"error: {reason}")
    print(json.dumps(trio.run(_bench, args)))


if __name__ == "__main__":
    main()
