"""Renewal by the node over mutual TLS: a fresh certificate for the same rental, later
but never past the window; refused (403, with the reason) to another node key, to a
revoked rental, after the window; 401 without a client certificate."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import trio

import certs
from tests.rentals.conftest import FILM, ServiceFiles, Validator, node_key_pem, serve, shop_client


async def _rent(shop: httpx.AsyncClient, pub: str, **window: Any) -> dict[str, Any]:
    r = await shop.post("/v1/rentals", json={"film_id": FILM, "node_public_key": pub} | window)
    assert r.status_code == 201, r.text
    value: dict[str, Any] = r.json()
    return value


def _node(files: ServiceFiles, url: str, bundle_b64: str, key: Any) -> httpx.AsyncClient:
    """A client presenting the rental certificate of ``bundle_b64`` with ``key``."""
    certificate = certs.read_rental_certificate(base64.b64decode(bundle_b64))
    from cryptography.hazmat.primitives.serialization import Encoding

    ctx = files.node_context(certificate.public_bytes(Encoding.PEM), certs.private_key_pem(key))
    return httpx.AsyncClient(base_url=url, verify=ctx)


async def test_renewal_gives_the_same_rental_a_later_certificate_within_the_window(
    files: ServiceFiles, validator: Validator
) -> None:
    async with serve(files, cert_lifetime_s=60) as running:
        key, pub = node_key_pem()
        async with shop_client(files, running.url, files.add_key()) as shop:
            created = await _rent(shop, pub, hours=1)
        first = certs.open_rental(base64.b64decode(created["bundle"]), key, files.ca.cert)
        assert first.not_after - first.not_before <= timedelta(seconds=60 + 300)
        await trio.sleep(1.1)  # validity has whole seconds
        async with _node(files, running.url, created["bundle"], key) as node:
            r = await node.post(f"/v1/rentals/{created['rental_id']}/renew")
            assert r.status_code == 200, r.text
            renewed = validator.check(r, "Renewal")
            second = certs.open_rental(base64.b64decode(renewed["bundle"]), key, files.ca.cert)
        assert second.serial == first.serial == int(created["rental_id"])
        assert second.film_id == FILM
        assert second.content_key == first.content_key
        assert second.not_after > first.not_after
        assert second.not_after <= datetime.fromisoformat(created["not_after"])
        assert datetime.fromisoformat(renewed["renew_after"]) < second.not_after
        metrics = running.metrics.render().decode()
        assert "peernode_rental_renewals_total 1.0" in metrics


async def test_renewal_never_passes_the_window(files: ServiceFiles, validator: Validator) -> None:
    async with serve(files) as running:  # 2 h certificates
        key, pub = node_key_pem()
        async with shop_client(files, running.url, files.add_key()) as shop:
            created = await _rent(shop, pub, hours=0.25)
        async with _node(files, running.url, created["bundle"], key) as node:
            r = await node.post(f"/v1/rentals/{created['rental_id']}/renew")
        renewed = validator.check(r, "Renewal")
        cert = certs.open_rental(base64.b64decode(renewed["bundle"]), key, files.ca.cert)
        assert cert.not_after == datetime.fromisoformat(created["not_after"])


async def test_renewal_refusals(files: ServiceFiles, validator: Validator) -> None:
    async with serve(files) as running:
        key, pub = node_key_pem()
        other_key, other_pub = node_key_pem()
        async with shop_client(files, running.url, files.add_key()) as shop:
            mine = await _rent(shop, pub, hours=1)
            theirs = await _rent(shop, other_pub, hours=1)
            renew = f"/v1/rentals/{mine['rental_id']}/renew"

            # no client certificate: 401
            r = await shop.post(renew)
            assert (r.status_code, validator.check(r, "Error")["code"]) == (401, "unauthenticated")

            # a valid certificate of this CA, but for another node key: 403
            async with _node(files, running.url, theirs["bundle"], other_key) as intruder:
                r = await intruder.post(renew)
            assert r.status_code == 403
            assert validator.check(r, "Error")["code"] == "wrong_node_key"

            # revoked: 403 with the reason
            await shop.post(f"/v1/rentals/{mine['rental_id']}/revoke", json={"reason": "abuse"})
            async with _node(files, running.url, mine["bundle"], key) as node:
                r = await node.post(renew)
            assert r.status_code == 403
            error = validator.check(r, "Error")
            assert error["code"] == "revoked"
            assert "abuse" in error["message"]
        metrics = running.metrics.render().decode()
        assert 'peernode_rental_refusals_total{reason="wrong_node_key"} 1.0' in metrics
        assert 'peernode_rental_refusals_total{reason="revoked"} 1.0' in metrics


async def test_a_certificate_of_another_ca_fails_the_handshake(
    files: ServiceFiles, other_ca: Any
) -> None:
    async with serve(files) as running:
        key, _ = node_key_pem()
        now = datetime.now(UTC)
        foreign = other_ca.issue_rental(FILM, key.public_key(), not_before=now,
                                        not_after=now + timedelta(hours=1))
        from cryptography.hazmat.primitives.serialization import Encoding

        ctx = files.node_context(foreign.public_bytes(Encoding.PEM), certs.private_key_pem(key))
        async with httpx.AsyncClient(base_url=running.url, verify=ctx) as node:
            try:
                r = await node.post("/v1/rentals/1/renew")
            except httpx.HTTPError:
                return  # refused in the handshake (TLS 1.3 may report it at the first read)
        raise AssertionError(f"a foreign certificate was answered: {r.status_code}")


async def test_after_the_window_renewal_is_403_even_with_an_expired_certificate(
    files: ServiceFiles, validator: Validator
) -> None:
    async with serve(files) as running:
        key, pub = node_key_pem()
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        end = start + timedelta(minutes=1, seconds=2)
        async with shop_client(files, running.url, files.add_key()) as shop:
            created = await _rent(shop, pub, not_before=start.isoformat(),
                                  not_after=end.isoformat())
        async with _node(files, running.url, created["bundle"], key) as node:
            # inside the window: renewed
            assert (await node.post(f"/v1/rentals/{created['rental_id']}/renew")).status_code \
                == 200
            await trio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.5)
            # the presented certificate has expired too: the handshake still proves the key,
            # and the policy answers why
            r = await node.post(f"/v1/rentals/{created['rental_id']}/renew")
        assert r.status_code == 403
        assert validator.check(r, "Error")["code"] == "ended"
