"""A hosting's revocation reaches the real tracker: the service issues a hosting
credential, the tracker admits the host for its film (and not another film), the
operator revokes it, and the service's CRL makes the tracker refuse it at its next
announce."""

from __future__ import annotations

import certs
from tests.rentals.conftest import (
    ServiceFiles,
    node_key_pem,
    refused_at_next_announce,
    service_and_tracker,
    shop_client,
    tracked_film,
)
from tests.tracker.conftest import announce_once, announce_target

FILM_T, FILM_U = "film-t", "film-u"


async def test_the_tracker_refuses_a_revoked_hosting_at_its_next_announce(
    sqlite_files: ServiceFiles,
) -> None:
    files = sqlite_files
    film = tracked_film(files, FILM_T)
    other = tracked_film(files, FILM_U, content_key=False)
    node_key, pub = node_key_pem()
    async with service_and_tracker(files) as (service, tracker):
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
        assert b"revoked" in await refused_at_next_announce(tracker, ctx, target)
