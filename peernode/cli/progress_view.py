"""How a download's progress is shown: a rich bar on a terminal, log lines otherwise."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from peernode.runtime.download import DownloadStats
from support.units import format_bytes

__all__ = ["ProgressView", "describe"]


def describe(s: DownloadStats) -> str:
    """One line for logs: percent, rate, peers, origin vs peers, ETA."""
    eta = s.eta_s
    eta_text = "--" if eta is None else f"{eta:.0f}s"
    return (
        f"{s.film_id}: {s.state} {s.progress * 100:5.1f}% "
        f"down {format_bytes(s.download_rate_bps)}/s up {format_bytes(s.upload_rate_bps)}/s "
        f"peers {s.peers} from origin {format_bytes(s.bytes_from_origin)} "
        f"from peers {format_bytes(s.bytes_from_peers)} ETA {eta_text}"
    )


class ProgressView:
    """A rich progress bar when ``stream`` is a terminal, else a line every ``every_s``."""

    def __init__(self, stream: TextIO = sys.stderr, *, every_s: float = 5.0) -> None:
        self._stream = stream
        self._every_s = every_s
        self._last_line = -1e9
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if stream.isatty():
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f}%"),
                TextColumn("{task.fields[detail]}"),
                TimeRemainingColumn(),
                console=Console(file=stream),
            )

    def __enter__(self) -> ProgressView:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, s: DownloadStats) -> None:
        if self._progress is None:
            if s.seconds - self._last_line >= self._every_s or s.complete:
                self._last_line = s.seconds
                self._stream.write(describe(s) + "\n")
                self._stream.flush()
            return
        detail = (
            f"{format_bytes(s.download_rate_bps)}/s  peers {s.peers}  "
            f"origin {format_bytes(s.bytes_from_origin)}  peers {format_bytes(s.bytes_from_peers)}"
        )
        if self._task is None:
            self._task = self._progress.add_task(s.film_id, total=s.total_bytes, detail=detail)
        self._progress.update(self._task, completed=s.done_bytes, detail=detail)
