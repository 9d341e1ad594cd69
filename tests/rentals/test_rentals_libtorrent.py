"""A renewed certificate from the service works in a real libtorrent swarm: set on the
handle of a running download, the download goes on to the last byte and the peer
connection it had is kept (what the node-side auto-renewal will rely on)."""

from __future__ import annotations

import base64
import os

import httpx
import trio
from cryptography.hazmat.primitives.serialization import Encoding

import certs
from certs.authority import save_content_key
from peernode.runtime.session_settings import (
    add_ssl_torrent,
    make_session,
    set_handle_certificate,
    ssl_listen_port,
)
from tests.rentals.conftest import ServiceFiles, node_key_pem, serve, shop_client
from tests.tracker.conftest import PLACEHOLDER_URL, make_film

FILM_L = "film-l"
SIZE = 384 * 1024
RATE = 48 * 1024  # bytes/s: about eight seconds of download


async def test_a_renewed_certificate_set_mid_download_keeps_the_download_going(
    sqlite_files: ServiceFiles,
) -> None:
    files = sqlite_files
    film = make_film(files.library, FILM_L, files.ca.cert_pem, PLACEHOLDER_URL, size=SIZE)
    save_content_key(files.ca_dir, FILM_L, os.urandom(32))
    node_key, pub = node_key_pem()
    seeder = files.ca.issue_seeder()
    async with serve(files, cert_lifetime_s=60) as running:
        async with shop_client(files, running.url, files.add_key()) as shop:
            created = (await shop.post("/v1/rentals", json={
                "film_id": FILM_L, "node_public_key": pub, "hours": 1})).json()
        first = certs.read_rental_certificate(base64.b64decode(created["bundle"]))
        first_pem = first.public_bytes(Encoding.PEM)
        key_pem = certs.private_key_pem(node_key)

        origin = make_session(origin=True)
        leech = make_session(limit_local_peers=True)
        try:
            add_ssl_torrent(origin, film.ti, files.library, cert_pem=seeder.cert_pem,
                            key_pem=seeder.key_pem, seed_mode=True)
            handle = add_ssl_torrent(leech, film.ti, files.dir / "leech", cert_pem=first_pem,
                                     key_pem=key_pem)
            handle.replace_trackers([])
            handle.set_download_limit(RATE)
            handle.connect_peer(("127.0.0.1", ssl_listen_port(origin)))
            with trio.fail_after(20):
                while handle.status().total_wanted_done < SIZE // 8:
                    await trio.sleep(0.05)
            peers_before = {p.ip for p in handle.get_peer_info()}

            renewals = []
            async with httpx.AsyncClient(
                base_url=running.url, verify=files.node_context(first_pem, key_pem)
            ) as node:
                for _ in range(2):  # two renewals while downloading
                    await trio.sleep(1.05)
                    r = await node.post(f"/v1/rentals/{created['rental_id']}/renew")
                    assert r.status_code == 200, r.text
                    renewed = certs.read_rental_certificate(base64.b64decode(r.json()["bundle"]))
                    set_handle_certificate(handle, renewed.public_bytes(Encoding.PEM), key_pem)
                    renewals.append(renewed)
            assert handle.status().total_wanted_done < SIZE  # still downloading when renewed
            # the connection made before the renewals is still there (a seed, once done,
            # drops its connection to the origin, so this is checked before the end)
            assert {p.ip for p in handle.get_peer_info()} == peers_before
            with trio.fail_after(30):
                while not handle.status().is_seeding:
                    await trio.sleep(0.1)
            status = handle.status()
            assert status.total_wanted_done == SIZE
            assert status.total_failed_bytes == 0
            assert all(r.serial_number == first.serial_number for r in renewals)
            assert renewals[1].not_valid_after_utc > renewals[0].not_valid_after_utc \
                > first.not_valid_after_utc
        finally:
            origin.pause()
            leech.pause()
            del origin, leech
