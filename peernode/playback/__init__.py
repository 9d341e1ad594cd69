"""Watching while downloading: a loopback HTTP server with Range support over the
decrypted film, and the pure range and read-ahead planning behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from support.lazy import lazy_attributes

_LAZY = {
    "serve_playback": "peernode.playback.server",
    "start_playback": "peernode.playback.server",
}

if TYPE_CHECKING:
    from peernode.playback.server import serve_playback, start_playback

__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = ["serve_playback", "start_playback"]
