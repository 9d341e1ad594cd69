"""The planner's one error: bad input, named by its PLAN.toml key, on one line."""

from __future__ import annotations

from sim.errors import SimError

__all__ = ["PlanError"]


class PlanError(SimError):
    """A plan file, CSV or calibration record that cannot be used; the message is one line."""
