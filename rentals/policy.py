"""Certificate lifetimes and the renewal policy (pure: the time is a parameter).

A rental's certificates are short-lived: each is valid for ``lifetime`` (default
2 h) from its issue, never before the window starts nor after it ends. A node
renews before its certificate expires; a revoked rental, or one whose window has
ended, is refused with the reason. The serial stays the rental id across renewals,
so the CRL's one entry revokes every certificate of a rental and the tracker's
per-rental caps keep holding.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rentals.errors import ForbiddenError
from rentals.records import RentalRecord, RentalState

__all__ = ["DEFAULT_LIFETIME", "ISSUE_SKEW", "certificate_validity", "check_renewal"]

DEFAULT_LIFETIME = timedelta(hours=2)
# A certificate starts this long before its issue (clamped to the window), so that a
# peer whose clock lags a little accepts a certificate renewed a moment ago.
ISSUE_SKEW = timedelta(minutes=5)


def certificate_validity(
    not_before: datetime, not_after: datetime, *, now: datetime, lifetime: timedelta
) -> tuple[datetime, datetime]:
    """The validity of a certificate issued at ``now`` for the window [not_before, not_after).

    It starts at ``now - ISSUE_SKEW`` (or the window's start, if later) and lasts
    ``lifetime`` from ``now`` (from the window's start, if it has not begun), never
    past the window. ``ValueError`` if the window has ended at ``now``.
    """
    if now >= not_after:
        raise ValueError("the rental window has ended")
    start = max(not_before, now - ISSUE_SKEW)
    end = min(not_after, max(now, not_before) + lifetime)
    return start.replace(microsecond=0), end.replace(microsecond=0)


def check_renewal(record: RentalRecord, *, now: datetime) -> None:
    """Refuse (`ForbiddenError` with the reason) a renewal the policy does not allow.

    Reasons: ``revoked`` (with the shop's reason), ``ended`` (the window is over),
    ``not_issued`` (the rental was reserved but never completed).
    """
    if record.revoked:
        raise ForbiddenError(
            "revoked", f"rental {record.rental_id} was revoked: {record.revoke_reason}"
        )
    if now >= record.not_after:
        raise ForbiddenError(
            "ended", f"rental {record.rental_id} ended at {record.not_after.isoformat()}"
        )
    if record.state is not RentalState.ISSUED:
        raise ForbiddenError(
            "not_issued", f"rental {record.rental_id} was never completed: retry its creation"
        )
