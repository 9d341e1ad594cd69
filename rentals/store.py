"""The rental store's interface: what the service needs of a database.

Two implementations share one schema and one set of versioned migrations
(`rentals.migrations`): SQLite (`rentals.sqlite_store`, the default, one file) and
PostgreSQL (`rentals.postgres_store`, through psycopg 3). Every method is one
transaction; implementations are safe to call from several threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from rentals.records import RentalRecord
from rentals.shop_keys import ShopKeyRecord

__all__ = ["RentalStore"]


class RentalStore(Protocol):
    """Shop keys and rentals, durable once a method returns."""

    def add_shop_key(self, record: ShopKeyRecord) -> None:
        """Store a new key; `FieldError` on ``name`` if a key of that name exists."""

    def shop_key(self, key_id: str) -> ShopKeyRecord | None:
        """The key with this id (revoked or not), or None."""

    def shop_keys(self) -> Sequence[ShopKeyRecord]:
        """Every key, oldest first."""

    def revoke_shop_key(self, name: str, *, now: datetime) -> ShopKeyRecord | None:
        """End the key named ``name`` (idempotent: the first time is kept); None if unknown."""

    def reserve_rental(self, record: RentalRecord) -> tuple[RentalRecord, bool]:
        """Insert a ``pending`` rental; if its (shop key, idempotency key) is taken,
        return the rental stored under it instead. (record, True if inserted)."""

    def complete_rental(
        self, rental_id: int, bundle: bytes, certificate_not_after: datetime
    ) -> RentalRecord:
        """Store the bundle of a ``pending`` rental and mark it ``issued``; the rental
        as stored after (an ``issued`` one keeps its first bundle)."""

    def rental(self, rental_id: int) -> RentalRecord | None:
        """The rental, or None."""

    def rentals(
        self, *, shop_key_id: str | None, limit: int, after: int | None
    ) -> Sequence[RentalRecord]:
        """Rentals in id order (of one shop key, if given), after rental id ``after``
        (compared as text: a stable cursor)."""

    def revoke_rental(self, rental_id: int, *, now: datetime, reason: str) -> RentalRecord | None:
        """Mark the rental revoked (idempotent: the first time and reason are kept)."""

    def revoked_rentals(self) -> Mapping[int, datetime]:
        """Every revoked rental id and when it was revoked (for the CRL)."""

    def count_rentals(self) -> int:
        """How many rentals are stored (health, tests)."""

    def close(self) -> None:
        """Release the connection."""
