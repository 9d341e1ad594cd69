"""Offload accounting (pure): who sent each verified piece's blocks."""

from __future__ import annotations

from peernode.runtime.offload import BLOCK_BYTES, OffloadCounter, block_bytes

PIECE = 4 * BLOCK_BYTES


def test_blocks_are_counted_by_who_they_were_requested_from() -> None:
    c = OffloadCounter(PIECE, 10 * PIECE)
    for block in range(4):
        c.block_requested(0, block, block == 0)
    c.piece_verified(0)
    assert (c.bytes_from_origin, c.bytes_from_peers) == (BLOCK_BYTES, 3 * BLOCK_BYTES)
    assert c.offload == 0.75


def test_the_last_request_wins_and_unknown_blocks_count_as_origin() -> None:
    c = OffloadCounter(PIECE, 10 * PIECE)
    c.block_requested(1, 0, True)
    c.block_requested(1, 0, False)  # re-requested elsewhere (end game, timeout)
    c.block_requested(1, 1, False)
    c.piece_verified(1)
    assert (c.bytes_from_origin, c.bytes_from_peers) == (2 * BLOCK_BYTES, 2 * BLOCK_BYTES)


def test_pieces_found_on_disk_after_a_restart_are_not_counted() -> None:
    c = OffloadCounter(PIECE, 10 * PIECE)
    c.piece_verified(3)
    assert c.bytes_received == 0


def test_a_failed_piece_forgets_its_requests() -> None:
    c = OffloadCounter(PIECE, 10 * PIECE)
    c.block_requested(2, 0, True)
    c.piece_failed(2)
    c.piece_verified(2)
    assert c.bytes_received == 0


def test_the_last_piece_and_block_are_short() -> None:
    total = 2 * PIECE + BLOCK_BYTES + 100
    c = OffloadCounter(PIECE, total)
    for block in range(2):
        c.block_requested(2, block, False)
    c.piece_verified(2)
    assert c.bytes_from_peers == BLOCK_BYTES + 100
    assert block_bytes(100, 0) == 100
    assert block_bytes(PIECE, 4) == 0
