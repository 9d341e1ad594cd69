"""Bencoded tracker responses (pure; `lt.bencode` does the encoding)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import libtorrent as lt

from tracker.store import SwarmCounts
from tracker.swarm import AnnounceResult

__all__ = ["encode_announce", "encode_failure", "encode_scrape"]


def encode_announce(result: AnnounceResult) -> bytes:
    """The body of a successful announce: interval, counts and compact peers.

    Peers are always compact: BEP 23 makes ``compact`` advisory and libtorrent
    always asks for it.
    """
    body: dict[bytes, Any] = {
        b"interval": result.interval_s,
        b"min interval": result.min_interval_s,
        b"complete": result.counts.seeders,
        b"incomplete": result.counts.leechers,
        b"downloaded": result.counts.completed,
        b"peers": result.peers,
    }
    if result.peers6:
        body[b"peers6"] = result.peers6
    return bytes(lt.bencode(body))


def encode_failure(reason: str, *, min_interval_s: int | None = None) -> bytes:
    """A ``failure reason`` body; ``min_interval_s`` slows down clients that retry."""
    body: dict[bytes, Any] = {b"failure reason": reason.encode()}
    if min_interval_s is not None:
        body[b"interval"] = min_interval_s
        body[b"min interval"] = min_interval_s
    return bytes(lt.bencode(body))


def encode_scrape(counts: Mapping[bytes, SwarmCounts]) -> bytes:
    """The body of a scrape (BEP 48): per info-hash complete/incomplete/downloaded."""
    files = {
        ih: {b"complete": c.seeders, b"incomplete": c.leechers, b"downloaded": c.completed}
        for ih, c in counts.items()
    }
    body: dict[bytes, Any] = {b"files": files}
    return bytes(lt.bencode(body))
