"""`HostingService`: hosting credentials for opted-in nodes, as plain synchronous code.

The operator (a shop key) creates a hosting for a film and a node key with a window;
the service signs a hosting certificate (`CA.issue_hosting`: SAN = film id, the
hosting policy, no content key) as short-lived as a rental's, and the node renews it
over mutual TLS with that certificate's key until the window ends or the hosting is
revoked. A hosting's id is the serial of all its certificates, so its revocation is
one CRL entry. Same write order as a rental (`rentals.service`): reserved, signed,
completed; no certificate exists whose serial the store does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.authority.ca import CA
from certs.errors import BundleError
from certs.hosting import is_hosting_certificate
from certs.rental import rental_public_key, verify_rental_certificate
from rentals.catalog import Catalog
from rentals.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnauthenticatedError,
)
from rentals.hosting_records import HostingRecord
from rentals.hosting_requests import MAX_HOSTING_DAYS, parse_hosting_request
from rentals.hosting_store import HostingStore
from rentals.policy import certificate_validity
from rentals.records import RentalState
from rentals.requests import public_key_from_pem
from rentals.shop_keys import ShopKeyRecord

__all__ = ["HostingIssued", "HostingService", "check_hosting_renewal", "parse_hosting_id"]


@dataclass(frozen=True)
class HostingIssued:
    """A hosting and the credential (PEM certificate) just issued or first issued."""

    record: HostingRecord
    credential: bytes
    certificate_not_after: datetime
    replayed: bool = False


def parse_hosting_id(text: str) -> int:
    """A hosting id from a URL (the serial in decimal); `NotFoundError` otherwise."""
    if not text.isdigit() or len(text) > 49 or text.startswith("0"):
        raise NotFoundError(f"no hosting {text!r}")
    return int(text)


def check_hosting_renewal(record: HostingRecord, *, now: datetime) -> None:
    """Refuse (`ForbiddenError` with the reason) a renewal the policy does not allow:
    ``revoked`` (with the operator's reason), ``ended``, ``not_issued``."""
    if record.revoked:
        raise ForbiddenError(
            "revoked", f"hosting {record.hosting_id} was revoked: {record.revoke_reason}"
        )
    if now >= record.not_after:
        raise ForbiddenError(
            "ended", f"hosting {record.hosting_id} ended at {record.not_after.isoformat()}"
        )
    if record.state is not RentalState.ISSUED:
        raise ForbiddenError(
            "not_issued", f"hosting {record.hosting_id} was never completed: retry its creation"
        )


class HostingService:
    """Hostings, their renewals and revocations over a store and the issuing CA."""

    def __init__(
        self,
        store: HostingStore,
        ca: CA,
        catalog: Catalog,
        *,
        lifetime: timedelta,
        max_days: float = MAX_HOSTING_DAYS,
        new_serial: Callable[[], int] = x509.random_serial_number,
    ) -> None:
        self.store = store
        self.ca = ca
        self.catalog = catalog
        self.lifetime = lifetime
        self.max_days = max_days
        self._new_serial = new_serial

    # -- the operator ---------------------------------------------------------------

    def create(
        self,
        shop: ShopKeyRecord,
        body: dict[str, Any],
        *,
        idempotency_key: str | None,
        now: datetime,
    ) -> HostingIssued:
        """Create (or, for a repeated idempotency key, return) a hosting and its credential."""
        request = parse_hosting_request(body, now=now, max_days=self.max_days)
        if not self.catalog.has(request.film_id):
            raise NotFoundError(f"film {request.film_id!r} is not in the catalogue")
        reserved = HostingRecord(
            hosting_id=self._new_serial(),
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
        stored, inserted = self.store.reserve_hosting(reserved)
        if not inserted:
            if stored.fingerprint != request.fingerprint:
                raise ConflictError(
                    f"Idempotency-Key {idempotency_key!r} was used for another request"
                    f" (hosting {stored.hosting_id})"
                )
            if stored.state is RentalState.ISSUED and stored.credential is not None:
                assert stored.certificate_not_after is not None
                return HostingIssued(stored, stored.credential, stored.certificate_not_after,
                                     replayed=True)
            if stored.revoked:
                raise ForbiddenError("revoked", f"hosting {stored.hosting_id} was revoked")
        return self._issue(stored, now=now)

    def _issue(self, record: HostingRecord, *, now: datetime) -> HostingIssued:
        try:
            not_before, not_after = certificate_validity(
                record.not_before, record.not_after, now=now, lifetime=self.lifetime
            )
        except ValueError:
            raise ForbiddenError(
                "ended", f"hosting {record.hosting_id} ended before it could be issued"
            ) from None
        credential = self._credential(record, not_before, not_after)
        completed = self.store.complete_hosting(record.hosting_id, credential, not_after)
        if completed.credential is not None and completed.credential != credential:
            assert completed.certificate_not_after is not None
            return HostingIssued(completed, completed.credential,
                                 completed.certificate_not_after, replayed=True)
        return HostingIssued(completed, credential, not_after)

    def _credential(
        self, record: HostingRecord, not_before: datetime, not_after: datetime
    ) -> bytes:
        certificate = self.ca.issue_hosting(
            record.film_id, public_key_from_pem(record.node_public_key_pem),
            not_before=not_before, not_after=not_after, serial=record.hosting_id,
        )
        return certificate.public_bytes(serialization.Encoding.PEM)

    def get(self, hosting_id: int) -> HostingRecord:
        """A hosting; `NotFoundError` if there is none."""
        record = self.store.hosting(hosting_id)
        if record is None:
            raise NotFoundError(f"no hosting {hosting_id}")
        return record

    def revoke(self, hosting_id: int, *, reason: str, now: datetime) -> HostingRecord:
        """Revoke a hosting (idempotent); the caller then republishes the CRL."""
        record = self.store.revoke_hosting(
            hosting_id, now=now.replace(microsecond=0), reason=reason
        )
        if record is None:
            raise NotFoundError(f"no hosting {hosting_id}")
        return record

    # -- the node ---------------------------------------------------------------------

    def renew(
        self, hosting_id: int, client_certificate: bytes | None, *, now: datetime
    ) -> HostingIssued:
        """A fresh hosting certificate for the node holding the hosting's key.

        ``client_certificate`` (DER, from the TLS handshake: the node proved it holds
        its key) must be a hosting certificate of this CA (a rental certificate is
        refused), of this hosting (its serial), for the hosting's node key; an expired
        one renews too. The policy then refuses a revoked or ended hosting. The new
        certificate lasts ``lifetime`` at most and never past the hosting window.
        """
        if client_certificate is None:
            raise UnauthenticatedError(
                "renewal needs the node's hosting certificate as its TLS client certificate"
            )
        record = self.get(hosting_id)
        try:
            certificate = x509.load_der_x509_certificate(client_certificate)
            _, serial = verify_rental_certificate(certificate, self.ca.cert)
        except (ValueError, BundleError):
            raise ForbiddenError(
                "wrong_node_key", "the client certificate is not a certificate of this CA"
            ) from None
        if not is_hosting_certificate(certificate):
            raise ForbiddenError(
                "wrong_node_key", "the client certificate is not a hosting certificate"
            )
        if serial != hosting_id:
            raise ForbiddenError(
                "wrong_node_key", f"the client certificate is of another hosting than {hosting_id}"
            )
        presented = rental_public_key(certificate)
        expected = public_key_from_pem(record.node_public_key_pem)
        if presented is None or _spki(presented) != _spki(expected):
            raise ForbiddenError(
                "wrong_node_key", f"hosting {hosting_id} was made for another node key"
            )
        check_hosting_renewal(record, now=now)
        not_before, not_after = certificate_validity(
            record.not_before, record.not_after, now=now, lifetime=self.lifetime
        )
        return HostingIssued(record, self._credential(record, not_before, not_after), not_after)


def _spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der
