"""`peernode daemon`: the node as a local service driven over the control API."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

import trio

from peernode.cli.args import hostport_arg as _hostport
from peernode.daemon.server import DaemonAddress, DaemonConfig, serve_daemon
from peernode.errors import PeernodeError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `daemon`."""
    p = sub.add_parser(
        "daemon",
        help="run the node as a local service with an HTTP control API",
        description="Run one node holding many rentals, driven over a JSON API on "
        "127.0.0.1 (OpenAPI at /openapi.json; bearer token in STATE_DIR/token). Rentals, "
        "downloads and settings live in STATE_DIR and survive restarts. Stops on "
        "SIGINT/SIGTERM, saving resume data.",
    )
    p.add_argument("--state-dir", required=True, type=Path, metavar="DIR",
                   help="state directory (created, mode 0700)")
    p.add_argument("--port", type=int, default=0, metavar="N",
                   help="API port on 127.0.0.1 (default 0: any free port, see DIR/api.json)")
    p.add_argument("--listen", type=_hostport, default=("127.0.0.1", 0), metavar="HOST:PORT",
                   help="SSL listen address peers connect to (default 127.0.0.1:0)")
    p.add_argument("--limit-local-peers", action="store_true",
                   help="apply rate limits to loopback/LAN peers too (simulations)")
    p.add_argument("--resume-interval", type=float, default=10.0, metavar="SECONDS",
                   help="save resume data this often while downloading (default 10)")
    p.set_defaults(func=_cmd_daemon)


def _cmd_daemon(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise PeernodeError(f"--port {args.port} is not a port number")
    host, port = args.listen
    config = DaemonConfig(
        state_dir=args.state_dir,
        api_port=args.port,
        listen_host=host,
        listen_port=port,
        limit_local_peers=args.limit_local_peers,
        resume_save_interval_s=args.resume_interval,
    )

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            address: DaemonAddress = await nursery.start(serve_daemon, config)
            sys.stderr.write(f"peernode daemon: API {address.url} (token in "
                             f"{address.token_path}), SSL port {address.ssl_port}\n")
            sys.stderr.flush()
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
                async for _ in sigs:
                    nursery.cancel_scope.cancel()
                    return

    trio.run(run)
    return 0
