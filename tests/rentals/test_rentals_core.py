"""The pure core at a fixed time: request checks, shop keys, the renewal policy, and the
write order of a create, with the crash between "signed" and "stored" made to happen."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

import certs
from certs.authority import CA
from rentals.catalog import Catalog
from rentals.database import open_store
from rentals.errors import FieldError, ForbiddenError, UnauthenticatedError
from rentals.policy import certificate_span, certificate_validity, check_renewal
from rentals.records import RentalRecord, RentalState
from rentals.requests import parse_create_request
from rentals.service import RentalService
from rentals.shop_keys import new_shop_key, split_presented_key, verify_secret
from rentals.store import RentalStore
from tests.rentals.conftest import FILM, ServiceFiles, node_key_pem

H = timedelta(hours=1)


def test_certificate_validity_is_short_and_inside_the_window(t0: datetime) -> None:
    life = 2 * H  # L, the revocation promise: a certificate lasts 0.8 L of it
    span = timedelta(minutes=96)
    second = timedelta(seconds=1)  # peers accept a certificate through its notAfter's second
    assert certificate_span(life) == span
    assert certificate_validity(t0 - H, t0 + 10 * H, now=t0, lifetime=life) == (
        t0 - timedelta(minutes=5), t0 + span - second)
    # never past the window's end, never before its start
    assert certificate_validity(t0 - H, t0 + H, now=t0, lifetime=life) == (
        t0 - timedelta(minutes=5), t0 + H)
    assert certificate_validity(t0 + 3 * H, t0 + 10 * H, now=t0, lifetime=life) == (
        t0 + 3 * H, t0 + 3 * H + span - second)
    # whole seconds: the fraction of a second of the issue is dropped, never added
    late = t0 + timedelta(milliseconds=900)
    _, end = certificate_validity(t0 - H, t0 + 10 * H, now=late, lifetime=timedelta(seconds=10))
    assert end == t0 + timedelta(seconds=7)
    with pytest.raises(ValueError, match="ended"):
        certificate_validity(t0 - 2 * H, t0, now=t0, lifetime=life)


def _record(t0: datetime, **over: Any) -> RentalRecord:
    fields: dict[str, Any] = {
        "rental_id": 7, "film_id": FILM, "node_public_key_pem": "", "not_before": t0 - H,
        "not_after": t0 + H, "shop_key_id": "k", "idempotency_key": None, "fingerprint": "f",
        "state": RentalState.ISSUED, "created_at": t0 - H,
    }
    return RentalRecord(**(fields | over))


def test_renewal_policy_refuses_with_reasons(t0: datetime) -> None:
    check_renewal(_record(t0), now=t0)
    cases = [
        (_record(t0, revoked_at=t0, revoke_reason="refund"), t0, "revoked"),
        (_record(t0), t0 + H, "ended"),
        (_record(t0, state=RentalState.PENDING), t0, "not_issued"),
    ]
    for record, now, reason in cases:
        with pytest.raises(ForbiddenError) as refused:
            check_renewal(record, now=now)
        assert refused.value.reason == reason


def test_requests_are_checked_field_by_field(t0: datetime) -> None:
    _, pub = node_key_pem()
    ok = parse_create_request({"film_id": FILM, "node_public_key": pub, "hours": 1.5},
                              now=t0, max_hours=48)
    assert (ok.not_before, ok.not_after) == (t0, t0 + 1.5 * H)
    same = parse_create_request({"hours": 1.5, "node_public_key": pub, "film_id": FILM},
                                now=t0 + H, max_hours=48)
    assert same.fingerprint == ok.fingerprint  # a retry later is the same request
    with pytest.raises(FieldError) as bad:
        parse_create_request({"film_id": FILM, "node_public_key": pub, "hours": True},
                             now=t0, max_hours=48)
    assert bad.value.field == "hours"


def test_shop_keys_are_stored_hashed_and_checked(t0: datetime) -> None:
    new = new_shop_key("shop-1", now=t0)
    key_id, secret = split_presented_key(f"Bearer {new.key}")
    assert key_id == new.record.key_id
    assert secret not in (new.record.digest, new.record.salt)
    assert verify_secret(new.record, secret)
    assert not verify_secret(new.record, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    for header in (None, new.key, f"Basic {new.key}", "Bearer pnk_zz_x"):
        with pytest.raises(UnauthenticatedError):
            split_presented_key(header)


class _CrashAfterSigning:
    """A store whose ``complete_rental`` dies: the process "crashed" after signing."""

    def __init__(self, store: RentalStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def complete_rental(self, *args: Any) -> RentalRecord:
        raise SystemExit("killed between signing and storing")


def test_a_crash_between_signing_and_storing_leaves_a_rental_the_shop_sees(
    files: ServiceFiles, ca: CA
) -> None:
    now = datetime.now().astimezone()
    store = open_store(files.database, base_dir=files.dir)
    try:
        shop = new_shop_key("shop", now=now)
        store.add_shop_key(shop.record)
        catalog = Catalog(files.library, files.ca_dir)
        crashing = RentalService(_CrashAfterSigning(store), ca, catalog,  # type: ignore[arg-type]
                                 lifetime=2 * H, max_rental_hours=48)
        _, pub = node_key_pem()
        body = {"film_id": FILM, "node_public_key": pub, "hours": 2}
        with pytest.raises(SystemExit):
            crashing.create(shop.record, body, idempotency_key="order-9", now=now)
        (pending,) = store.rentals(shop_key_id=None, limit=10, after=None)
        assert pending.state is RentalState.PENDING
        assert pending.bundle is None  # the signed certificate died with the process...
        # ...but its serial is stored: the shop lists it, can revoke it (CRL), or retry
        service = RentalService(store, ca, catalog, lifetime=2 * H, max_rental_hours=48)
        issued = service.create(shop.record, body, idempotency_key="order-9", now=now)
        assert issued.record.rental_id == pending.rental_id
        assert issued.record.state is RentalState.ISSUED
        assert certs.read_rental_certificate(issued.bundle).serial_number == pending.rental_id
        assert store.count_rentals() == 1
    finally:
        store.close()


def test_a_database_of_a_newer_schema_is_refused(sqlite_files: ServiceFiles) -> None:
    from rentals.errors import StoreError

    store = open_store(sqlite_files.database, base_dir=sqlite_files.dir)
    store.close()
    import sqlite3

    with sqlite3.connect(sqlite_files.dir / "rentals.sqlite3") as db:
        db.execute("INSERT INTO schema_migrations VALUES (99, 0)")
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(sqlite_files.database, base_dir=sqlite_files.dir)


def test_only_the_reservation_commits_without_a_flush(sqlite_files: ServiceFiles, ca: CA) -> None:
    now = datetime.now().astimezone()
    store = open_store(sqlite_files.database, base_dir=sqlite_files.dir)
    try:
        shop = new_shop_key("shop", now=now)
        store.add_shop_key(shop.record)
        service = RentalService(store, ca, Catalog(sqlite_files.library, sqlite_files.ca_dir),
                                lifetime=2 * H, max_rental_hours=48)
        _, pub = node_key_pem()
        service.create(shop.record, {"film_id": FILM, "node_public_key": pub, "hours": 1},
                       idempotency_key=None, now=now)
        # back to FULL (2) after the relaxed reservation: every other commit is flushed
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # type: ignore[attr-defined]
    finally:
        store.close()


class _RetryCompletesFirst:
    """A store through which, just before this create stores its bundle, a retry of the
    same request (another service on the same database) completes the rental."""

    def __init__(self, store: RentalStore, retry: Any) -> None:
        self._store = store
        self._retry = retry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def complete_rental(self, *args: Any) -> RentalRecord:
        self._retry()
        return self._store.complete_rental(*args)


def test_of_two_racing_retries_the_first_stored_bundle_is_every_answer(
    files: ServiceFiles, ca: CA
) -> None:
    now = datetime.now().astimezone()
    first, second = (open_store(files.database, base_dir=files.dir) for _ in range(2))
    try:
        shop = new_shop_key("shop", now=now)
        first.add_shop_key(shop.record)
        catalog = Catalog(files.library, files.ca_dir)
        _, pub = node_key_pem()
        body = {"film_id": FILM, "node_public_key": pub, "hours": 2}
        other = RentalService(second, ca, catalog, lifetime=2 * H, max_rental_hours=48)
        retried: list[Any] = []

        def retry() -> None:
            retried.append(other.create(shop.record, body, idempotency_key="k", now=now))

        racing = RentalService(_RetryCompletesFirst(first, retry), ca, catalog,  # type: ignore[arg-type]
                               lifetime=2 * H, max_rental_hours=48)
        answer = racing.create(shop.record, body, idempotency_key="k", now=now)
        (winner,) = retried
        assert answer.bundle == winner.bundle
        assert answer.record.rental_id == winner.record.rental_id
        assert first.rental(answer.record.rental_id).bundle == winner.bundle  # type: ignore[union-attr]
        assert first.count_rentals() == 1
    finally:
        first.close()
        second.close()
