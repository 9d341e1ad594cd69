"""The hosting half of the store's interface (`rentals.sql_store.SqlStore` implements
both halves on one schema, migration 2 adding the ``hostings`` table)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from rentals.hosting_records import HostingRecord
from rentals.store import RentalStore

__all__ = ["HostingStore", "ServiceStore"]


class HostingStore(Protocol):
    """Hostings, durable once a method returns; every method is one transaction."""

    def reserve_hosting(self, record: HostingRecord) -> tuple[HostingRecord, bool]:
        """Insert a ``pending`` hosting; if its (shop key, idempotency key) is taken,
        return the hosting stored under it instead. (record, True if inserted)."""

    def complete_hosting(
        self, hosting_id: int, credential: bytes, certificate_not_after: datetime
    ) -> HostingRecord:
        """Store the credential of a ``pending`` hosting and mark it ``issued`` (an
        ``issued`` one keeps its first credential); the hosting as stored after."""

    def hosting(self, hosting_id: int) -> HostingRecord | None:
        """The hosting, or None."""

    def revoke_hosting(
        self, hosting_id: int, *, now: datetime, reason: str
    ) -> HostingRecord | None:
        """Mark the hosting revoked (idempotent: the first time and reason are kept)."""

    def revoked_hostings(self) -> Mapping[int, datetime]:
        """Every revoked hosting id and when it was revoked (for the CRL)."""

    def count_hostings(self) -> int:
        """How many hostings are stored."""


class ServiceStore(RentalStore, HostingStore, Protocol):
    """Both halves: what `rentals.database.open_store` returns."""
