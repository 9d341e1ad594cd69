"""`peernode daemon`: the node as a local service driven over the control API."""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import trio

from peernode.cli.args import ALL_INTERFACES, add_listen_options
from peernode.daemon.server import DaemonAddress, DaemonConfig, serve_daemon
from peernode.daemon.state_dir import StateStore
from peernode.errors import PeernodeError
from peernode.runtime.listen_port import choose_listen_port, remember_listen_port

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `daemon`."""
    p = sub.add_parser(
        "daemon",
        help="run the node as a local service with an HTTP control API",
        description="Run one node holding many rentals, driven over a JSON API on "
        "127.0.0.1 (OpenAPI at /openapi.json; bearer token in STATE_DIR/token). Rentals, "
        "downloads and settings live in STATE_DIR and survive restarts. Stops on "
        "SIGINT/SIGTERM, saving resume data. Peers reach the node on every interface, IPv4 "
        "and IPv6, on a port kept in STATE_DIR/listen-port; the home router is asked to "
        "forward it (UPnP IGD, NAT-PMP) unless --no-port-mapping, a refusal saved in the "
        "settings (PUT /v1/settings port_mapping changes it).",
    )
    p.add_argument("--state-dir", required=True, type=Path, metavar="DIR",
                   help="state directory (created, mode 0700)")
    p.add_argument("--port", type=int, default=0, metavar="N",
                   help="API port on 127.0.0.1 (default 0: any free port, see DIR/api.json)")
    add_listen_options(p)
    p.add_argument("--limit-local-peers", action="store_true",
                   help="apply rate limits to loopback/LAN peers too (simulations)")
    p.add_argument("--resume-interval", type=float, default=10.0, metavar="SECONDS",
                   help="save resume data this often while downloading (default 10)")
    p.set_defaults(func=_cmd_daemon)


def _cmd_daemon(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise PeernodeError(f"--port {args.port} is not a port number")
    store = StateStore(args.state_dir)
    if not args.port_mapping:
        # The refusal is the customer's: kept in the settings (the API can change it).
        store.save_settings(replace(store.settings(), port_mapping=False))
    port_file = store.listen_port_path if args.listen is None else None
    host, port = args.listen or (ALL_INTERFACES, 0)
    if port_file is not None:
        try:
            port = choose_listen_port(port_file)
        except OSError as e:
            raise PeernodeError(f"cannot find a free listen port: {e.strerror}") from None
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
            if port_file is not None:
                remember_listen_port(port_file, address.ssl_port)
            sys.stderr.write(f"peernode daemon: API {address.url} (token in "
                             f"{address.token_path}), SSL port {address.ssl_port}\n")
            sys.stderr.flush()
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
                async for _ in sigs:
                    nursery.cancel_scope.cancel()
                    return

    trio.run(run)
    return 0
