"""What every backend sees of its clients: status logs read as they grow, the JSON summary
printed at exit, and whether the downloaded container equals the origin's.

Both backends' clients write the same files on the host (``--status-log`` and
stdout in the client's directory, `sim.backends.provision.ClientFiles`), so
`ClientRecords` does `Swarm.observe` and `Swarm.collect` for both; a backend only
says which clients have started and whether each has exited.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import trio

from sim.analysis.timeseries import StatusLogTail
from sim.backends.base import ClientObservation
from sim.backends.provision import SwarmFiles
from sim.scenario.plan import SwarmPlan
from support.processes import file_sha256

__all__ = ["ClientRecords", "last_json_line"]

Exited = Callable[[str], bool | None]
"""Whether a client (by name) has exited; None if it was never started."""


class ClientRecords:
    """Start times and status-log tails of a swarm's clients."""

    def __init__(self, files: SwarmFiles, *, wall_clock: Callable[[], float] = time.time
                 ) -> None:
        self._files = files
        self._clock = wall_clock
        self._started_unix: dict[str, float] = {}
        self._tails: dict[str, StatusLogTail] = {}

    def started(self, name: str, at_unix: float | None = None) -> None:
        """Note that client ``name`` is being started now (or was at ``at_unix``)."""
        self._started_unix[name] = self._clock() if at_unix is None else at_unix

    def observe(self, name: str, exited: bool | None) -> ClientObservation:
        """What has been seen of ``name`` so far; ``exited`` None: never started."""
        if exited is None:
            return ClientObservation()
        tail = self._tails.setdefault(name, StatusLogTail(self._files.clients[name].status_log))
        return ClientObservation(samples=tail.read(), started_unix=self._started_unix.get(name),
                                 exited=exited)

    async def collect(self, plan: SwarmPlan, exited: Exited) -> dict[str, ClientObservation]:
        """Final observations by name: summaries read, completed downloads checked
        against the origin's container (SHA-256, in a worker thread)."""
        observations = {}
        for client in plan.clients:
            seen = self.observe(client.name, exited(client.name))
            f = self._files.clients[client.name]
            intact = None
            if seen.complete:
                download = f.download_dir / self._files.film_id
                digest = await trio.to_thread.run_sync(file_sha256, download)
                intact = digest == self._files.container_sha256
            observations[client.name] = ClientObservation(
                samples=seen.samples, started_unix=seen.started_unix, exited=seen.exited,
                summary=last_json_line(f.summary), film_intact=intact,
            )
        return observations


def last_json_line(path: Path) -> dict[str, object] | None:
    """The JSON object on the last non-empty line of ``path``, if there is one."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None
