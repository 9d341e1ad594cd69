"""Both TLS libraries (``tls_library``: bundled OpenSSL through pyOpenSSL, or the system's
through ``ssl``) refuse and admit alike; the rest of tests/tracker runs on the default."""

from __future__ import annotations

import ssl
from datetime import timedelta

import h11
import pytest
import trio

from certs.authority import CA
from tracker.config import TrackerConfig
from tracker.errors import ConfigError, TlsSetupError
from tracker.tls import server_tls
from tracker.tls_bundled import bundled_openssl_version

from .conftest import Pki, announce_once, announce_target, issue_rental, start_tracker
from .test_tracker_server import handshake_failures, wait_until

LIBRARIES = pytest.mark.parametrize("library", ["bundled", "system"])


@LIBRARIES
async def test_valid_rental_admitted_expired_and_revoked_refused_with_a_reason(
    pki: Pki, library: str
) -> None:
    film = pki.films["film-a"]
    good = issue_rental(pki.ca, "film-a")
    expired = issue_rental(pki.ca, "film-a", start=-timedelta(hours=3))
    revoked = issue_rental(pki.ca, "film-a")
    pki.revoke(revoked.cert.serial_number)
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, tls_library=library)
        for n, (rental, failure) in enumerate(
            [(good, None), (expired, b"rental has expired"), (revoked, b"rental has been revoked")]
        ):
            ctx = pki.client_context(rental.cert_pem, rental.key_pem)
            body = await announce_once(tracker.port, ctx, announce_target(film.info_hash, n))
            assert body.get(b"failure reason") == failure
        tracker.shutdown()


@LIBRARIES
async def test_other_ca_and_no_certificate_refused_in_the_handshake(
    pki: Pki, other_ca: CA, library: str
) -> None:
    target = announce_target(pki.films["film-a"].info_hash, 1)
    stranger = issue_rental(other_ca, "film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, tls_library=library)
        for ctx in (
            pki.client_context(stranger.cert_pem, stranger.key_pem),
            pki.client_context(None, None),
        ):
            with pytest.raises((trio.BrokenResourceError, h11.RemoteProtocolError)):
                await announce_once(tracker.port, ctx, target)
        await wait_until(
            lambda: handshake_failures(tracker)
            == {"certificate_verify_failed": 1, "peer_did_not_return_a_certificate": 1}
        )
        assert list(tracker.service.swarms.swarms()) == []
        tracker.shutdown()


async def test_bundled_tls_offers_x25519_and_p256_only(pki: Pki) -> None:
    """A client whose only group is P-384 finds no common group; P-256 alone is served."""
    film = pki.films["film-a"]
    rental = issue_rental(pki.ca, "film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, tls_library="bundled")
        p384 = pki.client_context(rental.cert_pem, rental.key_pem)
        p384.set_ecdh_curve("secp384r1")
        with pytest.raises(trio.BrokenResourceError):
            await announce_once(tracker.port, p384, announce_target(film.info_hash, 1))
        await wait_until(lambda: handshake_failures(tracker) == {"no_suitable_key_share": 1})
        p256 = pki.client_context(rental.cert_pem, rental.key_pem)
        p256.set_ecdh_curve("prime256v1")
        body = await announce_once(tracker.port, p256, announce_target(film.info_hash, 2))
        assert b"failure reason" not in body
        tracker.shutdown()


def test_bundled_openssl_is_not_the_system_one() -> None:
    assert bundled_openssl_version().startswith("OpenSSL ")
    assert bundled_openssl_version() != ssl.OPENSSL_VERSION


def test_bundled_tls_refuses_a_key_of_another_certificate(pki: Pki) -> None:
    other = pki.ca.issue_server(["127.0.0.1"])
    other.save(pki.dir, "other")
    config = pki.config(tls_library="bundled", key_path=pki.dir / "other.key")
    with pytest.raises(TlsSetupError, match="cannot be loaded"):
        server_tls(config)


def test_unknown_tls_library_and_tickets_without_the_system_library_are_refused(
    pki: Pki,
) -> None:
    with pytest.raises(ConfigError, match="tls_library must be one of bundled, system"):
        pki.config(tls_library="gnutls")
    with pytest.raises(ConfigError, match="tls_session_tickets needs"):
        pki.config(tls_session_tickets=2)
    assert isinstance(pki.config(tls_session_tickets=2, tls_library="system"), TrackerConfig)
