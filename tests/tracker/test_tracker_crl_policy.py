"""The tracker's CRL guard: no rollback to an older CRL, and fail closed past the grace."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from certs.authority import CA
from tracker.crl_policy import CrlFreshness, CrlGuard, CrlRollback, snapshot_of

HOUR = timedelta(hours=1)


def test_an_older_validly_signed_crl_cannot_make_the_tracker_forget(ca: CA, t0: datetime) -> None:
    guard = CrlGuard(grace=HOUR)
    old = snapshot_of(ca.sign_crl({}, now=t0, crl_number=1))
    new = snapshot_of(ca.sign_crl({77: t0 + HOUR}, now=t0 + HOUR, crl_number=2))
    assert guard.accept(old) == frozenset()
    assert guard.accept(new) == {77}
    with pytest.raises(CrlRollback, match="older CRL"):
        guard.accept(old)  # put back by an attacker (or a restore from backup)
    assert guard.current == new  # the revocation of 77 is kept
    assert guard.accept(new) == {77}  # the same CRL again is fine (reloads, SIGHUP)


def test_same_number_signed_later_is_newer(ca: CA, t0: datetime) -> None:
    guard = CrlGuard(grace=HOUR)
    first = snapshot_of(ca.sign_crl({}, now=t0, crl_number=5))
    resigned = snapshot_of(ca.sign_crl({}, now=t0 + HOUR, crl_number=5))
    guard.accept(first)
    guard.accept(resigned)
    with pytest.raises(CrlRollback):
        guard.accept(first)


def test_freshness_over_time(ca: CA, t0: datetime) -> None:
    guard = CrlGuard(grace=2 * HOUR)
    assert guard.freshness(t0) is CrlFreshness.MISSING
    guard.accept(snapshot_of(ca.sign_crl({}, now=t0, next_update_hours=24)))
    next_update = t0 + 24 * HOUR
    assert guard.freshness(next_update - timedelta(seconds=1)) is CrlFreshness.FRESH
    assert guard.seconds_past_next_update(next_update - HOUR) == 0
    assert guard.freshness(next_update) is CrlFreshness.STALE
    assert guard.seconds_past_next_update(next_update + HOUR) == 3600
    assert guard.freshness(next_update + 2 * HOUR - timedelta(seconds=1)) is CrlFreshness.STALE
    assert guard.freshness(next_update + 2 * HOUR) is CrlFreshness.EXPIRED


def test_a_negative_grace_is_refused() -> None:
    with pytest.raises(ValueError, match="grace"):
        CrlGuard(grace=-HOUR)
