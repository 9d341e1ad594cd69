"""Hosting credentials from the rental service (pre-positioning): created with the shop
(operator) key, a bare PEM certificate with the hosting policy and no content key;
renewed by the node over mutual TLS with its hosting certificate, never past the window;
refused when revoked or ended or presented with a rental certificate; revoked serials on
the published CRL. Both databases; the migration from schema 1 keeps what it held."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import trio
from cryptography.hazmat.primitives.serialization import Encoding

import certs
import rentals.sql_store
from certs.hosting import is_hosting_certificate, load_hosting_certificate, open_hosting_credential
from rentals.database import open_store
from rentals.errors import FieldError, ForbiddenError
from rentals.hosting_records import HostingRecord
from rentals.hosting_requests import parse_hosting_request
from rentals.hostings import check_hosting_renewal
from rentals.migrations import MIGRATIONS
from rentals.records import RentalState
from rentals.shop_keys import new_shop_key
from tests.rentals.conftest import FILM, ServiceFiles, Validator, node_key_pem, serve, shop_client

T0 = datetime(2030, 1, 1, tzinfo=UTC)


# -- pure core -------------------------------------------------------------------------


def test_a_hosting_request_takes_days_or_an_end_never_both_nor_too_long() -> None:
    _, pub = node_key_pem()
    request = parse_hosting_request({"film_id": FILM, "node_public_key": pub, "days": 10},
                                    now=T0)
    assert (request.not_before, request.not_after) == (T0, T0 + timedelta(days=10))
    for body, field in [
        ({"days": 10, "not_after": "2030-01-05T00:00Z"}, "days"),
        ({}, "days"),
        ({"days": 91}, "days"),
        ({"days": True}, "days"),
        ({"not_after": "2030-06-01T00:00Z"}, "not_after"),
        ({"days": 1, "hours": 1}, "hours"),
    ]:
        with pytest.raises(FieldError) as refused:
            parse_hosting_request({"film_id": FILM, "node_public_key": pub} | body, now=T0)
        assert refused.value.field == field


def _record(**over: Any) -> HostingRecord:
    base: dict[str, Any] = {
        "hosting_id": 7, "film_id": FILM, "node_public_key_pem": "", "not_before": T0,
        "not_after": T0 + timedelta(days=3), "shop_key_id": "k", "idempotency_key": None,
        "fingerprint": "f", "state": RentalState.ISSUED, "created_at": T0,
    }
    return HostingRecord(**(base | over))


def test_the_hosting_renewal_policy_gives_its_reason() -> None:
    check_hosting_renewal(_record(), now=T0 + timedelta(days=1))
    cases = [
        (_record(revoked_at=T0, revoke_reason="host left"), T0, "revoked"),
        (_record(), T0 + timedelta(days=3), "ended"),
        (_record(state=RentalState.PENDING), T0, "not_issued"),
    ]
    for record, now, reason in cases:
        with pytest.raises(ForbiddenError) as refused:
            check_hosting_renewal(record, now=now)
        assert refused.value.reason == reason
    with pytest.raises(ForbiddenError, match="host left"):
        check_hosting_renewal(cases[0][0], now=T0)


# -- the store, both databases ----------------------------------------------------------------


def test_the_store_keeps_hostings_and_migrates_a_schema_1_database(
    files: ServiceFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a database left by the previous release: schema 1 only, with a shop key
    monkeypatch.setattr(rentals.sql_store, "MIGRATIONS", MIGRATIONS[:1])
    old = open_store(files.database, base_dir=files.dir)
    key = new_shop_key("ops", now=T0).record
    old.add_shop_key(key)
    assert old.schema_version() == 1  # type: ignore[attr-defined]
    old.close()
    monkeypatch.setattr(rentals.sql_store, "MIGRATIONS", MIGRATIONS)

    store = open_store(files.database, base_dir=files.dir)
    try:
        assert store.schema_version() == 2  # type: ignore[attr-defined]
        assert store.shop_key(key.key_id) == key
        serial = 2**158 + 12345  # serials have up to 159 bits
        record = _record(hosting_id=serial, shop_key_id=key.key_id, idempotency_key="i-1",
                         state=RentalState.PENDING)
        stored, inserted = store.reserve_hosting(record)
        assert stored == record
        assert inserted
        again, inserted = store.reserve_hosting(_record(hosting_id=99, shop_key_id=key.key_id,
                                                        idempotency_key="i-1"))
        assert (again.hosting_id, inserted) == (serial, False)
        done = store.complete_hosting(serial, b"-----PEM-----\n", T0 + timedelta(hours=2))
        assert done.state is RentalState.ISSUED
        assert done.credential == b"-----PEM-----\n"
        # a racing completion keeps the first credential
        assert store.complete_hosting(serial, b"other", T0).credential == b"-----PEM-----\n"
        assert store.revoked_hostings() == {}
        revoked = store.revoke_hosting(serial, now=T0 + timedelta(hours=1), reason="replaced")
        assert revoked is not None
        assert revoked.revoke_reason == "replaced"
        store.revoke_hosting(serial, now=T0 + timedelta(hours=5), reason="again")
        assert store.revoked_hostings() == {serial: T0 + timedelta(hours=1)}
        assert store.hosting(serial) == revoked
        assert store.revoke_hosting(1, now=T0, reason="x") is None
        assert store.count_hostings() == 1
        assert store.revoked_rentals() == {}  # hostings are not rentals
    finally:
        store.close()


# -- the HTTPS service ------------------------------------------------------------------------


async def _host(shop: httpx.AsyncClient, pub: str, *, key: str | None = None,
                **window: Any) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return await shop.post("/v1/hostings", headers=headers,
                           json={"film_id": FILM, "node_public_key": pub} | window)


def _node(files: ServiceFiles, url: str, cert_pem: bytes, key: Any) -> httpx.AsyncClient:
    ctx = files.node_context(cert_pem, certs.private_key_pem(key))
    return httpx.AsyncClient(base_url=url, verify=ctx)


async def test_a_hosting_credential_is_issued_renewed_and_revoked_onto_the_crl(
    files: ServiceFiles, validator: Validator
) -> None:
    async with serve(files, cert_lifetime_s=60) as running:
        key, pub = node_key_pem()
        async with shop_client(files, running.url, files.add_key()) as shop:
            r = await _host(shop, pub, key="place-1", days=7)
            assert r.status_code == 201, r.text
            created = validator.check(r, "CreatedHosting")
            hosting_id = created["hosting_id"]
            assert r.headers["location"] == f"/v1/hostings/{hosting_id}"
            pem = created["credential"].encode("ascii")
            first = open_hosting_credential(pem, key, files.ca.cert)
            assert first.serial == int(hosting_id)
            assert first.film_id == FILM
            # short-lived like a rental's, inside a 7-day window
            assert first.not_after - first.not_before <= timedelta(seconds=60 + 300)
            # no content key anywhere: a bare certificate, which no rental reader opens
            assert pem.count(b"-----BEGIN") == 1
            assert b"PRIVATE" not in pem
            with pytest.raises(certs.CertsError):
                certs.open_rental(pem, key, files.ca.cert)

            replay = await _host(shop, pub, key="place-1", days=7)
            assert replay.status_code == 201
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.json()["credential"] == created["credential"]
            conflict = await _host(shop, pub, key="place-1", days=8)
            assert (conflict.status_code, conflict.json()["code"]) == (409,
                                                                       "idempotency_conflict")

            read = await shop.get(f"/v1/hostings/{hosting_id}")
            assert validator.check(read, "Hosting")["state"] == "issued"

            await trio.sleep(1.1)  # validity has whole seconds
            async with _node(files, running.url, pem, key) as node:
                r = await node.post(f"/v1/hostings/{hosting_id}/renew")
                assert r.status_code == 200, r.text
                renewed = validator.check(r, "HostingRenewal")
                second = open_hosting_credential(renewed["credential"].encode(), key,
                                                 files.ca.cert)
                assert second.serial == first.serial
                assert second.not_after > first.not_after
                assert second.not_after <= datetime.fromisoformat(created["not_after"])

                r = await shop.post(f"/v1/hostings/{hosting_id}/revoke",
                                    json={"reason": "host left"})
                assert validator.check(r, "Hosting")["revoked"] is True
                crl = certs.read_crl_file(files.ca_dir / "crl.pem")
                certs.verify_crl(crl, files.ca.cert)
                assert int(hosting_id) in certs.revoked_serials(crl)

                r = await node.post(f"/v1/hostings/{hosting_id}/renew")
            assert r.status_code == 403
            error = validator.check(r, "Error")
            assert error["code"] == "revoked"
            assert "host left" in error["message"]
        metrics = running.metrics.render().decode()
        assert "peernode_hostings_created_total 1.0" in metrics
        assert "peernode_hosting_renewals_total 1.0" in metrics
        assert "peernode_hostings_revoked_total 1.0" in metrics
        assert 'peernode_hosting_refusals_total{reason="revoked"} 1.0' in metrics
        assert 'peernode_hosting_refusals_total{reason="idempotency_conflict"} 1.0' in metrics


async def test_hosting_refusals(files: ServiceFiles, validator: Validator) -> None:
    async with serve(files) as running:
        key, pub = node_key_pem()
        other_key, other_pub = node_key_pem()
        async with shop_client(files, running.url, files.add_key()) as shop:
            mine = (await _host(shop, pub, days=2)).json()
            theirs = (await _host(shop, other_pub, days=2)).json()
            renew = f"/v1/hostings/{mine['hosting_id']}/renew"
            rental = await shop.post("/v1/rentals", json={"film_id": FILM,
                                                          "node_public_key": pub, "hours": 1})
            rental_cert = certs.read_rental_certificate(base64.b64decode(rental.json()["bundle"]))
            assert not is_hosting_certificate(rental_cert)

            # the API needs the shop key, the renewal a client certificate
            async with shop_client(files, running.url, None) as anyone:
                r = await anyone.post("/v1/hostings", json={"film_id": FILM,
                                                            "node_public_key": pub, "days": 1})
                assert (r.status_code, r.json()["code"]) == (401, "unauthenticated")
                r = await anyone.get(f"/v1/hostings/{mine['hosting_id']}")
                assert r.status_code == 401
            r = await shop.post(renew)
            assert (r.status_code, validator.check(r, "Error")["code"]) == (401, "unauthenticated")
            r = await _host(shop, pub, days=1, hours=3)
            assert (r.status_code, r.json()["field"]) == (400, "hours")
            r = await shop.post("/v1/hostings", json={"film_id": "no-such-film",
                                                      "node_public_key": pub, "days": 1})
            assert r.status_code == 404
            assert (await shop.get("/v1/hostings/123")).status_code == 404
            assert (await shop.get("/v1/hostings/0x1")).status_code == 404
            assert (await shop.delete(f"/v1/hostings/{mine['hosting_id']}")).status_code == 405

            # this node's rental certificate does not renew its hosting
            async with _node(files, running.url, rental_cert.public_bytes(Encoding.PEM),
                             key) as node:
                r = await node.post(renew)
            assert r.status_code == 403
            assert "not a hosting certificate" in validator.check(r, "Error")["message"]
            # another host's hosting certificate does not renew this one
            async with _node(files, running.url, theirs["credential"].encode(),
                             other_key) as intruder:
                r = await intruder.post(renew)
            assert (r.status_code, r.json()["code"]) == (403, "wrong_node_key")
        metrics = running.metrics.render().decode()
        assert 'peernode_hosting_refusals_total{reason="wrong_node_key"} 2.0' in metrics
        assert 'peernode_hosting_refusals_total{reason="unauthenticated"} 3.0' in metrics


async def test_after_the_hosting_window_renewal_is_403_ended(
    sqlite_files: ServiceFiles, validator: Validator
) -> None:
    files = sqlite_files
    async with serve(files) as running:
        key, pub = node_key_pem()
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        end = start + timedelta(minutes=1, seconds=2)
        async with shop_client(files, running.url, files.add_key()) as shop:
            r = await _host(shop, pub, not_before=start.isoformat(), not_after=end.isoformat())
        created = validator.check(r, "CreatedHosting")
        credential = load_hosting_certificate(created["credential"].encode())
        assert credential.not_valid_after_utc == end  # clamped to the window
        async with _node(files, running.url, created["credential"].encode(), key) as node:
            await trio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.5)
            r = await node.post(f"/v1/hostings/{created['hosting_id']}/renew")
        assert (r.status_code, validator.check(r, "Error")["code"]) == (403, "ended")
