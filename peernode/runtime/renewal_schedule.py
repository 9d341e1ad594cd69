"""When a node renews its rental certificate, and how it backs off (pure: time is a parameter).

A rental of the rental service holds a short-lived certificate (2 h by default) inside
a longer window. The node renews at about two thirds of the time it holds each
certificate for (`renewal_due`), so a renewal that fails has a third of the lifetime
to succeed before peers refuse the node; a failure is retried with exponential
backoff and jitter (`retry_delay_s`), still while the window lasts. A certificate that
already reaches the window's end needs no renewal (`next_attempt` is None).

"Held since" rather than notBefore: the service backdates notBefore a little (clock
skew) and never before the window starts, so a certificate renewed early in a
window spans more than one lifetime; scheduling from notBefore would then renew
sooner and sooner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "RENEW_AT_FRACTION",
    "RenewalBackoff",
    "RenewalStatus",
    "next_attempt",
    "renewal_due",
    "retry_delay_s",
]

RENEW_AT_FRACTION = 2 / 3


@dataclass(frozen=True)
class RenewalBackoff:
    """Retry delays, as fractions of the certificate's span (``not_after - held_since``),
    bounded in seconds: the first retry after ``first_fraction`` of it (at least
    ``min_s``), doubling up to ``max_fraction`` of it (at most ``max_s``)."""

    first_fraction: float = 1 / 100
    max_fraction: float = 1 / 12
    min_s: float = 0.5
    max_s: float = 600.0


def renewal_due(held_since: datetime, not_after: datetime) -> datetime:
    """When to renew a certificate held since ``held_since`` (the later of its notBefore
    and the moment this node got it) and valid until ``not_after``."""
    if not_after <= held_since:
        return not_after
    return held_since + (not_after - held_since) * RENEW_AT_FRACTION


def retry_delay_s(failures: int, span_s: float, *, jitter: float,
                  backoff: RenewalBackoff = RenewalBackoff()) -> float:
    """Seconds to wait after ``failures`` (>= 1) failed attempts in a row, for a certificate
    spanning ``span_s`` seconds. ``jitter`` in [0, 1) (the caller's randomness) spreads
    nodes that failed together over [1/2, 1] of the delay."""
    if failures < 1:
        raise ValueError("retry_delay_s needs at least one failure")
    first = max(backoff.min_s, min(backoff.max_s, span_s * backoff.first_fraction))
    cap = max(first, min(backoff.max_s, span_s * backoff.max_fraction))
    delay = min(cap, first * 2.0 ** min(failures - 1, 60))
    return delay * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))


def next_attempt(
    *,
    held_since: datetime,
    not_after: datetime,
    rental_ends: datetime,
    failures: int,
    now: datetime,
    jitter: float = 0.0,
    backoff: RenewalBackoff = RenewalBackoff(),
) -> datetime | None:
    """When to try renewing next; None when there is nothing more to renew.

    Nothing to renew: the certificate already reaches the window's end
    (``not_after >= rental_ends``) or the window has ended. With no failure it is
    `renewal_due` (``now`` if that has passed: a node that was offline renews at
    once); after ``failures`` failures, ``now`` plus `retry_delay_s`. Attempts go on
    after the certificate expired (the node stopped sharing, and resumes once a
    renewal succeeds) until the window ends.
    """
    if not_after >= rental_ends or now >= rental_ends:
        return None
    if failures == 0:
        return max(now, renewal_due(held_since, not_after))
    span_s = max(0.0, (not_after - held_since).total_seconds())
    at = now + timedelta(seconds=retry_delay_s(failures, span_s, jitter=jitter,
                                               backoff=backoff))
    return at if at < rental_ends else None


@dataclass(frozen=True)
class RenewalStatus:
    """What a download's renewal is doing, for ``--json``, the daemon API and embedders.

    ``state``: ``scheduled`` (next attempt at ``next_attempt_at``), ``retrying`` (the last
    attempt failed: ``last_error``), ``refused`` (the service said no: ``refused_reason``
    and ``message``; sharing stops when the certificate expires), ``complete`` (the
    certificate reaches the rental's end), ``not_renewable`` (a bundle without a
    service, e.g. from ``peernode ca rent``) or ``stopped`` (the download was removed).
    """

    state: str
    certificate_not_after: datetime
    rental_ends: datetime
    renewals: int = 0
    next_attempt_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    refused_reason: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, object]:
        """The JSON object of ``renewal`` in summaries and views (UTC ISO 8601 times)."""
        return {
            "state": self.state,
            "certificate_not_after": self.certificate_not_after.isoformat(),
            "rental_ends": self.rental_ends.isoformat(),
            "renewals": self.renewals,
            "next_attempt_at": None if self.next_attempt_at is None
            else self.next_attempt_at.isoformat(),
            "failures": self.failures,
            "last_error": self.last_error,
            "refused_reason": self.refused_reason,
            "message": self.message,
        }
