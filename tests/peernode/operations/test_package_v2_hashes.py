"""Our BEP 52 hashes and v2 torrent are byte for byte what libtorrent makes of the same file."""

from __future__ import annotations

import errno
import io
import os
import tracemalloc
from pathlib import Path

import libtorrent as lt
import pytest

from peernode.container.header import ContainerHeader
from peernode.container.stream import decrypt_file, encrypt_file
from peernode.errors import ContainerError
from peernode.operations import hashed_container
from peernode.operations.hashed_container import write_hashed_container
from peernode.operations.merkle import (
    LEAF_BYTES,
    FileMerkle,
    V2FileHashes,
    leaf_hashes,
    subtree_roots,
)
from peernode.operations.torrent_v2 import v2_single_file_torrent

KIB, MIB = 1024, 1024 * 1024
TRACKER = "https://127.0.0.1:8443/announce"
CREATED = 1_790_000_000
CA_PEM = "-----BEGIN CERTIFICATE-----\nnot parsed here\n-----END CERTIFICATE-----\n"


def _libtorrent_torrent(directory: Path, name: str, size: int, piece: int, created: int) -> bytes:
    ct = lt.create_torrent([lt.create_file_entry(name, size)], piece, lt.create_torrent.v2_only)
    ct.set_priv(True)
    ct.set_root_cert(CA_PEM)
    ct.add_tracker(TRACKER)
    ct.set_creator("peernode")
    ct.set_creation_date(created)
    lt.set_piece_hashes(ct, str(directory))
    torrent: bytes = lt.bencode(ct.generate())
    return torrent


def _our_torrent(hashes: V2FileHashes, name: str, created: int) -> bytes:
    return v2_single_file_torrent(
        name=name,
        hashes=hashes,
        tracker_url=TRACKER,
        ssl_root_cert_pem=CA_PEM,
        creator="peernode",
        creation_date=created,
    )


def _hashes_in_chunks(data: bytes, piece: int, chunk_leaves: int) -> V2FileHashes:
    merkle = FileMerkle(piece)
    step = chunk_leaves * LEAF_BYTES
    for start in range(0, len(data), step):
        merkle.add_leaf_hashes(leaf_hashes(memoryview(data)[start : start + step]))
    return merkle.finish(len(data))


@pytest.mark.parametrize(
    ("size", "piece"),
    [
        (1, 64 * KIB),  # one short leaf
        (100, 16 * KIB),
        (LEAF_BYTES - 1, 64 * KIB),
        (LEAF_BYTES, 16 * KIB),  # exactly one piece of one leaf
        (LEAF_BYTES + 1, 16 * KIB),  # two pieces, the second one byte
        (3 * LEAF_BYTES + 5, 64 * KIB),  # less than a piece, leaves not a power of two
        (64 * KIB, 64 * KIB),  # exactly one piece
        (64 * KIB + 1, 64 * KIB),
        (4 * 64 * KIB, 64 * KIB),  # a power of two of whole pieces
        (5 * 64 * KIB + 12345, 64 * KIB),  # odd tail, piece layer padded to 8
        (7 * 256 * KIB + 3 * LEAF_BYTES, 256 * KIB),  # last piece of whole leaves, part full
        (1000 * 16 * KIB + 777, 16 * KIB),  # many pieces
        (65 * 64 * KIB + 1, 64 * KIB),  # 66 pieces: padded to 128
    ],
)
@pytest.mark.parametrize("chunk_leaves", [1, 3, 64])
def test_torrent_is_byte_identical_to_libtorrents(
    tmp_path: Path, size: int, piece: int, chunk_leaves: int
) -> None:
    data = os.urandom(size)
    (tmp_path / "film-a").write_bytes(data)
    expected = _libtorrent_torrent(tmp_path, "film-a", size, piece, CREATED)
    hashes = _hashes_in_chunks(data, piece, chunk_leaves)
    assert _our_torrent(hashes, "film-a", CREATED) == expected
    # and libtorrent accepts it as the same torrent
    assert (
        lt.torrent_info(expected).info_hashes()
        == lt.torrent_info(_our_torrent(hashes, "film-a", CREATED)).info_hashes()
    )


@pytest.mark.parametrize(
    ("size", "piece"),
    [
        (LEAF_BYTES + 1, 16 * KIB),
        (64 * KIB + 1, 64 * KIB),
        (4 * 64 * KIB, 64 * KIB),
        (5 * 64 * KIB + 12345, 64 * KIB),
        (7 * 256 * KIB + 3 * LEAF_BYTES, 256 * KIB),
        (65 * 64 * KIB + 1, 64 * KIB),
    ],
)
@pytest.mark.parametrize("height", [0, 1, 2, 4])
def test_subtree_roots_give_the_same_hashes_as_leaves(size: int, piece: int, height: int) -> None:
    # What the hash threads hand over: each batch folded into subtrees of 2**height
    # leaves (at most a piece's), batches of a few subtrees, the last one padded.
    if LEAF_BYTES << height > piece:
        return
    data = os.urandom(size)
    merkle = FileMerkle(piece)
    step = 3 * (LEAF_BYTES << height)
    for start in range(0, size, step):
        chunk = memoryview(data)[start : start + step]
        roots = subtree_roots(leaf_hashes(chunk), height)
        merkle.add_subtree_roots(roots, height, -(-len(chunk) // LEAF_BYTES))
    assert merkle.finish(size) == _hashes_in_chunks(data, piece, 1)


def test_subtree_roots_are_checked() -> None:
    merkle = FileMerkle(64 * KIB)
    with pytest.raises(ValueError, match="above the piece"):
        merkle.add_subtree_roots(bytes(32), 3, 8)
    merkle.add_subtree_roots(bytes(32), 1, 2)
    with pytest.raises(ValueError, match="after"):
        merkle.add_subtree_roots(bytes(32), 0, 1)
    with pytest.raises(ValueError, match="roots for"):
        merkle.add_subtree_roots(bytes(64), 1, 2)
    with pytest.raises(ValueError, match="one piece needs leaf hashes"):
        merkle.finish(2 * LEAF_BYTES)


def test_an_empty_file_makes_no_torrent_here_or_in_libtorrent(tmp_path: Path) -> None:
    (tmp_path / "film-a").write_bytes(b"")
    with pytest.raises(RuntimeError):
        _libtorrent_torrent(tmp_path, "film-a", 0, 64 * KIB, CREATED)
    merkle = FileMerkle(64 * KIB)
    hashes = merkle.finish(0)
    assert hashes.pieces_root is None
    with pytest.raises(ValueError, match="non-empty"):
        _our_torrent(hashes, "film-a", CREATED)


def test_leaf_count_must_match_the_length() -> None:
    merkle = FileMerkle(64 * KIB)
    merkle.add_leaf_hashes(leaf_hashes(bytes(LEAF_BYTES)))
    with pytest.raises(ValueError, match="leaf hashes"):
        merkle.finish(LEAF_BYTES + 1)
    with pytest.raises(ValueError, match="power of two"):
        FileMerkle(48 * KIB)


def test_packaged_torrent_is_what_libtorrent_makes_of_the_container(
    package, ca_dir: Path, library: Path
) -> None:
    p = package()
    ours = p.torrent_path.read_bytes()
    meta = lt.bdecode(ours)
    ca_pem = (ca_dir / "ca.pem").read_text()
    ct = lt.create_torrent(
        [lt.create_file_entry("film-a", p.container_path.stat().st_size)],
        p.piece_bytes,
        lt.create_torrent.v2_only,
    )
    ct.set_priv(True)
    ct.set_root_cert(ca_pem)
    ct.add_tracker(TRACKER)
    ct.set_creator("peernode")
    ct.set_creation_date(meta[b"creation date"])
    lt.set_piece_hashes(ct, str(library))
    assert ours == lt.bencode(ct.generate())
    assert b"piece layers" in meta  # several pieces: the layer is there


def _header(plaintext_bytes: int, segment_bytes: int = 64 * KIB) -> ContainerHeader:
    return ContainerHeader(
        film_id="film-a",
        plaintext_bytes=plaintext_bytes,
        segment_bytes=segment_bytes,
        nonce_prefix=b"\x01" * 7,
        mime_type="video/mp4",
    )


def _reference_container(plain: bytes, header: ContainerHeader, key: bytes) -> bytes:
    out = io.BytesIO()
    encrypt_file(
        io.BytesIO(plain),
        out,
        key=key,
        film_id=header.film_id,
        mime_type=header.mime_type,
        plaintext_bytes=header.plaintext_bytes,
        segment_bytes=header.segment_bytes,
        rng_bytes=lambda n: header.nonce_prefix[:n],
    )
    return out.getvalue()


@pytest.mark.parametrize(
    ("plaintext_bytes", "segment_bytes", "batch_bytes", "threads", "direct_io"),
    [
        (0, 64 * KIB, 4 * MIB, 2, True),  # an empty film: header + one empty segment
        (64 * KIB - 16, 64 * KIB, 64 * KIB, 0, True),  # one full segment, hashed inline
        (3 * MIB + 4321, 64 * KIB, 64 * KIB, 3, True),  # one segment per batch
        (3 * MIB + 4321, 64 * KIB, 200 * KIB, 2, False),  # rounded to 3 segments
        (5 * MIB + 1, 64 * KIB, 1 * MIB, 0, True),  # hashed in the calling thread
        (300 * KIB + 7, 1 * KIB, 20 * KIB, 2, True),  # small segments: batches of 16 KiB
        (2 * MIB, 1 * MIB, 1 * MIB, 1, True),  # segments larger than the batch asked
    ],
)
def test_pipeline_writes_the_container_encrypt_file_writes_and_hashes_it(
    tmp_path: Path,
    plaintext_bytes: int,
    segment_bytes: int,
    batch_bytes: int,
    threads: int,
    direct_io: bool,
) -> None:
    plain = os.urandom(plaintext_bytes)
    key = os.urandom(32)
    header = _header(plaintext_bytes, segment_bytes)
    film = tmp_path / "film.bin"
    film.write_bytes(plain)
    encrypted: list[int] = []
    hashed: list[int] = []
    piece = max(64 * KIB, segment_bytes)
    with film.open("rb", buffering=0) as src:
        hashes = write_hashed_container(
            src,
            tmp_path / "film-a",
            header=header,
            key=key,
            piece_bytes=piece,
            hash_threads=threads,
            direct_io=direct_io,
            batch_bytes=batch_bytes,
            on_encrypted=encrypted.append,
            on_hashed=hashed.append,
        )
    container = (tmp_path / "film-a").read_bytes()
    assert container == _reference_container(plain, header, key)
    assert hashes == _hashes_in_chunks(container, piece, 5)
    assert encrypted[-1] == plaintext_bytes
    assert hashed[-1] == len(container) == header.container_bytes()
    assert encrypted == sorted(encrypted)
    assert hashed == sorted(hashed)
    out = io.BytesIO()
    decrypt_file(tmp_path / "film-a", key, "film-a", out)
    assert out.getvalue() == plain


def test_o_direct_refused_on_write_falls_back_to_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some file systems accept an O_DIRECT open but refuse the writes (EINVAL).
    real_pwrite = os.pwrite
    refused: list[int] = []

    def pwrite(fd: int, data: memoryview, offset: int) -> int:
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & getattr(os, "O_DIRECT", 0):
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(hashed_container.os, "pwrite", pwrite)
    plain = os.urandom(MIB + 999)
    header, key = _header(len(plain)), os.urandom(32)
    with io.BytesIO(plain) as src:
        hashes = write_hashed_container(
            src, tmp_path / "c", header=header, key=key, piece_bytes=64 * KIB, batch_bytes=256 * KIB
        )
    container = (tmp_path / "c").read_bytes()
    assert container == _reference_container(plain, header, key)
    assert hashes == _hashes_in_chunks(container, 64 * KIB, 64)
    if _takes_o_direct_opens(tmp_path):  # then the first write was refused, and only it
        assert refused == [0]


def _takes_o_direct_opens(directory: Path) -> bool:
    try:
        fd = os.open(directory / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
    except (AttributeError, OSError):
        return False
    os.close(fd)
    return True


@pytest.mark.parametrize(("actual", "message"), [(-1, "ended after"), (1, "more than")])
def test_wrong_source_length_leaves_no_container(tmp_path: Path, actual: int, message: str) -> None:
    declared = 2 * MIB + 5
    header = _header(declared)
    target = tmp_path / "c"
    with (
        io.BytesIO(os.urandom(declared + actual)) as src,
        pytest.raises(ContainerError, match=message),
    ):
        write_hashed_container(src, target, header=header, key=bytes(32), piece_bytes=64 * KIB)
    assert not target.exists()


def test_an_existing_container_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "c"
    target.write_bytes(b"precious")
    with io.BytesIO(b"x") as src, pytest.raises(FileExistsError):
        write_hashed_container(src, target, header=_header(1), key=bytes(32), piece_bytes=64 * KIB)
    assert target.read_bytes() == b"precious"


def _peak_python_bytes(tmp_path: Path, plaintext_bytes: int) -> int:
    film = tmp_path / f"film-{plaintext_bytes}"
    with film.open("wb") as f:
        f.truncate(plaintext_bytes)  # sparse: contents do not matter here
    target = tmp_path / f"c-{plaintext_bytes}"
    tracemalloc.start()
    try:
        with film.open("rb", buffering=0) as src:
            write_hashed_container(
                src, target, header=_header(plaintext_bytes), key=bytes(32), piece_bytes=64 * KIB
            )
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        target.unlink()


def test_memory_does_not_grow_with_the_film(tmp_path: Path) -> None:
    # The batch buffers are fixed; what grows is the piece layer, 32 bytes a piece
    # (here 64 KiB pieces: 32 MiB more film, 512 more pieces, ~50 KB of hashes).
    small = _peak_python_bytes(tmp_path, 8 * MIB)
    large = _peak_python_bytes(tmp_path, 40 * MIB)
    assert large - small < 256 * KIB, (small, large)
