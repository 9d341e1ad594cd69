"""The one exception base of the node package."""

from __future__ import annotations

__all__ = ["ContainerError", "PeernodeError"]


class PeernodeError(Exception):
    """Base of every error raised by `peernode`; its message is one line for the user."""


class ContainerError(PeernodeError):
    """An encrypted film container is malformed, truncated, tampered or opened with a wrong key."""
