"""The one exception base of the tracker package."""

from __future__ import annotations

__all__ = ["TrackerError"]


class TrackerError(Exception):
    """Base of every error raised by `tracker`; its message is one line for the operator."""
