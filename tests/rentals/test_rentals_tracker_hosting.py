"""A hosting's revocation reaches the real tracker: the service issues a hosting
credential, the tracker admits the host for its film (and not another film), the
operator revokes it, and the service's CRL makes the tracker refuse it at its next
announce."""

from __future__ import annotations

import os

import trio

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

FILM_T, FILM_U = "film-t", "film-u"


async def test_the_tracker_refuses_a_revoked_hosting_at_its_next_announce(
    sqlite_files: ServiceFiles,
) -> None:
    files = sqlite_files
    (files.library / "film-a.torrent").unlink()  # the placeholder is no torrent
    film = make_film(files.library, FILM_T, files.ca.cert_pem, PLACEHOLDER_URL)
    other = make_film(files.library, FILM_U, files.ca.cert_pem, PLACEHOLDER_URL)
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
            r = await shop.post("/v1/hostings", json={"film_id": FILM_T, "node_public_key": pub,
                                                      "days": 3})
            assert r.status_code == 201, r.text
            created = r.json()
            ctx = files.node_context(created["credential"].encode(),
                                     certs.private_key_pem(node_key))
            target = announce_target(film.info_hash, 1)
            admitted = await announce_once(tracker.port, ctx, target)
            assert b"failure reason" not in admitted
            # its film only
            elsewhere = await announce_once(tracker.port, ctx,
                                            announce_target(other.info_hash, 1))
            assert b"failure reason" in elsewhere

            revoked = await shop.post(f"/v1/hostings/{created['hosting_id']}/revoke",
                                      json={"reason": "host replaced"})
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
