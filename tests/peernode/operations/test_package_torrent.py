"""package_film: the torrent libtorrent gets, where the container sits, the content key."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import libtorrent as lt
import pytest
from cryptography import x509

from certs.authority import load_content_key
from peernode.container.stream import decrypt_file
from peernode.operations.packaging import (
    MAX_PIECE_BYTES,
    MIN_PIECE_BYTES,
    PackagingError,
    choose_piece_bytes,
    guess_mime_type,
    validate_tracker_url,
)

KIB, MIB, GIB = 1024, 1024 * 1024, 1024 * 1024 * 1024


def test_packaged_film_torrent(package, ca_dir: Path, library: Path, tracker: str) -> None:
    p = package()
    assert p.torrent_path == library.absolute() / "film-a.torrent"
    data = p.torrent_path.read_bytes()
    meta = lt.bdecode(data)
    info = meta[b"info"]
    assert info[b"name"] == b"film-a"
    assert info[b"meta version"] == 2
    assert b"pieces" not in info  # no v1 part: v2-only
    assert info[b"private"] == 1
    root = x509.load_pem_x509_certificate(info[b"ssl-cert"])
    assert root == x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    assert meta[b"announce"] == tracker.encode()
    ti = lt.torrent_info(data)
    assert not ti.info_hashes().has_v1()
    assert ti.info_hashes().has_v2()
    assert ti.priv()
    assert ti.name() == "film-a"
    assert ti.piece_length() == p.piece_bytes == MIN_PIECE_BYTES
    assert p.info_hash_v2 == ti.info_hashes().v2.to_bytes()
    assert p.info_hash_v2_truncated == p.info_hash_v2[:20]


def test_container_sits_where_libtorrent_expects_and_decrypts(
    package, film: Path, ca_dir: Path, library: Path
) -> None:
    p = package()
    ti = lt.torrent_info(str(p.torrent_path))
    layout = ti.layout()
    assert Path(layout.file_path(0, str(library))) == p.container_path == library / "film-a"
    assert layout.file_size(0) == p.container_path.stat().st_size == p.header.container_bytes()
    key = load_content_key(ca_dir, "film-a")
    out = io.BytesIO()
    decrypt_file(p.container_path, key, "film-a", out)
    assert out.getvalue() == film.read_bytes()
    assert p.header.mime_type == "video/mp4"  # guessed from the suffix
    # Nothing but the film's two files in the library: the staging directory is gone.
    assert sorted(x.name for x in library.iterdir()) == ["film-a", "film-a.torrent"]


def test_content_key_file_is_private(package, ca_dir: Path) -> None:
    p = package()
    assert p.key_path == (ca_dir / "keys" / "film-a.key").absolute()
    assert stat.S_IMODE(p.key_path.stat().st_mode) == 0o600
    assert len(p.key_path.read_bytes()) == 32


def test_mime_override_and_progress(package, film: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    p = package(mime_type="video/x-matroska", on_progress=lambda *a: seen.append(a))
    assert p.header.mime_type == "video/x-matroska"
    phases = [phase for phase, _done, _total in seen]
    assert phases.index("hash") > phases.index("encrypt")
    assert ("encrypt", film.stat().st_size, film.stat().st_size) in seen
    total = p.header.container_bytes()
    assert seen[-1] == ("hash", total, total)


def test_second_film_same_library(package, ca_dir: Path) -> None:
    a = package()
    b = package(film_id="film-b")
    assert a.info_hash_v2 != b.info_hash_v2
    assert load_content_key(ca_dir, "film-a") != load_content_key(ca_dir, "film-b")


@pytest.mark.parametrize(
    ("container_bytes", "piece"),
    [
        (1, 64 * KIB),
        (2000 * 64 * KIB, 64 * KIB),
        (2000 * 64 * KIB + 1, 128 * KIB),
        (512 * MIB + 65 * KIB, 512 * KIB),
        (4 * GIB, 4 * MIB),
        (500 * GIB, MAX_PIECE_BYTES),  # capped: more pieces rather than bigger ones
    ],
)
def test_piece_size_rules(container_bytes: int, piece: int) -> None:
    chosen = choose_piece_bytes(container_bytes)
    assert chosen == piece
    assert chosen & (chosen - 1) == 0  # power of two
    assert chosen % (64 * KIB) == 0  # whole container segments per piece
    assert MIN_PIECE_BYTES <= chosen <= MAX_PIECE_BYTES


def test_piece_size_follows_a_larger_segment() -> None:
    assert choose_piece_bytes(1000, segment_bytes=1 * MIB) == 1 * MIB


@pytest.mark.parametrize(
    "url",
    [
        "http://tracker.example/announce",
        "https:///announce",
        "https://tracker.example/",
        "https://tracker.example/scrape",
        "https://tracker.example:0/announce",
        "https://tracker.example:99999/announce",
        "https://[::1/announce",
        "https://tracker.example/announce#frag",
        "https://tracker.example/announce x",
        "udp://tracker.example:80/announce",
        "https://tracker:8443/announce",  # a single label could be a film id (a renter's SAN)
        "https://localhost/announce",
    ],
)
def test_bad_tracker_urls(url: str) -> None:
    with pytest.raises(PackagingError, match="tracker URL"):
        validate_tracker_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://tracker.example/announce",
        "https://127.0.0.1:8443/announce?x=1",
        "https://[::1]:443/announce",
    ],
)
def test_good_tracker_urls(url: str) -> None:
    assert validate_tracker_url(url) == url


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("a.mp4", "video/mp4"),
        ("a.webm", "video/webm"),
        ("a", "application/octet-stream"),
        ("a.unknownext", "application/octet-stream"),
    ],
)
def test_guess_mime_type(name: str, mime: str) -> None:
    assert guess_mime_type(Path(name)) == mime
