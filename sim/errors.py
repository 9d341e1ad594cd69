"""The one exception base of the simulation package, and its typed failures.

`SimError` derives from `PeernodeError` so that the ``peernode`` command line,
which turns `PeernodeError` into a one-line ``error: ...`` and exit 1, reports
simulation failures the same way without knowing about this package.
"""

from __future__ import annotations

from peernode.errors import PeernodeError

__all__ = ["BackendError", "ScenarioError", "SimError"]


class SimError(PeernodeError):
    """Base of every error raised by `sim`; its message is one line for the planner."""


class ScenarioError(SimError):
    """A scenario file is unreadable, not TOML, or describes an impossible swarm."""


class BackendError(SimError):
    """A backend could not run the swarm (a process did not start, a backend is missing)."""
