"""Host mode with real libtorrent sessions on loopback: a host downloads the whole
container and serves it, never holds a key, obeys its owner's consent, quota and hours."""

from __future__ import annotations

import base64
import functools
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from certs import generate_node_key, private_key_pem
from certs.authority import CA, IssuedCert, load_content_key, make_rental_bundle
from certs.errors import RentalNotThisNode
from certs.hosting import HostingCredential, open_hosting_credential
from peernode.operations.origin import OriginConfig, serve_origin
from peernode.operations.packaging import PackagedFilm, package_film
from peernode.runtime.hosting import HostedFilm, HostingHasNoKey, HostingRefused
from peernode.runtime.hosting_policy import HostingPolicy, parse_hours
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.renewal_client import RenewalRefused, RenewalUnavailable

FILM_ID = "premiere"
GIB = 1 << 30
HOSTING = HostingPolicy(enabled=True, disk_quota_bytes=GIB)


def hosting_credential(ca: CA, film_id: str = FILM_ID) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = generate_node_key()
    now = datetime.now(UTC)
    cert = ca.issue_hosting(film_id, key.public_key(), not_before=now - timedelta(hours=1),
                            not_after=now + timedelta(days=10))
    return cert.public_bytes(Encoding.PEM), key


@pytest.fixture
def packaged(tmp_path: Path, ca: CA) -> tuple[PackagedFilm, Path, bytes]:
    ca_dir = tmp_path / "ca"
    ca.save(ca_dir)
    plain = tmp_path / "film.mp4"
    data = os.urandom(1_500_000)
    plain.write_bytes(data)
    film = package_film(plain, film_id=FILM_ID, ca_dir=ca_dir, library=tmp_path / "lib",
                        tracker_url="https://127.0.0.1:1/announce")
    return film, ca_dir, data


def _key_forms(key: bytes) -> list[bytes]:
    return [key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key),
            base64.urlsafe_b64encode(key).rstrip(b"=")]


def assert_no_key_material(directory: Path, content_key: bytes) -> None:
    """No file under ``directory`` holds the content key in any usual encoding, and
    no rental bundle is there."""
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert files  # the scan looked at something: the container, resume data, counters
    for path in files:
        assert path.suffix != ".pvr", path
        data = path.read_bytes()
        for form in _key_forms(content_key):
            assert form not in data, f"key material in {path}"


async def test_a_host_serves_the_whole_container_and_cannot_decrypt_a_byte_then_a_renter_completes_from_it_alone(  # noqa: E501
    tmp_path: Path, ca: CA, seeder: IssuedCert, packaged: tuple[PackagedFilm, Path, bytes]
) -> None:
    film, ca_dir, plaintext = packaged
    content_key = load_content_key(ca_dir, FILM_ID)
    credential, host_key = hosting_credential(ca)
    host_dir = tmp_path / "host"
    async with open_node(NodeConfig(port_mapping=False, listen_host="127.0.0.1",
                                    hosting=HOSTING)) as host:
        # placement: the host fetches the whole container from the origin
        async with trio.open_nursery() as nursery:
            origin = await nursery.start(
                serve_origin, OriginConfig(film.torrent_path.parent, seeder.cert_pem,
                                           seeder.key_pem)
            )
            hosted = await host.hosting.host(film.torrent_path, credential, host_key,
                                             save_dir=host_dir, peers=[origin])
            with trio.fail_after(30):
                stats = await hosted.complete()
            nursery.cancel_scope.cancel()  # the origin is down from here on
        assert stats.complete
        assert (host_dir / FILM_ID).read_bytes() == film.container_path.read_bytes()
        assert hosted.rental.content_key == b""
        with pytest.raises(HostingHasNoKey):
            hosted.open_reader()
        report = host.hosting.report()
        assert report[0]["complete"]
        assert report[0]["have_bytes"] == report[0]["total_bytes"]

        # release: a renter finds the host (here given directly) and gets every byte from it
        renter_key = generate_node_key()
        now = datetime.now(UTC)
        rental_cert = ca.issue_rental(FILM_ID, renter_key.public_key(),
                                      not_before=now - timedelta(hours=1),
                                      not_after=now + timedelta(hours=48))
        bundle = make_rental_bundle(rental_cert, content_key)
        async with open_node(NodeConfig(port_mapping=False, listen_host="127.0.0.1")) as renter:
            download = await renter.fetch(film.torrent_path, bundle, renter_key,
                                          save_dir=tmp_path / "renter",
                                          peers=[("127.0.0.1", host.ssl_port)])
            with trio.fail_after(30):
                got = await download.complete()
            assert got.bytes_from_origin == 0
            assert got.bytes_from_peers >= got.total_bytes
            assert download.open_reader().read(0, len(plaintext)) == plaintext
        assert host.hosting.report()[0]["uploaded_bytes"] >= got.total_bytes
    assert_no_key_material(host_dir, content_key)


async def test_consent_off_means_no_hosting_traffic_at_all(
    tmp_path: Path, ca: CA, packaged: tuple[PackagedFilm, Path, bytes]
) -> None:
    film, _, _ = packaged
    credential, key = hosting_credential(ca)
    async with open_node(NodeConfig(port_mapping=False, listen_host="127.0.0.1")) as node:
        assert not node.config.hosting.enabled  # the default: nobody hosts without opting in
        with pytest.raises(HostingRefused, match="hosting is off"):
            await node.hosting.host(film.torrent_path, credential, key, save_dir=tmp_path / "h")
        assert node.session.get_torrents() == []
        assert not (tmp_path / "h").exists()


async def test_quota_reached_means_no_more_placement(
    tmp_path: Path, ca: CA, packaged: tuple[PackagedFilm, Path, bytes]
) -> None:
    film, _, _ = packaged
    credential, key = hosting_credential(ca)
    small = HostingPolicy(enabled=True, disk_quota_bytes=1_000_000)  # the film is 1.5 MB
    async with open_node(NodeConfig(port_mapping=False, listen_host="127.0.0.1",
                                    hosting=small)) as node:
        with pytest.raises(HostingRefused, match="quota reached"):
            await node.hosting.host(film.torrent_path, credential, key, save_dir=tmp_path / "h")
        assert node.session.get_torrents() == []


async def test_hosted_films_pause_outside_the_owners_hours_and_when_consent_is_withdrawn(
    tmp_path: Path, ca: CA, packaged: tuple[PackagedFilm, Path, bytes]
) -> None:
    film, _, _ = packaged
    credential, key = hosting_credential(ca)
    night = HostingPolicy(enabled=True, disk_quota_bytes=GIB, hours="1-7")
    async with open_node(NodeConfig(port_mapping=False, listen_host="127.0.0.1",
                                    hosting=night)) as node:
        hosted = await node.hosting.host(film.torrent_path, credential, key,
                                         save_dir=tmp_path / "h")
        node.hosting.apply(datetime(2026, 5, 1, 3, 0, tzinfo=UTC))
        assert not hosted.handle.status().paused
        node.hosting.apply(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))
        assert hosted.handle.status().paused
        node.hosting.apply(datetime(2026, 5, 1, 3, 0, tzinfo=UTC))
        node.hosting.set_policy(HostingPolicy())  # the owner opts out
        assert hosted.handle.status().paused
        await node.hosting.stop(FILM_ID)
        assert node.session.get_torrents() == []


async def test_a_credential_of_another_node_or_film_is_refused(
    tmp_path: Path, ca: CA, packaged: tuple[PackagedFilm, Path, bytes]
) -> None:
    film, _, _ = packaged
    credential, _ = hosting_credential(ca)
    other_film, key = hosting_credential(ca, "another-film")
    async with open_node(NodeConfig(port_mapping=False, listen_host="127.0.0.1",
                                    hosting=HOSTING)) as node:
        with pytest.raises(RentalNotThisNode):
            await node.hosting.host(film.torrent_path, credential, key, save_dir=tmp_path / "h")
        with pytest.raises(Exception, match="another-film"):
            await node.hosting.host(film.torrent_path, other_film, key, save_dir=tmp_path / "h")
        assert node.session.get_torrents() == []


def test_hours_are_parsed_across_midnight() -> None:
    assert parse_hours("22-2") == {22, 23, 0, 1}
    assert parse_hours("1-3,13-14") == {1, 2, 13}
    assert parse_hours("") == set(range(24))
    assert parse_hours("0-24") == parse_hours("5-5") == set(range(24))
    for bad in ("7", "a-b", "24-3", "0-25"):
        with pytest.raises(Exception, match="hosting hours"):
            parse_hours(bad)


async def test_after_a_late_renewal_sharing_resumes_and_the_renewed_credentials_end_is_watched(
    tmp_path: Path, ca: CA, packaged: tuple[PackagedFilm, Path, bytes],
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Virtual time: the service is down past the first credential's end (sharing stops),
    then renews it (sharing resumes), then refuses; the renewed credential's end stops
    sharing again: the expiry watch did not end at the first expiry."""
    film, _, _ = packaged
    start = datetime.now(UTC).replace(microsecond=0)

    def wall() -> datetime:
        return start + timedelta(seconds=trio.current_time())

    key = generate_node_key()
    life = timedelta(minutes=30)
    first = ca.issue_hosting(FILM_ID, key.public_key(), not_before=start - timedelta(minutes=1),
                             not_after=start + life)
    renewed: list[HostingCredential] = []

    async def renew(hosted: HostedFilm, node_key: ec.EllipticCurvePrivateKey, _url: str,
                    ca_cert: x509.Certificate, *, now: datetime) -> HostingCredential:
        if now < start + life + timedelta(minutes=2):
            raise RenewalUnavailable("rentals.example: connection refused")
        if renewed:
            raise RenewalRefused("revoked", "host replaced")
        cert = ca.issue_hosting(FILM_ID, node_key.public_key(), not_before=now,
                                not_after=now + life, serial=first.serial_number)
        credential = open_hosting_credential(cert.public_bytes(Encoding.PEM), node_key,
                                             ca_cert, now=now)
        hosted.renew_credential(credential, private_key_pem(node_key))
        renewed.append(credential)
        return credential

    config = NodeConfig(port_mapping=False, listen_host="127.0.0.1", hosting=HOSTING,
                        wall_clock=wall)
    async with open_node(config) as node:
        hosted = await node.hosting.host(film.torrent_path, first.public_bytes(Encoding.PEM),
                                         key, save_dir=tmp_path / "h")
        node.start_soon(functools.partial(hosted.keep_credential_renewed, key,
                                          "https://rentals.example", ca.cert, renew=renew,
                                          clock=wall, retry_s=60.0))
        await trio.sleep(29 * 60)
        assert not hosted.state.expired
        assert not hosted.handle.status().paused
        await trio.sleep(2 * 60)  # 31 min: past the first end, the service still down
        assert hosted.state.expired
        assert hosted.handle.status().paused
        await trio.sleep(3 * 60)  # 34 min: renewed late, at 32 min
        assert len(renewed) == 1
        assert not hosted.state.expired
        assert not hosted.handle.status().paused
        await trio.sleep(20 * 60)  # 54 min: the next renewal was refused
        assert hosted.renewal_stopped == "revoked"
        assert not hosted.state.expired
        await trio.sleep(10 * 60)  # 64 min: past the renewed credential's end
        assert hosted.state.expired
        assert hosted.handle.status().paused
