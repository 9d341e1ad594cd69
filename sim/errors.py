"""The one exception base of the simulation package, and its typed failures.

The ``peernode`` command line reports a `SimError` as one ``error: ...`` line and
exit 1, like every package's own base error.
"""

from __future__ import annotations

__all__ = ["BackendError", "ScenarioError", "SimError"]


class SimError(Exception):
    """Base of every error raised by `sim`; its message is one line for the planner."""


class ScenarioError(SimError):
    """A scenario file is unreadable, not TOML, or describes an impossible swarm."""


class BackendError(SimError):
    """A backend could not run the swarm (a process did not start, a backend is missing)."""
