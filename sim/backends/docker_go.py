"""The go signal of a client container started ahead of its arrival.

The container's entrypoint (`docker/entrypoint.sh`) shapes and routes its link and runs
``peernode fetch --wait-go GO``, which loads, opens its session (and maps its port on a
home router), creates ``GO.waiting``, waits on the FIFO ``GO`` (no CPU while it waits),
and once a line arrives writes the time to ``GO.started`` and starts the download: a
customer's app is running before they press "rent", so start-up (some 40 s for 24
Python processes starting at once on a loaded 2-core machine) is not counted as a wait
of theirs. (The entrypoint's own PEERNODE_GO waits before peernode starts.) The FIFO
lives in the client's bind-mounted directory, so the host releases a client by
writing one line: no ``docker exec``, no polling, well under a millisecond.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["GoSignal", "arrival_spread"]


class GoSignal:
    """The FIFO at ``path`` and its marker files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def waiting_marker(self) -> Path:
        return self.path.with_name(self.path.name + ".waiting")

    @property
    def started_marker(self) -> Path:
        return self.path.with_name(self.path.name + ".started")

    def create(self, owner: tuple[int, int] | None = None) -> None:
        """Make the FIFO (a fresh one: an old one and its markers are removed), owned by
        ``owner`` (uid, gid: who waits on it) if given."""
        for p in (self.path, self.waiting_marker, self.started_marker):
            p.unlink(missing_ok=True)
        os.mkfifo(self.path, 0o600)
        if owner is not None:
            os.chown(self.path, *owner)

    @property
    def waiting(self) -> bool:
        """Whether the container has come up and waits for its signal."""
        return self.waiting_marker.exists()

    def release(self) -> bool:
        """Send the go signal; False if nobody waits on the FIFO (the container is gone).
        Never blocks."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno in (errno.ENXIO, errno.ENOENT):
                return False
            raise
        try:
            os.write(fd, b"go\n")
        finally:
            os.close(fd)
        return True

    def started_unix(self) -> float | None:
        """When the container got its signal (its own clock: the host's kernel)."""
        try:
            return float(self.started_marker.read_text(encoding="ascii").strip())
        except (FileNotFoundError, ValueError):
            return None


def arrival_spread(planned_s: Mapping[str, float], actual_unix: Mapping[str, float],
                   t0_unix: float | None) -> float | None:
    """The largest gap between a client's planned arrival (seconds after the swarm
    started at ``t0_unix``) and its actual start (unix seconds), over the clients in
    both maps. Without ``t0_unix`` the start is taken as the earliest actual start less
    its planned arrival (so a uniform lateness is not seen). None without clients."""
    names = [n for n in planned_s if n in actual_unix]
    if not names:
        return None
    if t0_unix is None:
        t0_unix = min(actual_unix[n] - planned_s[n] for n in names)
    return max(abs(actual_unix[n] - (t0_unix + planned_s[n])) for n in names)
