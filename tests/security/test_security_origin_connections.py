"""One renter cannot take the origin's connections from everyone else: connections from
one IP past the origin's bound get that IP refused for a while, and another customer
downloads its film meanwhile.

The attacker is a renter with a valid rental who opens connection after connection
to the origin, from one address, each a real TLS handshake with the rental
certificate and a BitTorrent handshake that the origin answers (so each is a
connection libtorrent holds for the film), more of them than the origin's
connection limit. The victim is a real node on another address. Without the bound
(``max_connections_per_ip=0``) the same victim gets no byte in 60 s here; with it, the
film in a few seconds.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import libtorrent as lt
import pytest
import trio
from cryptography.hazmat.primitives import serialization

from certs import generate_node_key
from certs.authority import CA, IssuedCert, load_content_key, make_rental_bundle
from peernode.operations.origin import IpBlocks, OriginConfig, serve_origin
from peernode.operations.packaging import package_film
from peernode.runtime.node import NodeConfig, open_node

ATTACKER_IP = "127.0.0.50"
VICTIM_IP = "127.0.0.60"
ATTACKS = 260  # over libtorrent's default connections_limit (200)
FILM_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class World:
    root: Path
    library: Path
    torrent: Path
    plaintext: bytes
    content_key: bytes
    info_hash: bytes
    seeder: IssuedCert


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, ca: CA) -> World:
    root = tmp_path_factory.mktemp("origin-connections")
    plaintext = os.urandom(FILM_BYTES)
    (root / "film.bin").write_bytes(plaintext)
    ca.save(root / "ca")
    packaged = package_film(root / "film.bin", film_id="film-a", ca_dir=root / "ca",
                            tracker_url="https://127.0.0.1:9/announce", library=root / "lib",
                            mime_type="video/mp4")
    ti = lt.torrent_info(str(packaged.torrent_path))
    return World(root, root / "lib", packaged.torrent_path, plaintext,
                 load_content_key(root / "ca", "film-a"),
                 ti.info_hashes().get_best().to_bytes(),
                 ca.issue_seeder(now=datetime.now(UTC) - timedelta(hours=1)))


def _rental(ca: CA, tmp: Path) -> tuple[ssl.SSLContext, bytes, object]:
    """A valid rental of film-a: a TLS client context with it, its bundle, its key."""
    key = generate_node_key()
    now = datetime.now(UTC)
    cert = ca.issue_rental("film-a", key.public_key(), not_before=now - timedelta(hours=1),
                           not_after=now + timedelta(hours=2))
    (tmp / "rental.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "node.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # the origin's SAN is "*"; the chain is still checked
    ctx.load_cert_chain(tmp / "rental.pem", tmp / "node.key")
    ctx.load_verify_locations(cadata=ca.cert_pem.decode())
    return ctx, cert.public_bytes(serialization.Encoding.DER), key


@dataclass
class Attack:
    answered: int = 0  # connections the origin answered with its BitTorrent handshake
    closed_by_origin: int = 0
    refused: int = 0  # could not even complete TLS


async def _one_connection(port: int, ctx: ssl.SSLContext, info_hash: bytes,
                          attack: Attack) -> None:
    sock = trio.socket.socket()
    try:
        await sock.bind((ATTACKER_IP, 0))
        await sock.connect(("127.0.0.1", port))
        stream = trio.SSLStream(trio.SocketStream(sock), ctx, server_hostname=info_hash.hex())
        await stream.do_handshake()
        await stream.send_all(b"\x13BitTorrent protocol" + bytes(8) + info_hash
                              + b"-XX0000-" + os.urandom(12))
    except (OSError, trio.BrokenResourceError):
        attack.refused += 1
        sock.close()
        return
    received = 0
    try:
        while chunk := await stream.receive_some(65536):  # held until the origin closes
            if received < 68 <= received + len(chunk):
                attack.answered += 1
            received += len(chunk)
    except trio.BrokenResourceError:
        pass
    attack.closed_by_origin += 1
    sock.close()


def test_ip_blocks_policy() -> None:
    blocks = IpBlocks(max_per_ip=2, block_s=10)
    assert blocks.update(["a", "a", "b"], now=0) == ([], False)
    assert blocks.update(["a", "a", "a", "b"], now=1) == (["a"], True)
    assert blocks.update(["a", "a", "a"], now=2) == ([], False)  # already blocked
    assert blocks.update([], now=11) == ([], True)  # lifted
    assert IpBlocks(0, 10).update(["a"] * 100, now=0) == ([], False)


@pytest.fixture
def caplog_origin(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="peernode.operations.origin")
    return caplog


async def test_one_renter_opening_many_connections_does_not_starve_another(
    world: World, ca: CA, tmp_path: Path, caplog_origin: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "attacker").mkdir()
    ctx, _der, _key = _rental(ca, tmp_path / "attacker")
    victim_key = generate_node_key()
    now = datetime.now(UTC)
    victim_cert = ca.issue_rental("film-a", victim_key.public_key(),
                                  not_before=now - timedelta(hours=1),
                                  not_after=now + timedelta(hours=2))
    bundle = make_rental_bundle(victim_cert, world.content_key)
    attack = Attack()
    async with trio.open_nursery() as nursery:
        _host, port = await nursery.start(serve_origin, OriginConfig(
            world.library, world.seeder.cert_pem, world.seeder.key_pem))
        async with trio.open_nursery() as attackers:
            for _ in range(ATTACKS):
                attackers.start_soon(_one_connection, port, ctx, world.info_hash, attack)
                await trio.sleep(0.005)
            # the victim arrives while the attacker holds (or keeps opening) connections
            async with open_node(NodeConfig(listen_host=VICTIM_IP,
                                            port_mapping=False)) as node:
                download = await node.fetch(world.torrent, bundle, victim_key,
                                            save_dir=tmp_path / "victim",
                                            peers=[("127.0.0.1", port)])
                with trio.fail_after(60):
                    await download.complete()
            with trio.fail_after(30):  # every attacking connection ends, closed by the origin
                while attack.closed_by_origin + attack.refused < ATTACKS:
                    await trio.sleep(0.1)
            attackers.cancel_scope.cancel()
        # while the block lasts, a new connection from the attacker is refused
        late = Attack()
        await _one_connection(port, ctx, world.info_hash, late)
        nursery.cancel_scope.cancel()
    assert (tmp_path / "victim" / "film-a").stat().st_size > 0
    assert late.answered == 0
    assert attack.answered >= 8  # the origin did serve it, up to the bound
    assert attack.answered < ATTACKS
    assert f"{ATTACKER_IP} holds more than 8 connections" in caplog_origin.text
    assert VICTIM_IP not in caplog_origin.text
