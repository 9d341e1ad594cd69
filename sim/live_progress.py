"""What a running simulation shows: a pure snapshot, one line of text, and a view
that is a rich progress bar on a terminal and a line every few seconds otherwise."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from sim.analysis.outcomes import Fate
from sim.backends.base import ClientObservation
from sim.scenario.plan import SwarmPlan
from support.units import format_bytes

__all__ = ["SwarmProgressView", "SwarmSnapshot", "describe_snapshot", "snapshot"]


@dataclass(frozen=True)
class SwarmSnapshot:
    """The swarm at one moment: client counts by state and bytes received so far."""

    elapsed_s: float
    clients: int
    waiting: int
    downloading: int
    done: dict[str, int]
    """Clients with a fate, by fate name (complete, quit, killed, ...)."""
    progress: float
    """Mean progress over all clients (0..1); a client with a fate other than
    complete counts with the progress it reached."""
    bytes_from_origin: int
    bytes_from_peers: int


def snapshot(
    plan: SwarmPlan,
    observations: Mapping[str, ClientObservation],
    fates: Mapping[str, Fate],
    elapsed_s: float,
) -> SwarmSnapshot:
    """Summarize ``observations`` (of the started clients) and ``fates`` for the display."""
    done: dict[str, int] = {}
    for fate in fates.values():
        done[fate.value] = done.get(fate.value, 0) + 1
    seen = list(observations.values())
    progress = sum(1.0 if fates.get(name) is Fate.COMPLETE else o.progress
                   for name, o in observations.items())
    return SwarmSnapshot(
        elapsed_s=elapsed_s,
        clients=len(plan.clients),
        waiting=sum(1 for c in plan.clients if c.name not in observations
                    and c.name not in fates),
        downloading=sum(1 for name in observations if name not in fates),
        done=done,
        progress=progress / len(plan.clients) if plan.clients else 0.0,
        bytes_from_origin=sum(o.samples[-1].bytes_from_origin for o in seen if o.samples),
        bytes_from_peers=sum(o.samples[-1].bytes_from_peers for o in seen if o.samples),
    )


def _detail(s: SwarmSnapshot) -> str:
    finished = "".join(f"  {fate} {n}" for fate, n in sorted(s.done.items()))
    return (
        f"waiting {s.waiting}  downloading {s.downloading}{finished}  "
        f"from origin {format_bytes(s.bytes_from_origin)}  "
        f"from peers {format_bytes(s.bytes_from_peers)}"
    )


def describe_snapshot(s: SwarmSnapshot) -> str:
    """One line: time, mean progress, counts by state, received bytes by source."""
    return f"{s.elapsed_s:6.1f} s {s.progress * 100:5.1f}%  {_detail(s)}"


class SwarmProgressView:
    """Shows snapshots: a rich bar when ``stream`` is a terminal, else a line every ``every_s``."""

    def __init__(self, title: str, stream: TextIO = sys.stderr, *, every_s: float = 5.0) -> None:
        self._stream = stream
        self._every_s = every_s
        self._last_line_s = -every_s
        self._title = title
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if stream.isatty():
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f}%"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=Console(file=stream),
            )
            self._task = self._progress.add_task(title, total=1.0, detail="starting")

    def __enter__(self) -> SwarmProgressView:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def say(self, text: str) -> None:
        """A line of news (a node started, an event happened) above the bar."""
        if self._progress is not None:
            self._progress.console.print(text)
        else:
            self._stream.write(text + "\n")
            self._stream.flush()

    def show(self, s: SwarmSnapshot) -> None:
        """Update the display with a new snapshot."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=s.progress, detail=_detail(s))
        elif s.elapsed_s - self._last_line_s >= self._every_s:
            self._last_line_s = s.elapsed_s
            self.say(f"{self._title}: {describe_snapshot(s)}")
