"""Shared fixtures of the tracker tests: a CA, rental certificates, SSL torrents."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import certs
from tracker.catalog import announced_info_hashes

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Rental:
    """A rental certificate with its node key, as PEM for libtorrent."""

    cert: x509.Certificate
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class Film:
    film_id: str
    torrent_path: Path
    info_hash: bytes
    ti: lt.torrent_info


@pytest.fixture(scope="session")
def ca() -> certs.CA:
    return certs.CA.create(now=datetime.now(UTC))


@pytest.fixture(scope="session")
def other_ca() -> certs.CA:
    return certs.CA.create("another operator", now=datetime.now(UTC))


def issue_rental(
    ca: certs.CA, film_id: str, *, start: timedelta = -HOUR, length: timedelta = 2 * HOUR
) -> Rental:
    """A rental for ``film_id`` whose window starts ``start`` from now."""
    key = certs.generate_node_key()
    begin = datetime.now(UTC) + start
    cert = ca.issue_rental(film_id, key.public_key(), not_before=begin, not_after=begin + length)
    return Rental(cert, cert.public_bytes(Encoding.PEM), certs.private_key_pem(key))


@pytest.fixture
def rental_for(ca: certs.CA) -> Callable[..., Rental]:
    def make(film_id: str, **kw: timedelta) -> Rental:
        return issue_rental(ca, film_id, **kw)

    return make


def make_film(
    library: Path, film_id: str, ca_pem: bytes, tracker_url: str, *, size: int = 200_000
) -> Film:
    """Write a small v2-only private SSL torrent named ``film_id`` and its payload."""
    library.mkdir(parents=True, exist_ok=True)
    (library / film_id).write_bytes(os.urandom(size))
    ct = lt.create_torrent(
        [lt.create_file_entry(film_id, size)], 16384 * 4, lt.create_torrent.v2_only
    )
    ct.set_priv(True)
    ct.set_root_cert(ca_pem.decode())
    ct.add_tracker(tracker_url)
    lt.set_piece_hashes(ct, str(library))
    path = library / f"{film_id}.torrent"
    path.write_bytes(lt.bencode(ct.generate()))
    ti = lt.torrent_info(str(path))
    (info_hash,) = announced_info_hashes(ti)
    return Film(film_id, path, info_hash, ti)
