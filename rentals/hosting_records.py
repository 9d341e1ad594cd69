"""What the service stores about a hosting (plain data, no I/O).

A hosting is a rental's twin for pre-positioning: an opted-in node may carry a film's
ciphertext during a window (from placement until some days after release). Its id is
the serial of every certificate issued for it, so that one CRL entry revokes them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rentals.records import RentalState

__all__ = ["HostingRecord"]


@dataclass(frozen=True)
class HostingRecord:
    """One hosting: its id (= certificate serial), film, node key, window, who made it.

    ``state`` follows a rental's: ``pending`` (serial reserved, certificate not yet
    stored) then ``issued``. ``credential`` is the first certificate, as PEM.
    """

    hosting_id: int
    film_id: str
    node_public_key_pem: str
    not_before: datetime
    not_after: datetime
    shop_key_id: str
    idempotency_key: str | None
    fingerprint: str
    state: RentalState
    created_at: datetime
    credential: bytes | None = None
    certificate_not_after: datetime | None = None
    revoked_at: datetime | None = None
    revoke_reason: str | None = None

    @property
    def revoked(self) -> bool:
        """True once the operator revoked it."""
        return self.revoked_at is not None
