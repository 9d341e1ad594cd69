"""A host renews its service-issued hosting credential (mutual TLS, real service, real
libtorrent node), by hand and by the node's own loop (``host(service_url=...)``): the
handle gets a later certificate of the same hosting; after the operator revokes the
hosting, the renewal is refused with the reason and the keeping loop stops on it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import trio

from certs.authority import save_content_key
from peernode.runtime.hosting_policy import HostingPolicy
from peernode.runtime.hosting_renewal import keep_hosting_renewed, renew_hosted_film
from peernode.runtime.node import NodeConfig, open_node
from peernode.runtime.renewal_client import RenewalRefused
from tests.rentals.conftest import ServiceFiles, node_key_pem, serve, shop_client
from tests.tracker.conftest import PLACEHOLDER_URL, make_film

FILM_H = "film-h"


async def test_a_host_renews_its_hosting_credential_until_it_is_revoked(
    sqlite_files: ServiceFiles,
) -> None:
    files = sqlite_files
    film = make_film(files.library, FILM_H, files.ca.cert_pem, PLACEHOLDER_URL)
    save_content_key(files.ca_dir, FILM_H, os.urandom(32))
    key, pub = node_key_pem()
    async with serve(files, cert_lifetime_s=10) as service:
        async with shop_client(files, service.url, files.add_key()) as shop:
            r = await shop.post("/v1/hostings", json={"film_id": FILM_H,
                                                      "node_public_key": pub, "days": 2})
            assert r.status_code == 201, r.text
            created = r.json()
        config = NodeConfig(port_mapping=False, listen_host="127.0.0.1",
                            hosting=HostingPolicy(enabled=True, disk_quota_bytes=1 << 30))
        async with open_node(config) as node:
            hosted = await node.hosting.host(film.torrent_path, created["credential"].encode(),
                                             key, save_dir=files.dir / "hosted",
                                             service_url=service.url)
            first = hosted.credential
            assert first.not_after - first.not_before <= timedelta(seconds=10 + 300)
            await trio.sleep(1.1)  # validity has whole seconds
            renewed = await renew_hosted_film(hosted, key, service.url, files.ca.cert)
            assert renewed.serial == first.serial == int(created["hosting_id"])
            assert renewed.not_after > first.not_after
            assert hosted.credential == renewed
            assert hosted.rental.not_after == renewed.not_after  # the download's window
            assert hosted.rental.content_key == b""  # still no key

            # the node's own loop (started by host(service_url=...)) renews at 2/3 of the
            # 10 s it holds a certificate (not from the backdated notBefore: no burst)
            with trio.fail_after(15):
                while hosted.credential.not_after <= renewed.not_after:
                    await trio.sleep(0.1)
            metrics = service.metrics.render().decode()
            assert "peernode_hosting_renewals_total 2.0" in metrics  # by hand, then the loop

            async with shop_client(files, service.url, files.add_key("ops2")) as shop:
                r = await shop.post(f"/v1/hostings/{created['hosting_id']}/revoke",
                                    json={"reason": "host replaced"})
                assert r.status_code == 200
            # revoked: the loop (its clock past the renewal time) stops on the refusal
            with trio.fail_after(10):
                stopped = await keep_hosting_renewed(
                    hosted, key, service.url, files.ca.cert,
                    clock=lambda: datetime.now(UTC) + timedelta(seconds=30), retry_s=1.0)
            assert stopped == "revoked"
            with pytest.raises(RenewalRefused) as refused:
                await renew_hosted_film(hosted, key, service.url, files.ca.cert)
            assert refused.value.reason == "revoked"
            assert "host replaced" in str(refused.value)
            await node.hosting.stop(FILM_H)  # ends the node's renewal loop too
            assert hosted._renewal_scope is not None
            assert hosted._renewal_scope.cancel_called
