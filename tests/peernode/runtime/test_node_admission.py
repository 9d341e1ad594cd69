"""Admission at peers: only a rental for this film, from this CA, inside its window,
completes a connection and gets a byte - from the origin and from another client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs import generate_node_key, private_key_pem
from certs.authority import CA, IssuedCert
from peernode.operations.origin import OriginConfig, serve_origin
from peernode.runtime.download import Download
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.session_settings import add_ssl_torrent, make_session
from peernode.runtime.session_teardown import close_session

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


@dataclass
class Attempt:
    """What a hostile session saw connecting to one peer."""

    received: int
    refusals: list[str]
    """The peer errors and disconnects its session reported (the evidence of a refusal)."""


_PEER_TROUBLE = (lt.peer_error_alert, lt.peer_disconnected_alert)


async def _attempt(
    film: Film, save: Path, cert_pem: bytes | None, key_pem: bytes | None,
    peer: tuple[str, int], *, seconds: float, until_refused: bool = False,
) -> Attempt:
    """Connect a bare libtorrent session (skipping the node's own checks) to ``peer``.

    Stops when the film is complete, when ``until_refused`` and a refusal was seen, or
    after ``seconds``.
    """
    session = make_session()
    ti = lt.torrent_info(str(film.torrent))
    if cert_pem is None or key_pem is None:  # no certificate at all
        params = lt.add_torrent_params()
        params.ti, params.save_path = ti, str(save)
        handle = session.add_torrent(params)
    else:
        handle = add_ssl_torrent(session, ti, save, cert_pem=cert_pem, key_pem=key_pem)
    handle.connect_peer(peer)
    refusals: list[str] = []
    deadline = trio.current_time() + seconds
    while trio.current_time() < deadline:
        refusals += [a.message() for a in session.pop_alerts() if isinstance(a, _PEER_TROUBLE)]
        if handle.status().is_seeding or (until_refused and refusals):
            break
        await trio.sleep(0.1)
    received = int(handle.status().total_payload_download)
    session.pause()
    await close_session(session)
    return Attempt(received, refusals)


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


CASES = ["other-ca", "other-film", "expired", "not-yet-valid", "no-certificate"]


@pytest.mark.parametrize("case", CASES)
async def test_bad_rental_is_refused_by_origin_and_client(
    case: str, tmp_path: Path, ca: CA, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    """Each refusal is waited for as evidence (the connection fails in the TLS handshake),
    not inferred from silence; the valid control case below uses the same route."""
    swarm = _origin_and_seeding_client(tmp_path, film, seeder, rent)
    async with swarm as (origin, client, download):
        cert_pem, key_pem = (None, None) if case == "no-certificate" else _cert_for(case, ca)
        attempts = [
            await _attempt(film, tmp_path / f"bad{i}", cert_pem, key_pem, peer, seconds=15,
                           until_refused=True)
            for i, peer in enumerate((origin, client))
        ]
        assert download.stats().bytes_uploaded == 0
    for attempt in attempts:
        assert attempt.received == 0
        assert attempt.refusals, "no refusal seen within 15 s"
        # the remote side's TLS alert (unknown ca, certificate expired, bad certificate,
        # certificate required, internal error for another film's SAN)
        assert any("[asio.ssl]" in r and "alert" in r for r in attempt.refusals), attempt


async def test_valid_rental_gets_the_film_from_a_client(
    tmp_path: Path, ca: CA, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    """The control case: the same hostile-style session with a good certificate succeeds."""
    async with _origin_and_seeding_client(tmp_path, film, seeder, rent) as (_, client, download):
        cert_pem, key_pem = _cert_for("valid", ca)
        got = await _attempt(film, tmp_path / "other", cert_pem, key_pem, client, seconds=15)
        assert download.stats().bytes_uploaded == len(film.data)
    assert got.received == len(film.data)
    assert (tmp_path / "other" / FILM_ID).read_bytes() == film.data


async def test_a_revoked_rental_still_gets_the_film_from_peers(
    tmp_path: Path, ca: CA, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    """Pins today's known limit (SECURITY.md): libtorrent peers read no CRL, so a revoked
    rental, refused by the tracker at once, still gets pieces from peers whose address it
    knows until its certificate expires. Revocation at peers waits for expiry."""
    cert_pem, key_pem = _cert_for("valid", ca)
    serial = x509.load_pem_x509_certificate(cert_pem).serial_number
    ca.sign_crl({serial: datetime.now(UTC)})  # revoked; nothing at a peer reads this
    async with _origin_and_seeding_client(tmp_path, film, seeder, rent) as (origin, _, _):
        got = await _attempt(film, tmp_path / "revoked", cert_pem, key_pem, origin, seconds=15)
    assert got.received == len(film.data)
