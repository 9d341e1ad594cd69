"""`RentalService`: the rental service's operations, as plain synchronous code.

The HTTPS shell (`rentals.server`) runs these in worker threads; tests and the
benchmark call them directly. The clock and the serial generator are parameters.

**Write order of a rental** (so a crash never leaves a certificate the shop cannot
see): (1) the rental is *reserved*, its serial chosen and committed as ``pending``;
(2) its certificate is signed and the bundle built; (3) the bundle is committed and
the rental marked ``issued``. A crash after (1) leaves a pending rental that the
shop lists, can revoke (its serial goes on the CRL like any other), or completes by
sending the same request with the same ``Idempotency-Key`` again. No certificate
exists whose serial the store does not hold.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.authority.ca import CA
from certs.authority.renting import make_rental_bundle
from certs.errors import BundleError
from certs.rental import rental_public_key, verify_rental_certificate
from rentals.catalog import Catalog
from rentals.errors import (
    ConflictError,
    FieldError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
)
from rentals.policy import certificate_validity, check_renewal
from rentals.records import RentalRecord, RentalState
from rentals.requests import parse_create_request, public_key_from_pem
from rentals.shop_keys import ShopKeyRecord, split_presented_key, verify_secret
from rentals.store import RentalStore

__all__ = ["Issued", "RentalService", "parse_rental_id"]


@dataclass(frozen=True)
class Issued:
    """A rental and the bundle just issued (or first issued, on an idempotent retry)."""

    record: RentalRecord
    bundle: bytes
    certificate_not_after: datetime
    replayed: bool = False


def parse_rental_id(text: str) -> int:
    """A rental id from a URL (the serial in decimal); `NotFoundError` for anything else."""
    if not text.isdigit() or len(text) > 49 or text.startswith("0"):
        raise NotFoundError(f"no rental {text!r}")
    return int(text)


class RentalService:
    """Shop keys, rentals, renewals and revocations over a store and the issuing CA."""

    def __init__(
        self,
        store: RentalStore,
        ca: CA,
        catalog: Catalog,
        *,
        lifetime: timedelta,
        max_rental_hours: float,
        new_serial: Callable[[], int] = x509.random_serial_number,
        rng_bytes: Callable[[int], bytes] = os.urandom,
        service_url: str | None = None,
    ) -> None:
        self.store = store
        # Written into every bundle: where its node renews (the server sets it once it
        # knows its port). None: bundles that cannot be renewed by themselves.
        self.service_url = service_url
        self.ca = ca
        self.catalog = catalog
        self.lifetime = lifetime
        self.max_rental_hours = max_rental_hours
        self._new_serial = new_serial
        self._rng_bytes = rng_bytes
        # scrypt is slow on purpose: a key is checked once per process, then known by
        # the SHA-256 of what was presented (revocation is still read from the store)
        self._verified: dict[str, bytes] = {}
        self._verified_lock = threading.Lock()

    # -- the shop -----------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> ShopKeyRecord:
        """The shop key in an ``Authorization`` header; `UnauthenticatedError` otherwise."""
        key_id, secret = split_presented_key(authorization)
        record = self.store.shop_key(key_id)
        if record is None:
            raise UnauthenticatedError("unknown shop key")
        presented = hashlib.sha256(secret.encode("ascii")).digest()
        with self._verified_lock:
            known = self._verified.get(key_id)
        if known != presented:
            if not verify_secret(record, secret):
                raise UnauthenticatedError("unknown shop key")
            with self._verified_lock:
                self._verified[key_id] = presented
        if record.revoked_at is not None:
            raise UnauthenticatedError(f"shop key {record.name!r} was revoked")
        return record

    def create(
        self,
        shop: ShopKeyRecord,
        body: dict[str, Any],
        *,
        idempotency_key: str | None,
        now: datetime,
    ) -> Issued:
        """Create (or, for a repeated idempotency key, return) a rental and its bundle."""
        request = parse_create_request(body, now=now, max_hours=self.max_rental_hours)
        if not self.catalog.has(request.film_id):
            raise NotFoundError(f"film {request.film_id!r} is not in the catalogue")
        reserved = RentalRecord(
            rental_id=self._new_serial(),
            film_id=request.film_id,
            node_public_key_pem=request.node_public_key_pem,
            not_before=request.not_before,
            not_after=request.not_after,
            shop_key_id=shop.key_id,
            idempotency_key=idempotency_key,
            fingerprint=request.fingerprint,
            state=RentalState.PENDING,
            created_at=now.replace(microsecond=0),
        )
        stored, inserted = self.store.reserve_rental(reserved)
        if not inserted:
            if stored.fingerprint != request.fingerprint:
                raise ConflictError(
                    f"Idempotency-Key {idempotency_key!r} was used for another request"
                    f" (rental {stored.rental_id})"
                )
            if stored.state is RentalState.ISSUED and stored.bundle is not None:
                assert stored.certificate_not_after is not None
                return Issued(stored, stored.bundle, stored.certificate_not_after, replayed=True)
            if stored.revoked:
                raise ForbiddenError("revoked", f"rental {stored.rental_id} was revoked")
        return self._issue(stored, now=now)

    def _issue(self, record: RentalRecord, *, now: datetime) -> Issued:
        """Sign a certificate for a reserved rental and commit its bundle."""
        try:
            not_before, not_after = certificate_validity(
                record.not_before, record.not_after, now=now, lifetime=self.lifetime
            )
        except ValueError:
            raise ForbiddenError(
                "ended", f"rental {record.rental_id} ended before it could be issued"
            ) from None
        bundle = self._bundle(record, not_before, not_after)
        completed = self.store.complete_rental(record.rental_id, bundle, not_after)
        if completed.bundle is not None and completed.bundle != bundle:
            # a retry of the same request completed it first: its answer is the answer
            assert completed.certificate_not_after is not None
            return Issued(completed, completed.bundle, completed.certificate_not_after,
                          replayed=True)
        return Issued(completed, bundle, not_after)

    def _bundle(self, record: RentalRecord, not_before: datetime, not_after: datetime) -> bytes:
        key = public_key_from_pem(record.node_public_key_pem)
        certificate = self.ca.issue_rental(
            record.film_id, key, not_before=not_before, not_after=not_after,
            serial=record.rental_id,
        )
        content_key = self.catalog.content_key(record.film_id)
        return make_rental_bundle(certificate, content_key, rng_bytes=self._rng_bytes,
                                  service_url=self.service_url,
                                  window=(record.not_before, record.not_after))

    def get(self, rental_id: int) -> RentalRecord:
        """A rental of this shop; `NotFoundError` if there is none."""
        record = self.store.rental(rental_id)
        if record is None:
            raise NotFoundError(f"no rental {rental_id}")
        return record

    def list(self, *, limit: int, after: int | None) -> list[RentalRecord]:
        """Rentals in id order, ``limit`` at most, after ``after``."""
        if not 1 <= limit <= 1000:
            raise FieldError("limit", "must be in 1..1000")
        return list(self.store.rentals(shop_key_id=None, limit=limit, after=after))

    def revoke(self, rental_id: int, *, reason: str, now: datetime) -> RentalRecord:
        """Revoke a rental (idempotent); the caller then republishes the CRL."""
        record = self.store.revoke_rental(rental_id, now=now.replace(microsecond=0), reason=reason)
        if record is None:
            raise NotFoundError(f"no rental {rental_id}")
        return record

    # -- the node -------------------------------------------------------------------

    def renew(self, rental_id: int, client_certificate: bytes | None, *, now: datetime) -> Issued:
        """A fresh certificate for the node holding the rental's key.

        ``client_certificate`` is the DER certificate the node presented in the TLS
        handshake, which proves it holds the private key of that certificate's public
        key (TLS CertificateVerify). OpenSSL has checked it chains to the CA but not
        its validity period: an expired certificate of this rental renews too (a node
        offline for a day). It must carry the rental's node key (else 403
        ``wrong_node_key``); the policy then refuses a revoked or ended rental.
        """
        if client_certificate is None:
            raise UnauthenticatedError(
                "renewal needs the node's rental certificate as its TLS client certificate"
            )
        record = self.get(rental_id)
        try:
            certificate = x509.load_der_x509_certificate(client_certificate)
            verify_rental_certificate(certificate, self.ca.cert)
        except (ValueError, BundleError):
            raise ForbiddenError(
                "wrong_node_key", "the client certificate is not a rental certificate of this CA"
            ) from None
        presented = rental_public_key(certificate)
        expected = public_key_from_pem(record.node_public_key_pem)
        if presented is None or _spki(presented) != _spki(expected):
            raise ForbiddenError(
                "wrong_node_key", f"rental {rental_id} was made for another node key"
            )
        check_renewal(record, now=now)
        not_before, not_after = certificate_validity(
            record.not_before, record.not_after, now=now, lifetime=self.lifetime
        )
        return Issued(record, self._bundle(record, not_before, not_after), not_after)


def _spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der
