"""Fixtures for node tests: a CA, a small SSL v2-only torrent, rentals."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from certs import generate_node_key
from certs.authority import CA, IssuedCert, make_rental_bundle

FILM_ID = "test-film"
PIECE_BYTES = 64 * 1024


@dataclass
class Film:
    film_id: str
    library: Path
    torrent: Path
    data: bytes
    content_key: bytes


def make_torrent(library: Path, film_id: str, data: bytes, ca: CA) -> Path:
    """A v2-only private SSL torrent of one file ``library/film_id`` (bytes are opaque here)."""
    library.mkdir(parents=True, exist_ok=True)
    (library / film_id).write_bytes(data)
    fs = lt.file_storage()
    lt.add_files(fs, str(library / film_id))
    ct = lt.create_torrent(fs, PIECE_BYTES, flags=lt.create_torrent.v2_only)
    ct.set_priv(True)
    ct.set_root_cert(ca.cert_pem.decode())
    ct.add_tracker("https://127.0.0.1:1/announce")
    lt.set_piece_hashes(ct, str(library))
    path = library / f"{film_id}.torrent"
    path.write_bytes(lt.bencode(ct.generate()))
    return path


@pytest.fixture(scope="session")
def seeder(ca: CA) -> IssuedCert:
    return ca.issue_seeder(now=datetime.now(UTC) - timedelta(hours=1))


@pytest.fixture
def film(tmp_path: Path, ca: CA) -> Film:
    data = os.urandom(2 * 1024 * 1024 + 12345)
    library = tmp_path / "library"
    torrent = make_torrent(library, FILM_ID, data, ca)
    return Film(FILM_ID, library, torrent, data, os.urandom(32))


RentalFactory = Callable[..., tuple[bytes, ec.EllipticCurvePrivateKey]]


@pytest.fixture
def rent(ca: CA, film: Film) -> RentalFactory:
    def make(
        *,
        film_id: str = FILM_ID,
        start: timedelta = timedelta(hours=-1),
        length: timedelta = timedelta(hours=48),
        issuer: CA | None = None,
        content_key: bytes | None = None,
    ) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        key = generate_node_key()
        now = datetime.now(UTC)
        cert = (issuer or ca).issue_rental(
            film_id, key.public_key(), not_before=now + start, not_after=now + start + length
        )
        return make_rental_bundle(cert, content_key or film.content_key), key

    return make
