"""A v2-only, single-file, private SSL torrent built from hashes computed elsewhere.

libtorrent 2.1.1's Python binding has no ``create_torrent.set_hash2``, so hashes
computed while the container is written cannot be handed to ``lt.create_torrent``.
This module writes the same metainfo itself, key for key what ``create_torrent``
generates for one file with ``v2_only``, ``set_priv(True)``, ``set_root_cert``,
``add_tracker`` and ``set_creator``, and bencodes it with ``lt.bencode`` (which sorts
dictionary keys, as bencoding requires). tests/peernode/operations checks it is
byte-identical to what ``lt.set_piece_hashes`` produces for the same file.
"""

from __future__ import annotations

from typing import Any

import libtorrent as lt

from peernode.operations.merkle import LEAF_BYTES, V2FileHashes

__all__ = ["v2_single_file_torrent"]


def v2_single_file_torrent(
    *,
    name: str,
    hashes: V2FileHashes,
    tracker_url: str,
    ssl_root_cert_pem: str,
    creator: str,
    creation_date: int,
    private: bool = True,
) -> bytes:
    """The bencoded torrent of one file called ``name`` (also the torrent's name).

    ``hashes`` are the file's BEP 52 hashes (`peernode.operations.merkle`);
    ``creation_date`` is in seconds since the epoch. Raises `ValueError` for an empty
    file (libtorrent refuses those too) or a piece size v2 does not allow.
    """
    piece = hashes.piece_bytes
    if piece < LEAF_BYTES or piece & (piece - 1):
        raise ValueError(f"piece size must be a power of two >= {LEAF_BYTES}, got {piece}")
    if hashes.file_bytes <= 0 or hashes.pieces_root is None:
        raise ValueError("a torrent needs a non-empty file")
    leaf: dict[bytes, Any] = {b"length": hashes.file_bytes, b"pieces root": hashes.pieces_root}
    info: dict[bytes, Any] = {
        b"file tree": {name.encode(): {b"": leaf}},
        b"meta version": 2,
        b"name": name.encode(),
        b"piece length": piece,
    }
    if private:
        info[b"private"] = 1
    info[b"ssl-cert"] = ssl_root_cert_pem.encode()
    torrent: dict[bytes, Any] = {
        b"announce": tracker_url.encode(),
        b"created by": creator.encode(),
        b"creation date": creation_date,
        b"info": info,
    }
    # Only files longer than one piece carry their layer; libtorrent writes the
    # (then empty) dictionary anyway.
    layers = {hashes.pieces_root: hashes.piece_layer} if hashes.piece_layer else {}
    torrent[b"piece layers"] = layers
    encoded: bytes = lt.bencode(torrent)
    return encoded
