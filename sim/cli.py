"""`peernode sim SCENARIO.toml --out REPORT_DIR [--backend local|docker]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import trio

from sim.backends.base import Backend
from sim.errors import BackendError, SimError
from sim.scenario.model import EventAction
from sim.scenario.toml_file import load_scenario

__all__ = ["backend_named", "register"]

BACKENDS = ("local", "docker")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `sim` to the `peernode` parser."""
    p = sub.add_parser(
        "sim",
        help="simulate a swarm from a scenario file and report the CDN offload",
        description="Run the scenario's tracker, origin and clients (local processes on "
        "loopback addresses, or docker containers), execute its events on time, and write "
        "report.json, report.md and PNG plots into REPORT_DIR: CDN offload, origin copies, "
        "egress saved per 1,000 rentals, completion times against the Kumar-Ross bound.",
    )
    p.add_argument("scenario", type=Path, metavar="SCENARIO.toml", help="scenario file")
    p.add_argument("--out", required=True, type=Path, metavar="REPORT_DIR",
                   help="directory for report.json, report.md and the plots")
    p.add_argument("--backend", choices=BACKENDS, default="local",
                   help="where nodes run (default local)")
    p.add_argument("--docker-image", default="peernode:latest", metavar="IMAGE",
                   help="image the docker backend runs (default peernode:latest; build it "
                   "with docker/build-image.sh)")
    p.add_argument("--seed", type=int, help="planning seed (default: the scenario's)")
    p.add_argument("--workdir", type=Path,
                   help="keep the swarm's files and node logs here (default: a temporary "
                   "directory, removed afterwards)")
    p.set_defaults(func=_cmd_sim)


def backend_named(name: str, *, docker_image: str = "peernode:latest") -> Backend:
    """The backend called ``name`` (the docker one runs ``docker_image``); `BackendError`
    for one not available."""
    if name == "local":
        from sim.backends.local import LocalBackend

        return LocalBackend()
    if name == "docker":
        # Imported here: the docker backend is only needed when asked for.
        from sim.backends.docker import DockerBackend

        return DockerBackend(image=docker_image)
    raise BackendError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")


def _cmd_sim(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    backend = backend_named(args.backend, docker_image=args.docker_image)
    cuts = {EventAction.CLIENT_PARTITION, EventAction.CLIENT_HEAL}
    if backend.name == "local" and any(e.action in cuts for e in scenario.events):
        raise SimError("client-partition and client-heal events need --backend docker")
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        raise SimError(f"--workdir {args.workdir} is not empty")
    from sim.live_progress import SwarmProgressView
    from sim.runner import check_backend_can_run, run_simulation

    check_backend_can_run(scenario, backend)

    with SwarmProgressView(f"sim {scenario.name}") as view:
        report = trio.run(lambda: run_simulation(
            scenario, backend, args.out, seed=args.seed, workdir=args.workdir, show=view.show,
            say=view.say))
    f = report.figures
    sys.stdout.write(
        f"{scenario.name}: offload {f.offload * 100:.1f}% (limit {f.offload_limit * 100:.1f}%), "
        f"origin copies {f.origin_copies:.2f}, p95 {_ratio(f.p95_over_t_min)} x T_min; "
        f"report in {args.out / 'report.md'}\n"
    )
    damaged = sorted(name for name, ok in report.film_intact.items() if ok is False)
    if damaged:
        raise SimError(f"downloaded film differs from the origin's at {', '.join(damaged)}")
    missing = f.clients - f.completed
    if missing:
        raise SimError(f"{missing} of {f.clients} clients did not complete "
                       f"(see {args.out / 'report.md'})")
    return 0


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
