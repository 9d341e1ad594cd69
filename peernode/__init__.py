"""The peernode node: packaging, encrypted container, libtorrent swarms, playback, CLI."""

from __future__ import annotations

from .errors import ContainerError, PeernodeError

__all__ = ["ContainerError", "PeernodeError"]
