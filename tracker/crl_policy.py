"""Which CRL the tracker believes, and when it stops believing one (pure; time is a parameter).

Two attacks and one accident this guards against:

- **Rollback.** An older CRL, validly signed by the CA, put back in place of the current
  one would make the tracker forget every revocation since. The guard keeps a high-water
  mark (CRL number, then thisUpdate) and refuses any CRL below it.
- **Staleness.** A CRL past its nextUpdate still lists what it listed, but revocations
  made since are missing. Past nextUpdate the tracker warns (and its metrics say so);
  past nextUpdate + grace it fails closed: it admits nobody until a fresh CRL arrives.
- **No CRL at all** is an operator's explicit choice (``--no-crl``), never a default.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from tracker.errors import CrlError

__all__ = ["CrlFreshness", "CrlGuard", "CrlRollback", "CrlSnapshot", "snapshot_of"]


@dataclass(frozen=True)
class CrlSnapshot:
    """What the tracker needs of one verified CRL."""

    number: int
    """The CRLNumber extension (0 if absent); the CA increments it on every re-signing."""
    this_update: datetime
    next_update: datetime | None
    revoked: frozenset[int]

    @property
    def mark(self) -> tuple[int, datetime]:
        """Order of CRLs: a higher number, or the same number signed later, is newer."""
        return (self.number, self.this_update)


def snapshot_of(crl: x509.CertificateRevocationList) -> CrlSnapshot:
    """The snapshot of an already verified CRL."""
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        number = 0
    return CrlSnapshot(
        number=number,
        this_update=crl.last_update_utc,
        next_update=crl.next_update_utc,
        revoked=frozenset(entry.serial_number for entry in crl),
    )


class CrlRollback(CrlError):
    """A CRL older than one already accepted (its revocations would be forgotten)."""


class CrlFreshness(enum.Enum):
    """How far the current CRL is from its nextUpdate."""

    FRESH = "fresh"
    STALE = "stale"  # past nextUpdate, within the grace: used, with a warning
    EXPIRED = "expired"  # past nextUpdate + grace: the tracker admits nobody
    MISSING = "missing"  # no CRL accepted yet


class CrlGuard:
    """The high-water mark and staleness of the CRLs a tracker has accepted.

    ``accept`` raises `CrlRollback` for a CRL below the mark, so the caller keeps the
    revocations it had. ``freshness(now)`` tells how much to trust the current one.
    """

    def __init__(self, *, grace: timedelta) -> None:
        if grace < timedelta(0):
            raise ValueError("the CRL grace period must not be negative")
        self.grace = grace
        self.current: CrlSnapshot | None = None

    def accept(self, snapshot: CrlSnapshot) -> frozenset[int]:
        """Take ``snapshot`` as the current CRL and return its revoked serials.

        The same CRL again (same mark) is accepted; an older one raises `CrlRollback`.
        """
        if self.current is not None and snapshot.mark < self.current.mark:
            raise CrlRollback(
                f"refusing an older CRL (number {snapshot.number}, "
                f"{snapshot.this_update.isoformat()}) than the one in use (number "
                f"{self.current.number}, {self.current.this_update.isoformat()}): "
                "its revocations would be forgotten"
            )
        self.current = snapshot
        return snapshot.revoked

    def freshness(self, now: datetime) -> CrlFreshness:
        """FRESH before nextUpdate, STALE within the grace after it, EXPIRED past that."""
        if self.current is None:
            return CrlFreshness.MISSING
        next_update = self.current.next_update
        if next_update is None or now < next_update:
            return CrlFreshness.FRESH
        if now < next_update + self.grace:
            return CrlFreshness.STALE
        return CrlFreshness.EXPIRED

    def seconds_past_next_update(self, now: datetime) -> float:
        """How long the current CRL is past its nextUpdate (0 when fresh or missing)."""
        if self.current is None or self.current.next_update is None:
            return 0.0
        return max(0.0, (now - self.current.next_update).total_seconds())
