"""Revocation reaches the tracker: the service writes the CRL where the tracker reads
it (``--crl``), and the revoked rental is refused at its next announce."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.serialization import Encoding

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

FILM_T = "film-t"


async def test_the_tracker_refuses_a_revoked_rental_at_its_next_announce(
    sqlite_files: ServiceFiles,
) -> None:
    files = sqlite_files
    film = tracked_film(files, FILM_T)
    node_key, pub = node_key_pem()
    async with service_and_tracker(files) as (service, tracker):
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
        assert b"revoked" in await refused_at_next_announce(tracker, ctx, target)
