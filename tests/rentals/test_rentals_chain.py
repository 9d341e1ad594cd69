"""The chain question, answered with real libtorrent sessions: can rental certificates
be issued by an *intermediate* CA while the torrents embed an offline root?

libtorrent 2.1 sets a handle's certificate with ``use_certificate`` (one certificate,
not ``use_certificate_chain``) and trusts only the torrent's root: a leaf signed by an
intermediate is never sent with its intermediate, so the peer (and the tracker, which
trusts the root) cannot build a chain to the root. These tests show it: the same
download that completes with a root-signed rental gets no byte with an
intermediate-signed one, passed with its chain, and its announce fails the handshake.
So the service signs rentals with the torrents' CA itself (docs/rental-service.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

import certs
from certs.authority import CA
from peernode.runtime.session_settings import add_ssl_torrent, make_session, ssl_listen_port
from tests.tracker.conftest import PLACEHOLDER_URL, make_film
from tracker.config import ProbePolicy, TrackerConfig
from tracker.server import RunningTracker, serve_tracker

FILM = "film-c"
HOUR = timedelta(hours=1)


def _ca_cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
             issuer_key: ec.EllipticCurvePrivateKey, path_length: int) -> x509.Certificate:
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name if issuer is None else issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - HOUR)
        .not_valid_after(now + 3650 * 24 * HOUR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def chain() -> tuple[CA, CA]:
    """An offline root (pathlen 1) and the online intermediate it signed (pathlen 0)."""
    root_key, inter_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    root_cert = _ca_cert("offline root", root_key, None, root_key, 1)
    inter_cert = _ca_cert("online rentals", inter_key, root_cert, root_key, 0)
    return CA(root_cert, root_key), CA(inter_cert, inter_key)


@dataclass(frozen=True)
class Leaf:
    """A rental certificate (PEM, maybe followed by its chain) and the node's key."""

    pem: bytes
    key_pem: bytes


def _leaf(issuer: CA, *chain: CA) -> Leaf:
    key = certs.generate_node_key()
    now = datetime.now(UTC)
    cert = issuer.issue_rental(FILM, key.public_key(), not_before=now - HOUR,
                               not_after=now + HOUR)
    pem = cert.public_bytes(Encoding.PEM) + b"".join(ca.cert_pem for ca in chain)
    return Leaf(pem, certs.private_key_pem(key))


@contextmanager
def _session(ti: lt.torrent_info, save: Path, cert_pem: bytes, key_pem: bytes, *,
             origin: bool, tracker_url: str | None = None) -> Iterator[tuple[lt.session,
                                                                           lt.torrent_handle]]:
    session = make_session(origin=origin)
    try:
        handle = add_ssl_torrent(session, ti, save, cert_pem=cert_pem, key_pem=key_pem,
                                 seed_mode=origin, flags=lt.torrent_flags.paused)
        if tracker_url is not None:
            handle.replace_trackers([lt.announce_entry(tracker_url)])
        else:
            handle.replace_trackers([])
        handle.resume()
        yield session, handle
    finally:
        session.pause()
        del session


async def _download(root: CA, leaf: Leaf, tmp_path: Path, seconds: float) -> int:
    """Bytes a leecher presenting ``leaf`` gets from a root-certified origin in ``seconds``."""
    film = make_film(tmp_path / "library", FILM, root.cert_pem, PLACEHOLDER_URL, size=256_000)
    seeder = root.issue_seeder()
    with (
        _session(film.ti, tmp_path / "library", seeder.cert_pem, seeder.key_pem,
                 origin=True) as (origin, _),
        _session(film.ti, tmp_path / "leech", leaf.pem, leaf.key_pem, origin=False) as (_, handle),
    ):
        with trio.move_on_after(seconds):
            while not handle.status().is_seeding:
                handle.connect_peer(("127.0.0.1", ssl_listen_port(origin)))
                await trio.sleep(0.5)
        return int(handle.status().total_wanted_done)


async def test_a_root_signed_rental_downloads(chain: tuple[CA, CA], tmp_path: Path) -> None:
    root, _ = chain
    assert await _download(root, _leaf(root), tmp_path, 30) == 256_000


async def test_an_intermediate_signed_rental_with_its_chain_gets_no_byte_from_peers(
    chain: tuple[CA, CA], tmp_path: Path
) -> None:
    root, intermediate = chain
    leaf_and_chain = _leaf(intermediate, intermediate)  # leaf + intermediate, as PEM
    assert await _download(root, leaf_and_chain, tmp_path, 8) == 0


async def test_an_intermediate_signed_rental_fails_the_tracker_handshake(
    chain: tuple[CA, CA], tmp_path: Path
) -> None:
    root, intermediate = chain
    library = tmp_path / "library"
    film = make_film(library, FILM, root.cert_pem, PLACEHOLDER_URL)
    (tmp_path / "ca.pem").write_bytes(root.cert_pem)
    server = root.issue_server(["127.0.0.1"])
    server.save(tmp_path, "server")
    config = TrackerConfig.from_mapping(
        {}, ca_path=tmp_path / "ca.pem", cert_path=tmp_path / "server.pem",
        key_path=tmp_path / "server.key", library_dir=library, probe=ProbePolicy(enabled=False),
    )
    leaf = _leaf(intermediate, intermediate)
    async with trio.open_nursery() as nursery:
        tracker: RunningTracker = await nursery.start(serve_tracker, config)
        with _session(film.ti, tmp_path / "leech", leaf.pem, leaf.key_pem, origin=False,
                      tracker_url=tracker.announce_url) as (session, _):
            with trio.fail_after(20):
                while True:
                    await trio.to_thread.run_sync(session.wait_for_alert, 100)
                    alerts = [a for a in session.pop_alerts()
                              if isinstance(a, (lt.tracker_reply_alert, lt.tracker_error_alert))]
                    if alerts:
                        break
            assert isinstance(alerts[0], lt.tracker_error_alert), alerts[0].message()
        # the tracker counts the refusal after sending its alert: the client may hear first
        refused = 'tracker_handshake_failures_total{reason="certificate_verify_failed"}'
        with trio.fail_after(10):
            while refused not in tracker.metrics.render().decode():
                await trio.sleep(0.05)
        tracker.shutdown()
