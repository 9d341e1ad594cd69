"""libtorrent accepts a packaged film: seeded over SSL, downloaded by a rental, decrypted.

Two real libtorrent sessions on 127.0.0.1 (port 0): an origin seeder with the SAN "*"
certificate and a customer node with a rental certificate. The rental for another
film is refused at the TLS handshake: not one byte of the film arrives.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
from cryptography.hazmat.primitives import serialization

from certs import generate_node_key, private_key_pem
from certs.authority import CA, load_content_key
from peernode.container.stream import decrypt_file
from peernode.operations.packaging import PackagedFilm
from peernode.runtime.session_settings import add_ssl_torrent, make_session, ssl_listen_port
from peernode.runtime.session_teardown import close_session_blocking

DEADLINE_S = 60.0


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _rental_pem(ca: CA, film_id: str) -> tuple[bytes, bytes]:
    node_key = generate_node_key()
    now = datetime.now(UTC)
    cert = ca.issue_rental(
        film_id,
        node_key.public_key(),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(hours=1),
    )
    return cert.public_bytes(serialization.Encoding.PEM), private_key_pem(node_key)


@pytest.fixture
def packaged(package) -> PackagedFilm:
    return package()


@pytest.fixture
def seeder(ca: CA, packaged: PackagedFilm, library: Path) -> Iterator[lt.session]:
    session = make_session("127.0.0.1", origin=True)
    issued = ca.issue_seeder()
    # Not seed_mode: libtorrent checks the container on disk against the torrent's
    # hashes, which proves the container sits at the torrent's file path under the
    # library and hashes right.
    handle = add_ssl_torrent(
        session,
        lt.torrent_info(str(packaged.torrent_path)),
        library,
        cert_pem=issued.cert_pem,
        key_pem=issued.key_pem,
    )
    _wait_for(lambda: handle.status().is_seeding, "the seeder to verify the container")
    yield session
    session.pause()
    close_session_blocking(session)  # leechers may be mid-handshake with it


def _leecher(
    packaged: PackagedFilm, out: Path, cert_pem: bytes, key_pem: bytes, seeder_port: int
) -> tuple[lt.session, lt.torrent_handle]:
    session = make_session("127.0.0.1")
    handle = add_ssl_torrent(
        session,
        lt.torrent_info(str(packaged.torrent_path)),
        out,
        cert_pem=cert_pem,
        key_pem=key_pem,
    )
    handle.connect_peer(("127.0.0.1", seeder_port))
    return session, handle


def test_rental_downloads_and_decrypts(
    ca: CA, ca_dir: Path, film: Path, packaged: PackagedFilm, seeder: lt.session, tmp_path: Path
) -> None:
    out = tmp_path / "download"
    cert_pem, key_pem = _rental_pem(ca, "film-a")
    _session, handle = _leecher(packaged, out, cert_pem, key_pem, ssl_listen_port(seeder))
    _wait_for(lambda: handle.status().is_seeding, "the download to complete")
    plain = io.BytesIO()
    decrypt_file(out / "film-a", load_content_key(ca_dir, "film-a"), "film-a", plain)
    assert plain.getvalue() == film.read_bytes()


def test_rental_for_another_film_gets_no_byte(
    ca: CA, packaged: PackagedFilm, seeder: lt.session, tmp_path: Path
) -> None:
    cert_pem, key_pem = _rental_pem(ca, "film-b")
    session, handle = _leecher(
        packaged, tmp_path / "download", cert_pem, key_pem, ssl_listen_port(seeder)
    )
    disconnected: list[str] = []

    def refused() -> bool:
        for alert in session.pop_alerts():
            if isinstance(alert, lt.peer_disconnected_alert | lt.peer_error_alert):
                disconnected.append(alert.message())
        return bool(disconnected)

    _wait_for(refused, "the peer connection to be refused", timeout_s=20)
    status = handle.status()
    assert status.total_done == 0
    assert status.total_payload_download == 0
    assert status.num_peers == 0
