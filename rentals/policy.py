"""Certificate lifetimes and the renewal policy (pure: the time is a parameter).

The configured ``lifetime`` L (``cert_lifetime_s``, default 2 h) is the service's
revocation promise: a revoked node gets no byte from any honest peer or origin later
than L after the revocation. Peers read no CRL, so two things share L: each
certificate is valid for `certificate_span` (0.8 L) from its issue, never before the
window starts nor after it ends, and honest nodes end every connection older than
0.2 L (customers a quarter of their certificate's span, the origin its
``--max-connection-age``, which must be at most L/5). A node renews before its
certificate expires; a revoked rental, or one whose window has ended, is refused
with the reason. The serial stays the rental id across renewals,
so the CRL's one entry revokes every certificate of a rental and the tracker's
per-rental caps keep holding.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rentals.errors import ForbiddenError
from rentals.records import RentalRecord, RentalState

__all__ = [
    "DEFAULT_LIFETIME",
    "ISSUE_SKEW",
    "SPAN_FRACTION",
    "certificate_span",
    "certificate_validity",
    "check_renewal",
]

DEFAULT_LIFETIME = timedelta(hours=2)
# The share of the lifetime L a certificate lasts; the rest (0.2 L) is the longest an
# honest node keeps a connection made just before the certificate expired.
SPAN_FRACTION = 0.8
# OpenSSL compares notAfter with the time in whole seconds: a certificate is accepted
# through the second of its notAfter.
_WHOLE_SECOND = timedelta(seconds=1)
# A certificate starts this long before its issue (clamped to the window), so that a
# peer whose clock lags a little accepts a certificate renewed a moment ago.
ISSUE_SKEW = timedelta(minutes=5)


def certificate_span(lifetime: timedelta) -> timedelta:
    """How long after its issue a certificate may be used at a peer, for the configured
    ``lifetime`` L: `SPAN_FRACTION` of it. notAfter is set a second earlier (peers accept
    a certificate through the second of its notAfter), so no handshake passes later than
    this span after the issue."""
    return lifetime * SPAN_FRACTION


def certificate_validity(
    not_before: datetime, not_after: datetime, *, now: datetime, lifetime: timedelta
) -> tuple[datetime, datetime]:
    """The validity of a certificate issued at ``now`` for the window [not_before, not_after).

    ``lifetime`` is the configured L (the revocation promise). The certificate starts at
    ``now - ISSUE_SKEW`` (or the window's start, if later) and is accepted by peers until
    `certificate_span` of L from ``now`` (from the window's start, if it has not begun):
    its notAfter is a second before that, floored to the second. Never past the window.
    ``ValueError`` if the window has ended at ``now``.
    """
    if now >= not_after:
        raise ValueError("the rental window has ended")
    start = max(not_before, now - ISSUE_SKEW)
    end = min(not_after,
              max(now, not_before) + certificate_span(lifetime) - _WHOLE_SECOND)
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
