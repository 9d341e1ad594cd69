"""`peernode host`: run a node that hosts a film's ciphertext placed before its release."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import trio

from certs import load_node_key
from certs.hosting import read_hosting_file
from peernode.cli.args import (
    add_listen_options,
    hostport_arg,
    rate_arg,
)
from peernode.cli.node_config import customer_node_config
from peernode.daemon.hosting_api import validate_service_url
from peernode.errors import PeernodeError
from peernode.runtime.hosting import HostedFilm
from peernode.runtime.hosting_policy import HostingPolicy, parse_hours
from peernode.runtime.hosting_renewal import open_current_hosting
from peernode.runtime.node import load_torrent, open_node, torrent_ca_certificate
from support.hostport import format_hostport

__all__ = ["register"]

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)



def service_arg(text: str) -> str:
    """An argparse ``type=`` for --service: the rental service's https:// URL."""
    try:
        return validate_service_url(text)
    except PeernodeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def hours_arg(text: str) -> str:
    """An argparse ``type=`` for --hours: the text, once it parses."""
    try:
        parse_hours(text)
    except PeernodeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `host`."""
    p = sub.add_parser(
        "host",
        help="host a film's ciphertext (pre-positioning; the owner's opt-in)",
        description="Download the whole encrypted container of TORRENT with a hosting "
        "credential (`peernode ca host`, or the rental service) and seed it to renters until "
        "SIGTERM or --for runs out. A host never holds a key: it cannot decrypt a byte. "
        "Running this command is the owner's opt-in; --disk-quota, --upload-limit and "
        "--hours are its limits.",
    )
    p.add_argument("torrent", type=Path, metavar="TORRENT")
    p.add_argument("--hosting", required=True, type=Path, metavar="HOST.pvh",
                   help="hosting credential (SAN = film id, no content key)")
    p.add_argument("--node-key", required=True, type=Path, help="this node's key (node.key)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="hosting directory")
    p.add_argument("--service", type=service_arg, metavar="URL",
                   help="the rental service that issued the credential (`peernode place "
                   "--service`): the host renews it there over mutual TLS while it hosts the "
                   "film (its credentials are short-lived), and renews one that expired "
                   "while the host was off before it starts")
    p.add_argument("--disk-quota", required=True, type=rate_arg, metavar="SIZE",
                   help="disk the hosted films may take, bytes or 500M/20G; a film that does "
                   "not fit is refused")
    add_listen_options(p)
    p.add_argument("--operator-ca", type=Path, metavar="CA.pem",
                   help="pin the operator's CA: torrents and credentials of another are refused")
    p.add_argument("--peer", type=hostport_arg, action="append", default=[], metavar="HOST:PORT",
                   help="connect to this peer directly (bypassing the tracker); repeatable")
    p.add_argument("--upload-limit", type=rate_arg, default=0, metavar="RATE",
                   help="upload cap of the hosted film, bytes/s or 500K/4M (default none)")
    p.add_argument("--download-limit", type=rate_arg, default=0, metavar="RATE",
                   help="download cap while placing the film, bytes/s or 500K/4M")
    p.add_argument("--hours", type=hours_arg, default="", metavar="A-B[,C-D]",
                   help="UTC hours when hosting may transfer, e.g. 1-7 or 22-6 "
                   "(default: any time)")
    p.add_argument("--limit-local-peers", action="store_true",
                   help="apply rate limits to loopback/LAN peers too (simulations)")
    p.add_argument("--for", dest="for_s", type=float, default=0.0, metavar="SECONDS",
                   help="stop this long after the film is complete (default: run until "
                   "SIGTERM or the credential's end, past which no renewal carries it)")
    p.add_argument("--status-log", type=Path, metavar="FILE",
                   help="append a JSON line of progress every second (for simulations)")
    p.add_argument("--json", action="store_true",
                   help="print a JSON summary (the host's progress report) as the last line")
    p.set_defaults(func=_cmd_host)


def _cmd_host(args: argparse.Namespace) -> int:
    if not args.torrent.is_file():
        raise PeernodeError(f"torrent {args.torrent} does not exist")
    credential = read_hosting_file(args.hosting)
    node_key = load_node_key(args.node_key)
    config = replace(
        customer_node_config(args, args.out),
        # the caps are the hosted film's own (HostingPolicy), not the node's
        hosting=HostingPolicy(enabled=True, disk_quota_bytes=args.disk_quota,
                              upload_rate_bps=args.upload_limit,
                              download_rate_bps=args.download_limit, hours=args.hours),
    )
    report: list[dict[str, Any]] = []

    async def run() -> None:
        async with open_node(config) as node:
            ti = load_torrent(args.torrent)
            opened, _ = await open_current_hosting(
                credential, node_key, node.operator_ca or torrent_ca_certificate(ti),
                service_url=args.service, now=config.wall_clock())
            hosted = await node.hosting.host(ti, opened, node_key, save_dir=args.out,
                                             peers=args.peer, service_url=args.service)
            sys.stderr.write(f"{hosted.film_id}: hosting on "
                             f"{format_hostport(config.listen_host, node.ssl_port)}\n")
            sys.stderr.flush()
            with trio.open_signal_receiver(*_STOP_SIGNALS) as signals:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_stop_on_signal, signals, nursery.cancel_scope)
                    await _follow(hosted, args.for_s, args.status_log, report)
                    nursery.cancel_scope.cancel()
            report.append(hosted.progress_report())

    trio.run(run)
    if args.json and report:
        print(json.dumps(report[-1]))
    return 0


async def _stop_on_signal(signals: Any, cancel: trio.CancelScope) -> None:
    async for _ in signals:
        cancel.cancel()
        return


async def _follow(hosted: HostedFilm, for_s: float, status_log: Path | None,
                  report: list[dict[str, Any]]) -> None:
    log_file = status_log.open("a", encoding="utf-8") if status_log else None
    done_at: float | None = None
    try:
        while True:
            line = hosted.progress_report()
            report.append(line)
            if log_file is not None:
                log_file.write(json.dumps({"t": time.time(), **line}) + "\n")
                log_file.flush()
            if line["complete"] and done_at is None:
                done_at = trio.current_time()
                sys.stderr.write(f"{hosted.film_id}: hosted film complete, seeding\n")
            if done_at is not None and for_s > 0 and trio.current_time() - done_at >= for_s:
                return
            if hosted.state.expired and not hosted.renewal_pending():
                return  # the credential ended and nothing will renew it
            await trio.sleep(1.0)
    finally:
        if log_file is not None:
            log_file.close()
