"""`peernode play`: download a rented film and serve it to a local player while it downloads."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import libtorrent as lt
import trio

from certs import load_node_key, read_rental_certificate, read_rental_file, rental_identity
from peernode.cli.args import (
    add_customer_node_options,
    argument_type,
)
from peernode.cli.node_config import customer_node_config
from peernode.errors import PeernodeError
from peernode.playback.server import PLAYBACK_SESSION_SETTINGS, serve_playback
from peernode.runtime.download import Download
from peernode.runtime.node import load_torrent, open_node
from support.hostport import format_hostport

__all__ = ["register"]

log = logging.getLogger("peernode")
_T = TypeVar("_T")


def _parse_port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise PeernodeError(f"invalid port {text!r}: must be 0-65535")
    return int(text)


_port = argument_type(_parse_port, "port")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `play`."""
    p = sub.add_parser(
        "play",
        help="watch a rented film while it downloads (local HTTP playback URL)",
        description="Start or resume downloading the rented film and serve it, decrypted, to "
        "a player on this machine. The first stdout line is the playback URL "
        "(http://127.0.0.1:PORT/<token>/<film>); give it to a player, e.g. "
        "`ffplay URL` or `vlc URL`. Pieces the player needs are fetched first. Runs until "
        "SIGINT/SIGTERM. DIR_OR_TORRENT: the film's torrent (downloaded into a directory "
        "named after the film next to it, or --out), or a download directory of an earlier "
        "`fetch`/`play` (its saved state names the torrent).",
    )
    p.add_argument("source", type=Path, metavar="DIR_OR_TORRENT")
    p.add_argument("--rental", required=True, type=Path, help="rental bundle (.pvr)")
    p.add_argument("--node-key", required=True, type=Path, help="this node's key (node.key)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="download directory (default: see DIR_OR_TORRENT)")
    p.add_argument("--port", type=_port, default=0, metavar="N",
                   help="playback HTTP port on 127.0.0.1 (default: any free port)")
    add_customer_node_options(p)
    p.set_defaults(func=_cmd_play)


def _torrent_and_save_dir(
    source: Path, out: Path | None, film_id: str
) -> tuple[lt.torrent_info, Path]:
    """The torrent to play and where to download it, from the command line's source."""
    if source.is_dir():
        save_dir = out or source
        return _torrent_in_directory(source, film_id), save_dir
    if not source.is_file():
        raise PeernodeError(f"{source} is neither a torrent nor a download directory")
    ti = load_torrent(source)
    save_dir = out or source.parent / ti.name()
    if save_dir.exists() and not save_dir.is_dir():
        raise PeernodeError(
            f"{save_dir} exists and is not a directory (a library?): choose one with --out DIR"
        )
    return ti, save_dir


def _torrent_in_directory(directory: Path, film_id: str) -> lt.torrent_info:
    """The film's torrent from a download directory: the saved resume data (which carries
    the info dict), else a ``<film_id>.torrent`` file there."""
    resume = directory / ".peernode" / f"{film_id}.resume"
    if resume.is_file():
        try:
            params = lt.read_resume_data(resume.read_bytes())
        except RuntimeError:
            params = None
        if params is not None and params.ti is not None and params.ti.is_valid():
            return params.ti
    torrent = directory / f"{film_id}.torrent"
    if torrent.is_file():
        return load_torrent(torrent)
    raise PeernodeError(
        f"{directory} holds no download of {film_id} (no {resume.name} with the torrent, "
        f"no {torrent.name}): pass the torrent instead"
    )


def _cmd_play(args: argparse.Namespace) -> int:
    bundle = read_rental_file(args.rental)
    film_id, _serial = rental_identity(read_rental_certificate(bundle))
    node_key = load_node_key(args.node_key)
    ti, save_dir = _torrent_and_save_dir(args.source, args.out, film_id)
    config = replace(
        customer_node_config(args, save_dir),
        upload_rate_bps=args.upload_limit,
        download_rate_bps=args.download_limit,
        extra_settings=dict(PLAYBACK_SESSION_SETTINGS),
    )

    async def run() -> None:
        async with open_node(config) as node:
            download = await node.fetch(ti, bundle, node_key, save_dir=save_dir, peers=args.peer)
            async with trio.open_nursery() as nursery:
                url = await nursery.start(_serve, download, args.port)
                print(url, flush=True)
                sys.stderr.write(
                    f"{download.film_id}: downloading into {save_dir}, peers connect to "
                    f"{format_hostport(config.listen_host, node.ssl_port)}; Ctrl-C to stop\n"
                )
                nursery.start_soon(_report_completion, download)
                await _until_signal()
                nursery.cancel_scope.cancel()

    trio.run(run)
    return 0


async def _serve(download: Download, port: int, *, task_status: trio.TaskStatus[str]) -> None:
    await serve_playback(download, port=port, task_status=task_status)


async def _report_completion(download: Download) -> None:
    try:
        stats = await download.complete()
    except PeernodeError as e:
        log.error("%s", e)
        return
    sys.stderr.write(f"{download.film_id}: download complete ({stats.total_bytes} bytes)\n")


async def _until_signal() -> None:
    # SIGINT too: stopping playback is the normal way out, not an interruption.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for _signum in signals:
            return
