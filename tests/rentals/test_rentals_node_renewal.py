"""Nodes renew by themselves, and revocation reaches peers (real service, real TLS, real
libtorrent nodes on loopback, certificate lifetimes of seconds).

- a node that was offline for a day renews on start while its window is open, keeps the
  renewed bundle, and is refused (with the reason) once revoked;
- a node keeps downloading across several renewals and connection cycles without
  losing a byte;
- libtorrent keeps a TLS connection whose peer certificate expired (the evidence for
  cycling), while a new handshake with that certificate fails;
- a revoked node (one that does not stop by itself) gets its last byte from any peer,
  over its established connections too, within one configured certificate lifetime L
  of the revocation: its certificate lasts 0.8 L, the honest nodes end connections older
  than 0.2 L.
"""

from __future__ import annotations

import base64
import functools
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

import certs
from certs import RentalExpired
from certs.authority import save_content_key
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.renewal import (
    RenewalRefusedError,
    open_current_rental,
    renewed_bundle_path,
)
from peernode.runtime.renewal_client import RenewalRefused, request_renewal
from peernode.runtime.session_settings import add_ssl_torrent, make_session, ssl_listen_port
from rentals.server import RunningRentalService, serve_rental_service
from tests.rentals.conftest import ServiceFiles, node_key_pem, serve, shop_client
from tests.rentals.last_byte import LastByte
from tests.tracker.conftest import PLACEHOLDER_URL, Film, make_film

LIFETIME_S = 10.0  # the service's smallest lifetime L: certificates last 0.8 L
AGE_S = LIFETIME_S / 5  # the origin's connection age bound: at most L/5


def _node_config(**over: Any) -> NodeConfig:
    return NodeConfig(listen_host="127.0.0.1", port_mapping=False, **over)


def _film(files: ServiceFiles, film_id: str, size: int) -> Film:
    film = make_film(files.library, film_id, files.ca.cert_pem, PLACEHOLDER_URL, size=size)
    save_content_key(files.ca_dir, film_id, os.urandom(32))
    return film


async def _rent(files: ServiceFiles, url: str, film_id: str, pub: str,
                shop_key: str) -> dict[str, Any]:
    async with shop_client(files, url, shop_key) as shop:
        r = await shop.post("/v1/rentals", json={"film_id": film_id, "node_public_key": pub,
                                                 "hours": 1})
        assert r.status_code == 201, r.text
        value: dict[str, Any] = r.json()
    return value


async def _revoke(files: ServiceFiles, url: str, rental_id: str, shop_key: str) -> None:
    async with shop_client(files, url, shop_key) as shop:
        r = await shop.post(f"/v1/rentals/{rental_id}/revoke", json={"reason": "chargeback"})
        assert r.status_code == 200, r.text


def _bundle(created: dict[str, Any]) -> bytes:
    return base64.b64decode(created["bundle"])


async def test_a_node_back_from_a_day_offline_renews_on_start_until_revoked(
    sqlite_files: ServiceFiles, tmp_path: Path,
) -> None:
    files = sqlite_files
    offset = [timedelta(0)]

    def clock() -> datetime:
        return datetime.now(UTC) + offset[0]

    key, pub = node_key_pem()
    save_dir = tmp_path / "out"
    async with trio.open_nursery() as nursery:
        running: RunningRentalService = await nursery.start(functools.partial(
            serve_rental_service, files.config(cert_lifetime_s=60), clock=clock))
        shop_key = files.add_key()
        async with shop_client(files, running.url, shop_key) as shop:
            r = await shop.post("/v1/rentals", json={"film_id": "film-a",
                                                     "node_public_key": pub, "hours": 48})
            created = r.json()
        bundle = _bundle(created)
        first = certs.read_rental_certificate(bundle)
        terms = certs.read_rental_terms(bundle)  # the bundle says where and until when
        assert terms.service_url == running.url
        assert terms.window_not_after is not None
        assert terms.window_not_after.isoformat().replace("+00:00", "Z") == created["not_after"]

        offset[0] = timedelta(days=1)  # the node was off for a day; its certificate expired
        rental = await open_current_rental(bundle, key, files.ca.cert, save_dir=save_dir,
                                           now=clock())
        assert rental.serial == first.serial_number == int(created["rental_id"])
        assert rental.not_before <= clock() < rental.not_after
        assert rental.not_after > first.not_valid_after_utc + timedelta(hours=23)
        kept = renewed_bundle_path(save_dir, "film-a")
        assert certs.read_rental_certificate(kept.read_bytes()).not_valid_after_utc \
            == rental.not_after

        async def must_not_call(*_a: Any, **_k: Any) -> Any:
            raise AssertionError("a valid kept certificate needs no renewal")

        # the next start opens the kept, newer certificate without asking the service
        again = await open_current_rental(bundle, key, files.ca.cert, save_dir=save_dir,
                                          now=clock(), request=must_not_call)
        assert again.not_after == rental.not_after

        await _revoke(files, running.url, created["rental_id"], shop_key)
        offset[0] = timedelta(days=1, minutes=5)  # the renewed certificate expired too
        with pytest.raises(RenewalRefusedError, match="revoked") as refused:
            await open_current_rental(bundle, key, files.ca.cert, save_dir=save_dir,
                                      now=clock())
        assert refused.value.reason == "revoked"

        # another node, with its own rental's certificate, cannot renew this one
        other, other_pub = node_key_pem()
        async with shop_client(files, running.url, shop_key) as shop:
            r = await shop.post("/v1/rentals", json={"film_id": "film-a",
                                                     "node_public_key": other_pub, "hours": 1})
        other_cert = certs.read_rental_certificate(_bundle(r.json()))
        with pytest.raises(RenewalRefused) as wrong:
            await request_renewal(running.url, rental.serial,
                                  cert_pem=other_cert.public_bytes(Encoding.PEM),
                                  key_pem=certs.private_key_pem(other),
                                  ca_pem=files.ca.cert_pem)
        assert wrong.value.reason == "wrong_node_key"
        running.shutdown()

    # the service is gone: an expired certificate cannot be renewed, one line says so
    with pytest.raises(RentalExpired, match="renewing it failed"):
        await open_current_rental(bundle, key, files.ca.cert, save_dir=tmp_path / "fresh",
                                  now=datetime.now(UTC) + timedelta(days=1))


async def test_a_node_keeps_downloading_across_renewals_without_losing_a_byte(
    sqlite_files: ServiceFiles, tmp_path: Path,
) -> None:
    files = sqlite_files
    film = _film(files, "film-n", 640 * 1024)
    seeder = files.ca.issue_seeder(now=datetime.now(UTC) - timedelta(hours=1))
    key, pub = node_key_pem()
    async with serve(files, cert_lifetime_s=LIFETIME_S) as running:
        created = await _rent(files, running.url, film.film_id, pub, files.add_key())
        async with open_node(_node_config(origin=True, max_connection_age_s=AGE_S)) as origin, \
                open_node(_node_config(download_rate_bps=40 * 1024,
                                       limit_local_peers=True)) as node:
            origin.add_seed(film.ti, save_path=files.library, cert_pem=seeder.cert_pem,
                            key_pem=seeder.key_pem)
            download = await node.fetch(film.torrent_path, _bundle(created), key,
                                        save_dir=tmp_path / "out",
                                        peers=[("127.0.0.1", origin.ssl_port)])
            states, connections = set(), set()
            with trio.fail_after(60):
                while not (stats := download.stats()).complete:
                    states.add(stats.state)
                    connections |= {p.local_endpoint() for p in download.handle.get_peer_info()}
                    await trio.sleep(0.2)
            status = download.handle.status()
            renewal = download.renewal
    assert renewal is not None
    assert renewal.renewals >= 2, renewal
    assert renewal.state == "scheduled"
    assert renewal.failures == 0
    assert "expired" not in states  # sharing never stopped
    assert len(connections) >= 3  # the connection to the origin was cycled, twice at least
    assert (tmp_path / "out" / film.film_id).read_bytes() == (files.library / film.film_id
                                                              ).read_bytes()
    assert status.total_failed_bytes == 0
    assert stats.hash_failures == 0
    assert download.rental.serial == int(created["rental_id"])
    kept = certs.read_rental_certificate(
        renewed_bundle_path(tmp_path / "out", film.film_id).read_bytes())
    assert kept.not_valid_after_utc == download.rental.not_after
    assert stats.summary()["renewal"]["renewals"] == renewal.renewals  # --json says so


def _raw_leech(film: Film, save: Path, cert_pem: bytes, key: ec.EllipticCurvePrivateKey,
               rate: int) -> tuple[lt.session, lt.torrent_handle]:
    """A node that does not stop by itself: a bare libtorrent session with a certificate."""
    session = make_session(limit_local_peers=True, settings={"min_reconnect_time": 1})
    handle = add_ssl_torrent(session, film.ti, save, cert_pem=cert_pem,
                             key_pem=certs.private_key_pem(key))
    handle.replace_trackers([])
    handle.set_download_limit(rate)
    return session, handle


def _connected(handle: lt.torrent_handle) -> int:
    """Peers past the handshakes (attempts the peer refuses are listed while they last)."""
    busy = lt.peer_info.connecting | lt.peer_info.handshake
    return sum(1 for p in handle.get_peer_info() if not p.flags & busy)


def _received(handle: lt.torrent_handle) -> int:
    return int(handle.status(0).total_payload_download)


async def test_libtorrent_keeps_a_connection_whose_peer_certificate_expired(
    sqlite_files: ServiceFiles, tmp_path: Path,
) -> None:
    """Why honest nodes cycle connections: TLS checks a certificate at the handshake only."""
    files = sqlite_files
    film = _film(files, "film-x", 512 * 1024)
    seeder = files.ca.issue_seeder(now=datetime.now(UTC) - timedelta(hours=1))
    key = certs.generate_node_key()
    now = datetime.now(UTC)
    short = files.ca.issue_rental(film.film_id, key.public_key(),
                                  not_before=now - timedelta(minutes=1),
                                  not_after=now + timedelta(seconds=4))
    expires = short.not_valid_after_utc
    origin = make_session(origin=True)
    leech, handle = _raw_leech(film, tmp_path / "leech", short.public_bytes(Encoding.PEM), key,
                               24 * 1024)
    late, late_handle = _raw_leech(film, tmp_path / "late", short.public_bytes(Encoding.PEM),
                                   key, 24 * 1024)
    try:
        add_ssl_torrent(origin, film.ti, files.library, cert_pem=seeder.cert_pem,
                        key_pem=seeder.key_pem, seed_mode=True)
        origin_at = ("127.0.0.1", ssl_listen_port(origin))
        handle.connect_peer(origin_at)
        with trio.fail_after(10):
            while _received(handle) == 0:
                await trio.sleep(0.05)
        before = {p.local_endpoint() for p in handle.get_peer_info()}
        await trio.sleep((expires - datetime.now(UTC)).total_seconds() + 0.5)
        at_expiry = _received(handle)
        late_handle.connect_peer(origin_at)  # a new handshake with the expired certificate
        await trio.sleep(2.5)
        assert _received(handle) > at_expiry  # still receiving over the old connection
        assert {p.local_endpoint() for p in handle.get_peer_info()} == before
        assert _received(late_handle) == 0  # refused at the handshake
    finally:
        for s in (origin, leech, late):
            s.pause()
        del origin, leech, late


async def test_a_revoked_node_gets_no_byte_from_any_peer_one_lifetime_after_the_revocation(
    sqlite_files: ServiceFiles, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    files = sqlite_files
    film = _film(files, "film-r", 4 * 1024 * 1024)
    seeder = files.ca.issue_seeder(now=datetime.now(UTC) - timedelta(hours=1))
    honest_key, honest_pub = node_key_pem()
    bad_key, bad_pub = node_key_pem()
    shop_key = files.add_key()
    async with serve(files, cert_lifetime_s=LIFETIME_S) as running, \
            open_node(_node_config(origin=True, max_connection_age_s=AGE_S)) as origin, \
            open_node(_node_config()) as honest:
        origin.add_seed(film.ti, save_path=files.library, cert_pem=seeder.cert_pem,
                        key_pem=seeder.key_pem)
        origin_at = ("127.0.0.1", origin.ssl_port)
        honest_rental = await _rent(files, running.url, film.film_id, honest_pub, shop_key)
        download = await honest.fetch(film.torrent_path, _bundle(honest_rental), honest_key,
                                      save_dir=tmp_path / "honest", peers=[origin_at])
        with trio.fail_after(30):
            await download.complete()
        honest_at = ("127.0.0.1", honest.ssl_port)

        bad_rental = await _rent(files, running.url, film.film_id, bad_pub, shop_key)
        bad_cert = certs.read_rental_certificate(_bundle(bad_rental))
        session, handle = _raw_leech(film, tmp_path / "bad", bad_cert.public_bytes(Encoding.PEM),
                                     bad_key, 64 * 1024)
        try:
            for peer in (origin_at, honest_at):
                handle.connect_peer(peer)
            with trio.fail_after(20):  # bytes from both the origin and the customer
                while sum(1 for p in handle.get_peer_info() if p.total_download > 0) < 2:
                    await trio.sleep(0.05)
            established = {p.ip for p in handle.get_peer_info()}
            await _revoke(files, running.url, bad_rental["rental_id"], shop_key)
            revoked_at = datetime.now(UTC)  # the revocation's answer
            expires = bad_cert.not_valid_after_utc
            last = LastByte(revoked_at)
            quiet_since: datetime | None = None
            with trio.fail_after(2 * LIFETIME_S + 10):
                while True:
                    for peer in (origin_at, honest_at):  # it tries again and again
                        handle.connect_peer(peer)
                    await trio.sleep(0.05)
                    now = datetime.now(UTC)
                    last.look(handle, now)
                    if _connected(handle) or now < expires:
                        quiet_since = None
                    elif quiet_since is None:
                        quiet_since = now
                    elif now - quiet_since > timedelta(seconds=3):
                        break
            assert handle.status(0).total_wanted_done < handle.status(0).total_wanted
            # both peers gave bytes before the revocation; the honest node may have been the
            # one to connect, and is then listed from the port it connected from
            assert origin_at in established
            assert len(established) >= 2
        finally:
            session.pause()
            del session
        # the promise: nothing later than one configured lifetime after the revocation
        # (without cycling the revoked node would go on until its download ends, tens of
        # seconds more)
        took = (last.at - revoked_at).total_seconds()
        assert took <= LIFETIME_S, (took, expires)
        assert download.stats().peers >= 0  # the honest node is still running
    with capsys.disabled():
        print(f"\nrevocation -> last byte {took:.2f} s"
              f" (certificate expired {(expires - revoked_at).total_seconds():.1f} s after"
              f" the revocation; lifetime L {LIFETIME_S:.0f} s,"
              f" origin's age bound {AGE_S:.1f} s)")

