"""Network simulations of peernode swarms and the CDN-offload report."""

from __future__ import annotations

__all__: list[str] = []
