"""`peernode package`: encrypt a film and make its private SSL torrent."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from peernode.operations.packaging import ProgressCallback, package_film

__all__ = ["register"]

# Below this a film packages in well under a second: a bar would only flicker.
_PROGRESS_MIN_BYTES = 64 * 1024 * 1024


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `package`."""
    p = sub.add_parser(
        "package",
        help="encrypt a film and make its private SSL torrent",
        description="Encrypt FILM into LIBRARY_DIR/ID (the torrent's file, so LIBRARY_DIR is "
        "the save path for seeding), write LIBRARY_DIR/ID.torrent (v2-only, private, SSL root "
        "= the CA, name = ID) and store the film's content key in CA_DIR/keys/. Prints the "
        "torrent path and the v2 info-hash truncated to 20 bytes (hex), as trackers see it.",
    )
    p.add_argument("film", type=Path, metavar="FILM", help="the plaintext film file")
    p.add_argument(
        "--film-id",
        required=True,
        metavar="ID",
        help="film id: the torrent name and the rental certificates' SAN",
    )
    p.add_argument(
        "--ca-dir",
        required=True,
        type=Path,
        metavar="CA_DIR",
        help="operator CA directory (ca.pem; the content key goes to keys/)",
    )
    p.add_argument(
        "--tracker", required=True, metavar="URL", help="announce URL, https://HOST[:PORT]/announce"
    )
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="LIBRARY_DIR",
        help="library directory (created if missing)",
    )
    p.add_argument(
        "--mime",
        metavar="TYPE",
        help="MIME type stored in the container (default: guessed from FILM's suffix)",
    )
    p.set_defaults(func=_cmd_package)


def _cmd_package(args: argparse.Namespace) -> int:
    film: Path = args.film
    with _progress_bar(film) as on_progress:
        packaged = package_film(
            film,
            film_id=args.film_id,
            ca_dir=args.ca_dir,
            tracker_url=args.tracker,
            library=args.out,
            mime_type=args.mime,
            on_progress=on_progress,
        )
    print(packaged.torrent_path)
    print(packaged.info_hash_v2_truncated.hex())
    return 0


@contextmanager
def _progress_bar(film: Path) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr for a large film on a terminal, else nothing."""
    try:
        large = film.stat().st_size >= _PROGRESS_MIN_BYTES
    except OSError:
        large = False  # package_film reports the problem in one line
    if not (large and sys.stderr.isatty()):
        yield None
        return
    progress = Progress(
        TextColumn("{task.description:>10}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def on_progress(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            label = "encrypting" if phase == "encrypt" else "hashing"
            tasks[phase] = progress.add_task(label, total=total)
        progress.update(tasks[phase], completed=done)

    with progress:
        yield on_progress
