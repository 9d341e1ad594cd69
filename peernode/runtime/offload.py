"""Offload accounting: which bytes came from the (CDN-billed) origin, which from peers.

Pure: fed with the block requests, verified and failed pieces of one download
(`peernode.runtime.torrent_events`); who is an origin is decided where the
alert is read (by its peer id prefix).
"""

from __future__ import annotations

from dataclasses import dataclass

from peernode.runtime.torrent_events import BlockRequested, HashFailed, PieceVerified

__all__ = ["BLOCK_BYTES", "OFFLOAD_EVENTS", "OffloadCounter", "block_bytes"]

# Why requests and not received blocks: libtorrent 2 posts block_finished only
# when the disk write completes, and drops it once the torrent is complete
# (measured: none at all for a fast 1 MiB download), so received blocks can't
# be counted reliably. Each block is attributed to the peer it was last
# requested from, when its piece passes the hash check.

BLOCK_BYTES = 16 * 1024

OffloadEvent = BlockRequested | PieceVerified | HashFailed
# The events `OffloadCounter.on_event` takes.
OFFLOAD_EVENTS: frozenset[type[OffloadEvent]] = frozenset(
    {BlockRequested, PieceVerified, HashFailed})


def block_bytes(piece_bytes: int, block: int) -> int:
    """Size of block ``block`` of a piece of ``piece_bytes`` (the last block may be short)."""
    return max(0, min(BLOCK_BYTES, piece_bytes - block * BLOCK_BYTES))


@dataclass
class OffloadCounter:
    """Bytes received from origin peers vs other peers, for one download.

    Fed with block requests (`block_requested`) and verified pieces
    (`piece_verified`); in a piece that was downloaded, a block whose requester
    is unknown is counted as origin bytes, so offload is never overstated.
    """

    piece_bytes: int
    total_bytes: int
    bytes_from_origin: int = 0
    bytes_from_peers: int = 0

    def __post_init__(self) -> None:
        self._requested: dict[int, dict[int, bool]] = {}

    def _piece_size(self, piece: int) -> int:
        return max(0, min(self.piece_bytes, self.total_bytes - piece * self.piece_bytes))

    def block_requested(self, piece: int, block: int, from_origin: bool) -> None:
        """A block was requested from an origin or another peer (the last request wins)."""
        self._requested.setdefault(piece, {})[block] = from_origin

    def piece_verified(self, piece: int) -> None:
        """A piece passed its hash check: count its blocks by who they were requested from."""
        senders = self._requested.pop(piece, None)
        if senders is None:
            # Nothing was requested for it in this session: the piece was found
            # on disk (libtorrent's check after a restart), not received.
            return
        size = self._piece_size(piece)
        n_blocks = -(-size // BLOCK_BYTES)
        for block in range(n_blocks):
            n = block_bytes(size, block)
            if senders.get(block, True):
                self.bytes_from_origin += n
            else:
                self.bytes_from_peers += n

    def piece_failed(self, piece: int) -> None:
        """A piece failed its hash check: its blocks will be requested again."""
        self._requested.pop(piece, None)

    def on_event(self, event: OffloadEvent) -> None:
        """Feed one of the `OFFLOAD_EVENTS`."""
        if isinstance(event, BlockRequested):
            self.block_requested(event.piece, event.block, event.from_origin)
        elif isinstance(event, PieceVerified):
            self.piece_verified(event.piece)
        else:
            self.piece_failed(event.piece)

    @property
    def bytes_received(self) -> int:
        return self.bytes_from_origin + self.bytes_from_peers

    @property
    def offload(self) -> float:
        """Fraction of received bytes that did not come from the origin (0 when nothing came)."""
        total = self.bytes_received
        return self.bytes_from_peers / total if total else 0.0
