"""BEP 52 merkle hashes of one file, fed in file order while it is written (pure, hashlib only).

A v2 torrent hashes each file as a binary SHA-256 merkle tree over 16 KiB blocks:

* leaf = SHA-256 of one 16 KiB block; the file's last block may be shorter and is
  hashed as it is (no padding of the data);
* the tree has as many leaves as the next power of two of the block count; leaves
  beyond the end of the file are 32 zero bytes, so a missing subtree of height ``k``
  hashes to ``pad(k) = SHA-256(pad(k-1) || pad(k-1))`` with ``pad(0) = 0^32``;
* the *piece layer* is the layer whose nodes cover one piece (``piece_bytes / 16 KiB``
  leaves each, the last piece padded with zero leaves); the torrent carries it in
  ``piece layers`` only for files longer than one piece;
* the *pieces root* is the tree's root; an empty file has none.

`FileMerkle` keeps only the piece layer and the nodes of the piece being filled, so
memory is 32 bytes per piece whatever the file size. `leaf_hashes` hashes whole
blocks of a buffer; hashlib releases the GIL for each 16 KiB block, so several threads
can hash different buffers at once. `subtree_roots` folds a buffer's leaf hashes into
the roots of aligned subtrees of ``2**height`` leaves, in the thread that hashed them,
so the thread feeding `FileMerkle` only handles one hash per subtree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = [
    "HASH_BYTES",
    "LEAF_BYTES",
    "FileMerkle",
    "V2FileHashes",
    "leaf_hashes",
    "pad_hash",
    "subtree_roots",
]

LEAF_BYTES = 16 * 1024
HASH_BYTES = 32
_ZERO = bytes(HASH_BYTES)


def leaf_hashes(data: bytes | bytearray | memoryview) -> bytes:
    """The concatenated 32-byte leaf hashes of ``data`` cut into 16 KiB blocks.

    Every block but the last must be whole: ``data`` starts on a block boundary of the
    file, and only the file's final buffer may end inside a block.
    """
    view = memoryview(data).cast("B")
    sha256 = hashlib.sha256
    return b"".join(
        [sha256(view[i : i + LEAF_BYTES]).digest() for i in range(0, len(view), LEAF_BYTES)]
    )


def _fold(layer: bytes, levels: int) -> bytes:
    """``levels`` merkle levels up from ``layer`` (concatenated hashes, 2**levels-aligned)."""
    sha256 = hashlib.sha256
    pair = 2 * HASH_BYTES
    for _ in range(levels):
        view = memoryview(layer)
        layer = b"".join([sha256(view[i : i + pair]).digest() for i in range(0, len(view), pair)])
    return layer


def subtree_roots(hashes: bytes, height: int) -> bytes:
    """The roots of consecutive subtrees of ``2**height`` leaves over leaf ``hashes``.

    ``hashes`` are concatenated leaf hashes (from `leaf_hashes`) starting on a
    ``2**height``-leaf boundary of the file; a last incomplete subtree is padded with
    zero leaves, as BEP 52 pads a piece. Height 0 returns ``hashes`` unchanged.
    """
    if len(hashes) % HASH_BYTES:
        raise ValueError("leaf hashes must be a multiple of 32 bytes")
    width = HASH_BYTES << height
    short = -len(hashes) % width
    return _fold(hashes + bytes(short) if short else hashes, height)


def pad_hash(height: int) -> bytes:
    """The hash of a subtree of ``height`` levels whose leaves are all zero hashes."""
    node = _ZERO
    for _ in range(height):
        node = hashlib.sha256(node + node).digest()
    return node


def _root(nodes: list[bytes], width: int, pad: bytes) -> bytes:
    """Root over ``nodes`` padded with ``pad`` to ``width`` (a power of two) nodes."""
    layer = nodes + [pad] * (width - len(nodes))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest() for i in range(0, len(layer), 2)]
    return layer[0]


def _next_power_of_two(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


@dataclass(frozen=True)
class V2FileHashes:
    """A file's BEP 52 hashes: its length in bytes, pieces root (None if empty), piece layer.

    ``piece_layer`` is the concatenated piece hashes, empty when the file fits in one
    piece (the torrent then carries no ``piece layers`` entry for it).
    """

    file_bytes: int
    piece_bytes: int
    pieces_root: bytes | None
    piece_layer: bytes


class FileMerkle:
    """Builds a file's `V2FileHashes` from its leaf hashes, fed in file order.

    ``piece_bytes`` is a power of two of at least 16 KiB (`ValueError` otherwise).
    Feed either leaf hashes (`add_leaf_hashes`) or, for a file longer than one piece,
    subtree roots of one height (`add_subtree_roots`), not both.
    """

    def __init__(self, piece_bytes: int) -> None:
        if piece_bytes < LEAF_BYTES or piece_bytes & (piece_bytes - 1):
            raise ValueError(
                f"piece size must be a power of two >= {LEAF_BYTES}, got {piece_bytes}"
            )
        self.piece_bytes = piece_bytes
        self._leaves_per_piece = piece_bytes // LEAF_BYTES
        self.piece_height = self._leaves_per_piece.bit_length() - 1
        self._height: int | None = None  # of the nodes fed
        self._nodes = b""  # of the piece being filled
        self._pieces: list[bytes] = []
        self._leaf_count = 0

    def add_leaf_hashes(self, hashes: bytes) -> None:
        """Append leaf hashes (a multiple of 32 bytes, from `leaf_hashes`) in file order."""
        self.add_subtree_roots(hashes, 0, len(hashes) // HASH_BYTES)

    def add_subtree_roots(self, roots: bytes, height: int, leaves: int) -> None:
        """Append the roots of subtrees of ``2**height`` leaves (`subtree_roots`) in file order.

        ``leaves``: the file's leaves they cover (only the file's last subtree may be
        padded). ``height`` is at most the piece's and the same at every call.
        """
        if len(roots) % HASH_BYTES:
            raise ValueError("leaf hashes must be a multiple of 32 bytes")
        if self._height is None:
            if not 0 <= height <= self.piece_height:
                raise ValueError(f"subtree height {height} above the piece's {self.piece_height}")
            self._height = height
        elif height != self._height:
            raise ValueError(f"subtree height {height} after {self._height}")
        if -(-leaves >> height) != len(roots) // HASH_BYTES:
            raise ValueError(f"{len(roots) // HASH_BYTES} subtree roots for {leaves} leaves")
        self._leaf_count += leaves
        per_piece = HASH_BYTES << (self.piece_height - height)
        nodes = self._nodes + roots if self._nodes else roots
        whole = len(nodes) - len(nodes) % per_piece
        if whole:
            layer = _fold(nodes[:whole], self.piece_height - height)
            self._pieces += [layer[i : i + HASH_BYTES] for i in range(0, len(layer), HASH_BYTES)]
        self._nodes = nodes[whole:]

    def _partial_piece(self) -> bytes:
        """The root of the piece being filled, padded with zero subtrees."""
        height = self._height or 0
        per_piece = HASH_BYTES << (self.piece_height - height)
        nodes = self._nodes + pad_hash(height) * ((per_piece - len(self._nodes)) // HASH_BYTES)
        return _fold(nodes, self.piece_height - height)

    def finish(self, file_bytes: int) -> V2FileHashes:
        """The hashes of the file of ``file_bytes`` bytes whose leaves were all added.

        Raises `ValueError` if the number of leaves added does not match the length,
        or if a file of one piece was fed subtree roots above the leaves.
        """
        expected = -(-file_bytes // LEAF_BYTES)
        if self._leaf_count != expected:
            raise ValueError(f"{self._leaf_count} leaf hashes for a {file_bytes}-byte file")
        per_piece = self._leaves_per_piece
        if file_bytes == 0:
            return V2FileHashes(0, self.piece_bytes, None, b"")
        if expected <= per_piece:  # one piece: the tree is as wide as the file needs
            if self._pieces:  # the piece was exactly full
                return V2FileHashes(file_bytes, self.piece_bytes, self._pieces[0], b"")
            if self._height:
                raise ValueError("a file of at most one piece needs leaf hashes")
            nodes = self._nodes
            leaves = [nodes[i : i + HASH_BYTES] for i in range(0, len(nodes), HASH_BYTES)]
            root = _root(leaves, _next_power_of_two(expected), _ZERO)
            return V2FileHashes(file_bytes, self.piece_bytes, root, b"")
        pieces = list(self._pieces)
        if self._nodes:
            pieces.append(self._partial_piece())
        piece_pad = pad_hash(self.piece_height)
        root = _root(pieces, _next_power_of_two(len(pieces)), piece_pad)
        return V2FileHashes(file_bytes, self.piece_bytes, root, b"".join(pieces))
