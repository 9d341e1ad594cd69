"""The private tracker: admits rental holders by mutual TLS (pure core + trio/h11 shell)."""

from __future__ import annotations

from .errors import TrackerError

__all__ = ["TrackerError"]
