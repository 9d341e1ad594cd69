"""Admission at peers: only a rental for this film, from this CA, inside its window,
completes a connection and gets a byte - from the origin and from another client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
import trio
from cryptography.hazmat.primitives import serialization

from certs import generate_node_key, private_key_pem
from certs.authority import CA, IssuedCert
from peernode.operations.origin import OriginConfig, serve_origin
from peernode.runtime.download import Download
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.session_settings import add_ssl_torrent, make_session

from .conftest import FILM_ID, Film, RentalFactory

OTHER_CA = CA.create("someone else's CA", now=datetime.now(UTC) - timedelta(days=1))


def _cert_for(
    case: str, ca: CA
) -> tuple[bytes, bytes]:
    """A (cert PEM, key PEM) for a hostile client that skips the node's own checks."""
    key = generate_node_key()
    now = datetime.now(UTC)
    film_id, issuer = FILM_ID, ca
    not_before, not_after = now - timedelta(hours=1), now + timedelta(hours=1)
    if case == "other-ca":
        issuer = OTHER_CA
    elif case == "other-film":
        film_id = "another-film"
    elif case == "expired":
        not_before, not_after = now - timedelta(hours=3), now - timedelta(hours=1)
    elif case == "not-yet-valid":
        not_before, not_after = now + timedelta(hours=1), now + timedelta(hours=3)
    cert = issuer.issue_rental(film_id, key.public_key(), not_before=not_before,
                               not_after=not_after)
    return cert.public_bytes(serialization.Encoding.PEM), private_key_pem(key)


async def _bytes_received(
    film: Film, save: Path, cert_pem: bytes, key_pem: bytes, peer: tuple[str, int],
    *, seconds: float,
) -> int:
    session = make_session()
    handle = add_ssl_torrent(session, lt.torrent_info(str(film.torrent)), save,
                             cert_pem=cert_pem, key_pem=key_pem)
    handle.connect_peer(peer)
    deadline = trio.current_time() + seconds
    while trio.current_time() < deadline:
        if handle.status().is_seeding:
            break
        await trio.sleep(0.2)
    received = int(handle.status().total_payload_download)
    session.pause()
    return received


@asynccontextmanager
async def _origin_and_seeding_client(
    tmp_path: Path, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> AsyncIterator[tuple[tuple[str, int], tuple[str, int], Download]]:
    """An origin, and a client that downloaded the film from it and now seeds:
    yields (origin address, client address, the client's download)."""
    bundle, key = rent()
    async with trio.open_nursery() as nursery:
        origin = await nursery.start(
            serve_origin, OriginConfig(film.library, seeder.cert_pem, seeder.key_pem)
        )
        async with open_node(NodeConfig(listen_host="127.0.0.3")) as node:
            download = await node.fetch(film.torrent, bundle, key, save_dir=tmp_path / "good",
                                        peers=[origin])
            with trio.fail_after(30):
                await download.complete()
            yield origin, ("127.0.0.3", node.ssl_port), download
        nursery.cancel_scope.cancel()


CASES = ["other-ca", "other-film", "expired", "not-yet-valid"]


@pytest.mark.parametrize("case", CASES)
async def test_bad_rental_gets_no_byte_from_origin_or_client(
    case: str, tmp_path: Path, ca: CA, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    swarm = _origin_and_seeding_client(tmp_path, film, seeder, rent)
    async with swarm as (origin, client, download):
        cert_pem, key_pem = _cert_for(case, ca)
        from_origin = await _bytes_received(film, tmp_path / "bad1", cert_pem, key_pem,
                                            origin, seconds=3)
        from_client = await _bytes_received(film, tmp_path / "bad2", cert_pem, key_pem,
                                            client, seconds=3)
        assert download.stats().bytes_uploaded == 0
    assert from_origin == 0
    assert from_client == 0


async def test_valid_rental_gets_the_film_from_a_client(
    tmp_path: Path, ca: CA, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    """The control case: the same hostile-style session with a good certificate succeeds."""
    async with _origin_and_seeding_client(tmp_path, film, seeder, rent) as (_, client, download):
        cert_pem, key_pem = _cert_for("valid", ca)
        got = await _bytes_received(film, tmp_path / "other", cert_pem, key_pem,
                                    client, seconds=15)
        assert download.stats().bytes_uploaded == len(film.data)
    assert got == len(film.data)
    assert (tmp_path / "other" / FILM_ID).read_bytes() == film.data
