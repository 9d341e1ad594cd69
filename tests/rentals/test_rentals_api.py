"""The rental service over real HTTPS (in-process trio server, httpx clients), on a
real SQLite file and a real PostgreSQL database: the shop's side of the API."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

import certs
from rentals.database import open_store
from rentals.server import RunningRentalService
from tests.rentals.conftest import (
    FILM,
    ServiceFiles,
    Validator,
    node_key_pem,
    shop_client,
)


def _body(pub: str, **over: object) -> dict[str, object]:
    return {"film_id": FILM, "node_public_key": pub, "hours": 2} | over


async def test_shop_without_a_valid_key_gets_401(
    files: ServiceFiles, running: RunningRentalService, validator: Validator
) -> None:
    _, pub = node_key_pem()
    for key in (None, "not-a-key", "pnk_0123456789ab_" + "A" * 43):
        async with shop_client(files, running.url, key) as shop:
            r = await shop.post("/v1/rentals", json=_body(pub))
            assert r.status_code == 401, key
            assert validator.check(r, "Error")["code"] == "unauthenticated"
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert (await shop.get("/v1/rentals")).status_code == 401


async def test_a_revoked_shop_key_gets_401(
    files: ServiceFiles, running: RunningRentalService, validator: Validator
) -> None:
    key = files.add_key("old")
    _, pub = node_key_pem()
    async with shop_client(files, running.url, key) as shop:
        assert (await shop.post("/v1/rentals", json=_body(pub))).status_code == 201
        store = open_store(files.database, base_dir=files.dir)
        store.revoke_shop_key("old", now=datetime.now(UTC))
        store.close()
        r = await shop.post("/v1/rentals", json=_body(pub))
        assert r.status_code == 401
        assert "revoked" in validator.check(r, "Error")["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"film_id": "Not A Film"}, "film_id"),
        ({"film_id": None}, "film_id"),
        ({"node_public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
         "node_public_key"),
        ({"hours": -1}, "hours"),
        ({"hours": "two"}, "hours"),
        ({"hours": 100000}, "hours"),
        ({"not_after": "2030-01-01T00:00:00Z"}, "hours"),  # both hours and not_after
        ({"hours": None, "not_after": "2030-01-01T00:00:00"}, "not_after"),  # no timezone
        ({"not_before": "yesterday"}, "not_before"),
        ({"hours": None, "not_after": "2020-01-01T00:00:00Z",
          "not_before": "2019-12-31T00:00:00Z"}, "not_after"),  # already ended
        ({"price": 3}, "price"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    files: ServiceFiles, running: RunningRentalService, validator: Validator,
    change: dict[str, object], field: str,
) -> None:
    _, pub = node_key_pem()
    body = {k: v for k, v in (_body(pub) | change).items() if v is not None or k == "film_id"}
    async with shop_client(files, running.url, files.add_key()) as shop:
        r = await shop.post("/v1/rentals", json=body)
    assert r.status_code == 400, r.text
    error = validator.check(r, "Error")
    assert (error["code"], error["field"]) == ("invalid_field", field)


async def test_bad_body_and_idempotency_key_are_400(
    files: ServiceFiles, running: RunningRentalService, validator: Validator
) -> None:
    _, pub = node_key_pem()
    async with shop_client(files, running.url, files.add_key()) as shop:
        r = await shop.post("/v1/rentals", content=b"{not json")
        assert (r.status_code, validator.check(r, "Error")["field"]) == (400, "body")
        r = await shop.post("/v1/rentals", json=_body(pub), headers={"Idempotency-Key": "a b"})
        assert (r.status_code, validator.check(r, "Error")["field"]) == (400, "Idempotency-Key")
        r = await shop.post("/v1/rentals/1/revoke", json={"reason": ""})
        assert r.status_code in (400, 404)


async def test_unknown_film_is_404(
    files: ServiceFiles, running: RunningRentalService, validator: Validator
) -> None:
    _, pub = node_key_pem()
    async with shop_client(files, running.url, files.add_key()) as shop:
        r = await shop.post("/v1/rentals", json=_body(pub, film_id="no-such-film"))
        assert r.status_code == 404
        assert validator.check(r, "Error")["code"] == "not_found"
        assert (await shop.get("/v1/rentals/12345")).status_code == 404
        assert (await shop.get("/v1/rentals/x1")).status_code == 404


async def test_create_gives_a_bundle_the_node_opens(
    files: ServiceFiles, running: RunningRentalService, validator: Validator
) -> None:
    node_key, pub = node_key_pem()
    before = datetime.now(UTC).replace(microsecond=0)
    async with shop_client(files, running.url, files.add_key()) as shop:
        r = await shop.post("/v1/rentals", json=_body(pub, hours=5))
        assert r.status_code == 201, r.text
        created = validator.check(r, "CreatedRental")
        assert r.headers["location"] == f"/v1/rentals/{created['rental_id']}"
        rental = certs.open_rental(base64.b64decode(created["bundle"]), node_key, files.ca.cert)
        assert rental.film_id == FILM
        assert rental.serial == int(created["rental_id"])
        # a short-lived certificate (0.8 of the 2 h lifetime, notAfter a second early)
        # inside a 5 h window
        window_end = datetime.fromisoformat(created["not_after"])
        assert window_end - before >= timedelta(hours=5)
        span = timedelta(minutes=96, seconds=-1)
        assert span <= rental.not_after - before <= span + timedelta(seconds=5)
        read = validator.check(await shop.get(f"/v1/rentals/{created['rental_id']}"), "Rental")
        assert read["state"] == "issued"
        assert not read["revoked"]
        listed = validator.check(await shop.get("/v1/rentals"), "RentalList")
        assert [x["rental_id"] for x in listed["rentals"]] == [created["rental_id"]]


async def test_the_certificate_never_outlasts_a_short_window(
    files: ServiceFiles, running: RunningRentalService, validator: Validator
) -> None:
    node_key, pub = node_key_pem()
    async with shop_client(files, running.url, files.add_key()) as shop:
        created = validator.check(
            await shop.post("/v1/rentals", json=_body(pub, hours=0.5)), "CreatedRental"
        )
    rental = certs.open_rental(base64.b64decode(created["bundle"]), node_key, files.ca.cert)
    assert rental.not_after == datetime.fromisoformat(created["not_after"])


async def test_a_repeated_idempotency_key_returns_the_first_answer(
    files: ServiceFiles, running: RunningRentalService, validator: Validator
) -> None:
    _, pub = node_key_pem()
    async with shop_client(files, running.url, files.add_key()) as shop:
        first = await shop.post("/v1/rentals", json=_body(pub), headers={"Idempotency-Key": "o-1"})
        again = await shop.post("/v1/rentals", json=_body(pub), headers={"Idempotency-Key": "o-1"})
        assert first.status_code == again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert validator.check(again, "CreatedRental") == validator.check(first, "CreatedRental")
        other = await shop.post(
            "/v1/rentals", json=_body(pub, hours=3), headers={"Idempotency-Key": "o-1"}
        )
        assert other.status_code == 409
        assert validator.check(other, "Error")["code"] == "idempotency_conflict"
        fresh = await shop.post("/v1/rentals", json=_body(pub), headers={"Idempotency-Key": "o-2"})
        assert fresh.json()["rental_id"] != first.json()["rental_id"]
    assert running.service.store.count_rentals() == 2


async def test_revoke_puts_the_rental_on_the_published_crl(
    files: ServiceFiles, running: RunningRentalService, validator: Validator
) -> None:
    _, pub = node_key_pem()
    async with shop_client(files, running.url, files.add_key()) as shop:
        created = (await shop.post("/v1/rentals", json=_body(pub))).json()
        rental_id = created["rental_id"]
        r = await shop.post(f"/v1/rentals/{rental_id}/revoke", json={"reason": "refund"})
        revoked = validator.check(r, "Rental")
        assert revoked["revoked"]
        assert revoked["revoke_reason"] == "refund"
        # the CRL is written before the answer
        crl = certs.read_crl_file(files.ca_dir / "crl.pem")
        certs.verify_crl(crl, files.ca.cert)
        assert int(rental_id) in certs.revoked_serials(crl)
        assert crl.next_update_utc is not None
        assert not certs.crl_is_stale(crl)
        # idempotent: the first reason is kept
        again = await shop.post(f"/v1/rentals/{rental_id}/revoke", json={"reason": "abuse"})
        assert validator.check(again, "Rental")["revoke_reason"] == "refund"
        missing = await shop.post("/v1/rentals/999/revoke", json={"reason": "abuse"})
        assert missing.status_code == 404


async def test_health_metrics_and_openapi(
    files: ServiceFiles, running: RunningRentalService, validator: Validator
) -> None:
    async with shop_client(files, running.url, None) as anyone:
        health = await anyone.get("/health")
        assert validator.check(health, "Health") == {"status": "ok", "rentals": 0, "films": 1}
        doc = (await anyone.get("/openapi.json")).json()
        assert doc["openapi"].startswith("3.1")
        assert {"/v1/rentals", "/v1/rentals/{rental_id}/renew"} <= set(doc["paths"])
        await anyone.post("/v1/rentals", json={})  # a refusal, counted
        metrics = (await anyone.get("/metrics")).text
    for name in ("peernode_rentals_created_total", "peernode_rental_renewals_total",
                 'peernode_rental_refusals_total{reason="unauthenticated"} 1.0',
                 "peernode_rental_request_seconds_bucket"):
        assert name in metrics




async def test_shutdown_closes_idle_keepalive_connections_at_once(
    sqlite_files: ServiceFiles,
) -> None:
    import httpx
    import trio

    from rentals.server import serve_rental_service

    async with httpx.AsyncClient(verify=sqlite_files.ca_context()) as client:
        async with trio.open_nursery() as nursery:
            running: RunningRentalService = await nursery.start(
                serve_rental_service, sqlite_files.config(shutdown_grace_s=30)
            )
            assert (await client.get(f"{running.url}/health")).status_code == 200
            started = trio.current_time()  # the connection is kept alive, idle
            running.shutdown()
        assert trio.current_time() - started < 5  # not the 30 s grace


async def test_the_crl_is_resigned_before_its_next_update(sqlite_files: ServiceFiles) -> None:
    import trio
    from cryptography import x509

    from tests.rentals.conftest import serve

    path = sqlite_files.ca_dir / "crl.pem"

    def number() -> int:
        crl = certs.read_crl_file(path)
        certs.verify_crl(crl, sqlite_files.ca.cert)
        assert not certs.crl_is_stale(crl)
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    async with serve(sqlite_files, crl_next_update_s=4):
        first = number()  # written at start
        with trio.fail_after(10):
            while number() == first:  # re-signed at half of nextUpdate, never stale
                await trio.sleep(0.1)
