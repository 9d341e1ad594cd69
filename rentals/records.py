"""What the service stores about a rental (plain data, no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = ["RentalRecord", "RentalState"]


class RentalState(enum.Enum):
    """``pending``: reserved (serial chosen) before its certificate is signed; a crash
    here leaves a rental the shop sees, revokes, or completes by retrying.
    ``issued``: the bundle is stored."""

    PENDING = "pending"
    ISSUED = "issued"


@dataclass(frozen=True)
class RentalRecord:
    """One rental: its id (= certificate serial), film, node key, window, who made it."""

    rental_id: int
    film_id: str
    node_public_key_pem: str
    not_before: datetime
    not_after: datetime
    shop_key_id: str
    idempotency_key: str | None
    fingerprint: str
    state: RentalState
    created_at: datetime
    bundle: bytes | None = None
    certificate_not_after: datetime | None = None
    revoked_at: datetime | None = None
    revoke_reason: str | None = None

    @property
    def revoked(self) -> bool:
        """True once the shop revoked it."""
        return self.revoked_at is not None
