"""`peernode seed` (origin) and `peernode fetch` (customer download)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from certs import load_node_key, read_private, read_rental_file
from certs.file_reading import read_file
from peernode.cli.args import (
    add_customer_node_options,
    hostport_arg,
    rate_arg,
)
from peernode.cli.go_signal import wait_for_go
from peernode.cli.node_config import customer_node_config
from peernode.cli.progress_view import ProgressView
from peernode.errors import PeernodeError
from peernode.operations.origin import OriginConfig, serve_origin
from peernode.operations.origin_reachability import reachability_url
from peernode.runtime.connection_ages import DEFAULT_MAX_CONNECTION_AGE_S
from peernode.runtime.download import Download, DownloadStats
from peernode.runtime.node import Node, open_node
from support.hostport import format_hostport

__all__ = ["register"]

log = logging.getLogger("peernode")




def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `seed` and `fetch`."""
    p = sub.add_parser(
        "seed",
        help="origin seeder for every film of a library",
        description="Seed every film of LIBRARY_DIR (new .torrent files are picked up while "
        "running) with the origin seeder certificate, until SIGINT/SIGTERM.",
    )
    p.add_argument("--library", required=True, type=Path, help="library directory (save path)")
    p.add_argument("--cert", required=True, type=Path, help="seeder certificate (SAN '*')")
    p.add_argument("--key", required=True, type=Path, help="seeder private key (mode 0600)")
    p.add_argument("--listen", required=True, type=hostport_arg, metavar="HOST:PORT",
                   help="SSL listen address peers connect to (port 0: any free port; "
                   "[::]:PORT: every interface, IPv4 and IPv6); an origin never maps ports")
    p.add_argument("--upload-limit", type=rate_arg, default=0, metavar="RATE",
                   help="global upload cap, bytes/s or 500K/4M/1G (default unlimited)")
    p.add_argument("--metrics", type=hostport_arg, metavar="HOST:PORT",
                   help="serve Prometheus metrics on this address")
    p.add_argument("--super-seed", action="store_true",
                   help="BEP 16 super-seeding with a warm start: offer each piece once, let "
                   "peers spread it (about 1.1 copies of a film per swarm instead of 1.2-1.4); "
                   "a second, normal session on another port serves the first seconds")
    p.add_argument("--warm-handover", choices=("peer", "film"), default="film",
                   help="with --super-seed: hand a film's customers over from the warm start "
                   "all at once at the super-seeder's first byte (default: fewer origin "
                   "copies, measured), or one by one as it starts sending to each")
    p.add_argument("--step-back-copies", type=int, default=2, metavar="N",
                   help="once every piece of a film is held by N connected customers, send "
                   "it at a trickle (5%% of --upload-limit) until a piece gets scarce "
                   "(default 2; 0: never)")
    p.add_argument("--limit-local-peers", action="store_true",
                   help="apply rate limits to loopback/LAN peers too (simulations)")
    p.add_argument("--max-connection-age", type=float, default=DEFAULT_MAX_CONNECTION_AGE_S,
                   metavar="SECONDS",
                   help="end and remake peer connections older than this, so a revoked "
                   "rental keeps none (default %(default).0f; must be at most the rental "
                   "service's cert_lifetime_s / 5)")
    p.add_argument("--tracker-reachability", metavar="URL",
                   help="the tracker's metrics listener (http://HOST:PORT): customers it "
                   "found unreachable (no incoming connections) get this origin's bytes "
                   "last, so they take theirs from peers (default: everyone alike)")
    p.add_argument("--reachability-poll", type=float, default=5.0, metavar="SECONDS",
                   help="how often --tracker-reachability is read (default %(default)g)")
    p.set_defaults(func=_cmd_seed)

    f = sub.add_parser(
        "fetch",
        help="download a rented film (resumable)",
        description="Download the film of TORRENT with a rental bundle into DIR. Run the same "
        "command again to resume after an interruption.",
    )
    f.add_argument("torrent", type=Path, metavar="TORRENT")
    f.add_argument("--rental", required=True, type=Path, help="rental bundle (.pvr)")
    f.add_argument("--node-key", required=True, type=Path, help="this node's key (node.key)")
    f.add_argument("--out", required=True, type=Path, metavar="DIR", help="download directory")
    add_customer_node_options(f)
    f.add_argument("--seed-for", type=float, default=0.0, metavar="SECONDS",
                   help="keep sharing this long after completion (until the rental ends)")
    f.add_argument("--timeout", type=float, default=0.0, metavar="SECONDS",
                   help="give up (exit 1, progress kept) if not complete within this time")
    f.add_argument("--resume-interval", type=float, default=10.0, metavar="SECONDS",
                   help="save resume data this often while downloading (default 10)")
    f.add_argument("--status-log", type=Path, metavar="FILE",
                   help="append a JSON line of progress every second (for simulations)")
    f.add_argument("--port-mapping-timeout", type=float, default=15.0, metavar="SECONDS",
                   help="report 'no router answered' if no mapping within this time "
                   "(default 15)")
    f.add_argument("--json", action="store_true",
                   help="print a JSON summary as the last stdout line")
    f.add_argument("--wait-go", type=Path, metavar="FIFO",
                   help="load and open the node, then wait for a line on FIFO before the "
                   "download starts (simulations: a customer's app runs before they press "
                   "'rent'); creates FIFO.waiting, writes the time to FIFO.started")
    f.set_defaults(func=_cmd_fetch)


async def _exit_on_signal(cancel: trio.CancelScope, stopped: list[int]) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            stopped.append(signum)
            cancel.cancel()
            return


def _positive(value: float, flag: str) -> float:
    if not value > 0 or not math.isfinite(value):
        raise PeernodeError(f"{flag} must be a positive number of seconds")
    return value


def _cmd_seed(args: argparse.Namespace) -> int:
    host, port = args.listen
    config = OriginConfig(
        library=args.library,
        cert_pem=read_file(args.cert, what="certificate"),
        key_pem=read_private(args.key, what="seeder key"),
        listen_host=host,
        listen_port=port,
        upload_rate_bps=args.upload_limit,
        super_seeding=args.super_seed,
        limit_local_peers=args.limit_local_peers,
        max_connection_age_s=_positive(args.max_connection_age, "--max-connection-age"),
        warm_handover=args.warm_handover,
        step_back_copies=args.step_back_copies,
        reachability_url=None if args.tracker_reachability is None
        else reachability_url(args.tracker_reachability),
        reachability_poll_s=_positive(args.reachability_poll, "--reachability-poll"),
    )
    on_stats = None
    if args.metrics:
        from peernode.operations.origin_metrics import start_origin_metrics

        on_stats = start_origin_metrics(*args.metrics)

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            stopped: list[int] = []
            nursery.start_soon(_exit_on_signal, nursery.cancel_scope, stopped)
            bound = await nursery.start(_serve_origin, config, on_stats)
            sys.stderr.write(f"origin seeding {config.library} on {format_hostport(*bound)}\n")
            sys.stderr.flush()

    trio.run(run)
    return 0


async def _serve_origin(
    config: OriginConfig, on_stats: Any, *, task_status: trio.TaskStatus[tuple[str, int]]
) -> None:
    await serve_origin(config, on_stats=on_stats, task_status=task_status)


def _cmd_fetch(args: argparse.Namespace) -> int:
    opening_since = time.monotonic()
    if not args.torrent.is_file():
        raise PeernodeError(f"torrent {args.torrent} does not exist")
    bundle = read_rental_file(args.rental)
    node_key = load_node_key(args.node_key)
    config = replace(
        customer_node_config(args, args.out),
        port_mapping_timeout_s=args.port_mapping_timeout,
        upload_rate_bps=args.upload_limit,
        download_rate_bps=args.download_limit,
        resume_save_interval_s=args.resume_interval,
    )
    result: list[DownloadStats] = []
    port_mapping: list[dict[str, Any]] = [{"state": "pending"}]

    async def run() -> None:
        async with open_node(config) as node:
            went: float | None = None
            if args.wait_go is not None:
                sys.stderr.write(f"node opened in {time.monotonic() - opening_since:.2f} s, "
                                 "waiting for the go signal\n")
                went = await wait_for_go(args.wait_go)
            download = await node.fetch(
                args.torrent, bundle, node_key, save_dir=args.out, peers=args.peer
            )
            sys.stderr.write(
                f"{download.film_id}: listening on "
                f"{format_hostport(config.listen_host, node.ssl_port)}\n"
            )
            if went is not None:
                sys.stderr.write(f"{download.film_id}: started {time.time() - went:.2f} s "
                                 "after the go signal\n")
            stopped: list[int] = []
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_exit_on_signal, nursery.cancel_scope, stopped)
                await _follow(node, download, args.timeout, result, args.status_log)
                if result and result[-1].complete and args.seed_for > 0:
                    # a renewable rental shares until its window ends (renewed meanwhile)
                    ends = (download.rental.rental_ends - datetime.now(UTC)).total_seconds()
                    sharing = min(args.seed_for, ends)
                    sys.stderr.write(f"{download.film_id}: sharing for {sharing:.0f} s\n")
                    await trio.sleep(max(0.0, sharing))
                result.append(download.stats())
                nursery.cancel_scope.cancel()
            if stopped:
                result.append(download.stats())
            port_mapping[0] = _port_mapping_summary(node)

    trio.run(run)
    final = result[-1]
    if args.json:
        print(json.dumps({**final.summary(), "port_mapping": port_mapping[0]}))
    if not final.complete:
        reason = final.error or f"not complete ({final.progress * 100:.1f}%, state {final.state})"
        if final.renewal is not None and final.renewal.get("state") == "refused":
            reason += (f"; the rental service refused to renew the rental"
                       f" ({final.renewal.get('refused_reason')}: {final.renewal.get('message')})")
        raise PeernodeError(f"{final.film_id}: {reason}; run the same command to resume")
    return 0


def _port_mapping_summary(node: Node) -> dict[str, Any]:
    """``port_mapping`` of ``fetch --json`` and the status log: {"protocol",
    "external_address", "external_port"} once mapped, else {"error"} (None while
    the router may still answer); "state" says which."""
    view = dict(node.port_mapping)
    if view["state"] == "pending":
        view["error"] = None
    return view


async def _follow(
    node: Node,
    download: Download,
    timeout_s: float,
    result: list[DownloadStats],
    status_log: Path | None,
) -> None:
    deadline = math.inf if timeout_s <= 0 else trio.current_time() + timeout_s
    log_file = status_log.open("a", encoding="utf-8") if status_log else None
    try:
        with ProgressView() as view, trio.move_on_at(deadline):
            async for stats in download.progress():
                view.update(stats)
                result.append(stats)
                if log_file is not None:
                    line = {"t": time.time(), **stats.summary(), "progress": stats.progress,
                            "port_mapping": _port_mapping_summary(node)}
                    log_file.write(json.dumps(line) + "\n")
                    log_file.flush()
    finally:
        if log_file is not None:
            log_file.close()
    if not result or not result[-1].complete:
        result.append(download.stats())
