"""Revocation reaches the tracker: the service writes the CRL where the tracker reads
it (``--crl``), and the revoked rental is refused at its next announce."""

from __future__ import annotations

import base64
import os

import trio
from cryptography.hazmat.primitives.serialization import Encoding

import certs
from certs.authority import save_content_key
from tests.rentals.conftest import ServiceFiles, node_key_pem, serve, shop_client
from tests.tracker.conftest import (
    PLACEHOLDER_URL,
    announce_once,
    announce_target,
    make_film,
)
from tracker.config import ProbePolicy, TrackerConfig
from tracker.server import RunningTracker, serve_tracker

FILM_T = "film-t"


async def test_the_tracker_refuses_a_revoked_rental_at_its_next_announce(
    sqlite_files: ServiceFiles,
) -> None:
    files = sqlite_files
    (files.library / "film-a.torrent").unlink()  # the placeholder is no torrent
    film = make_film(files.library, FILM_T, files.ca.cert_pem, PLACEHOLDER_URL)
    save_content_key(files.ca_dir, FILM_T, os.urandom(32))
    tracker_config = TrackerConfig.from_mapping(
        {},
        ca_path=files.ca_dir / "ca.pem",
        cert_path=files.dir / "tls" / "server.pem",
        key_path=files.dir / "tls" / "server.key",
        library_dir=files.library,
        crl_path=files.ca_dir / "crl.pem",  # where the service publishes it
        reload_poll_s=0.1,
        probe=ProbePolicy(enabled=False),
    )
    node_key, pub = node_key_pem()
    async with serve(files) as service, trio.open_nursery() as nursery:
        tracker: RunningTracker = await nursery.start(serve_tracker, tracker_config)
        async with shop_client(files, service.url, files.add_key()) as shop:
            r = await shop.post("/v1/rentals", json={"film_id": FILM_T, "node_public_key": pub,
                                                     "hours": 1})
            assert r.status_code == 201, r.text
            created = r.json()
            certificate = certs.read_rental_certificate(base64.b64decode(created["bundle"]))
            ctx = files.node_context(certificate.public_bytes(Encoding.PEM),
                                     certs.private_key_pem(node_key))
            target = announce_target(film.info_hash, 1)
            admitted = await announce_once(tracker.port, ctx, target)
            assert b"failure reason" not in admitted

            revoked = await shop.post(f"/v1/rentals/{created['rental_id']}/revoke",
                                      json={"reason": "chargeback"})
            assert revoked.status_code == 200
        started = trio.current_time()
        with trio.fail_after(10):
            while True:
                answer = await announce_once(tracker.port, ctx, target)
                if b"failure reason" in answer:
                    break
                await trio.sleep(0.05)
        assert b"revoked" in answer[b"failure reason"]
        assert trio.current_time() - started < 5
        nursery.cancel_scope.cancel()
