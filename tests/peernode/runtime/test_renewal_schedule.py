"""When nodes renew, how they back off, and how old their peer connections get (pure:
plain values for the time)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from peernode.runtime.connection_ages import (
    DEFAULT_MAX_CONNECTION_AGE_S,
    ConnectionAges,
    connection_age_limit,
    customer_age_bound,
    cycle_due,
)
from peernode.runtime.renewal import RenewalUnavailableError
from peernode.runtime.renewal_schedule import (
    RenewalBackoff,
    next_attempt,
    renewal_due,
    retry_delay_s,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def test_renewal_is_due_at_two_thirds_of_the_time_held() -> None:
    assert renewal_due(T0, T0 + 2 * H) == T0 + 80 * timedelta(minutes=1)
    # a certificate got late in its life (the node restarted): two thirds of what is left
    assert renewal_due(T0 + 90 * timedelta(minutes=1), T0 + 2 * H) == T0 + 110 * timedelta(
        minutes=1)
    assert renewal_due(T0 + 3 * H, T0 + 2 * H) == T0 + 2 * H


def test_renewals_do_not_crowd_when_not_before_is_backdated() -> None:
    """The service backdates notBefore to the window's start early in a window: scheduling
    from the time held keeps renewals a steady two thirds of a lifetime apart."""
    lifetime, window_start, now = timedelta(seconds=12), T0, T0
    times = []
    for _ in range(6):
        not_after = now + lifetime
        at = next_attempt(held_since=max(window_start, now), not_after=not_after,
                          rental_ends=T0 + H, failures=0, now=now)
        assert at is not None
        times.append(at)
        now = at
    gaps = {round((b - a).total_seconds(), 6) for a, b in itertools.pairwise(times)}
    assert gaps == {8.0}


def test_nothing_to_renew_once_the_certificate_reaches_the_window_end() -> None:
    assert next_attempt(held_since=T0, not_after=T0 + H, rental_ends=T0 + H, failures=0,
                        now=T0) is None
    assert next_attempt(held_since=T0, not_after=T0 + H, rental_ends=T0 + 2 * H, failures=3,
                        now=T0 + 2 * H) is None


def test_a_node_back_from_offline_renews_at_once() -> None:
    at = next_attempt(held_since=T0, not_after=T0 + 2 * H, rental_ends=T0 + 48 * H,
                      failures=0, now=T0 + 24 * H)
    assert at == T0 + 24 * H


def test_backoff_doubles_up_to_a_cap_and_jitter_spreads_it() -> None:
    span = 7200.0
    delays = [retry_delay_s(n, span, jitter=1.0) for n in range(1, 10)]
    assert delays[:4] == [72.0, 144.0, 288.0, 576.0]
    assert max(delays) == 600.0 == delays[-1]  # max_s, and at most a 12th of the span
    assert retry_delay_s(1, span, jitter=0.0) == 36.0
    # a short lifetime (tests: seconds) still backs off, from the floor
    assert retry_delay_s(1, 10.0, jitter=1.0) == RenewalBackoff().min_s
    with pytest.raises(ValueError, match="at least one failure"):
        retry_delay_s(0, span, jitter=0.5)


def test_retries_go_on_past_the_certificate_but_not_past_the_window() -> None:
    after_expiry = next_attempt(held_since=T0, not_after=T0 + 2 * H, rental_ends=T0 + 3 * H,
                                failures=2, now=T0 + 2 * H + timedelta(minutes=1), jitter=1.0)
    assert after_expiry == T0 + 2 * H + timedelta(minutes=1, seconds=144)
    assert next_attempt(held_since=T0, not_after=T0 + 2 * H, rental_ends=T0 + 3 * H,
                        failures=5, now=T0 + 3 * H - timedelta(seconds=10), jitter=1.0) is None


def test_connection_ages_count_from_first_sight_and_forget_what_is_gone() -> None:
    ages = ConnectionAges()
    assert ages.observe([], 0.0) == 0.0
    assert ages.observe(["a", "b"], 1.0) == 0.0
    assert ages.observe(["a", "b"], 4.0) == 3.0
    assert ages.observe(["b", "c"], 6.0) == 5.0  # "a" is gone
    assert ages.observe(["c"], 7.0) == 1.0  # reconnected: a new key, a new age
    assert len(ages) == 1


def test_the_age_limit_is_at_most_a_quarter_of_the_lifetime() -> None:
    # the default is a fifth of the service's default lifetime L = 2 h, whose
    # certificates span 0.8 L: a quarter of that span is the same 0.2 L
    assert DEFAULT_MAX_CONNECTION_AGE_S == 7200.0 / 5
    assert connection_age_limit(DEFAULT_MAX_CONNECTION_AGE_S, 0.8 * 7200.0) == 1440.0
    assert connection_age_limit(1800.0, 7200.0) == 1800.0
    assert connection_age_limit(1800.0, 12.0) == 3.0
    assert connection_age_limit(600.0, None) == 600.0
    assert connection_age_limit(None, 12.0) is None


def test_a_customer_cycles_below_its_limit_so_the_other_end_need_not() -> None:
    assert customer_age_bound(1800.0, 0.0) == 900.0
    assert customer_age_bound(1800.0, 1.0) == 1440.0
    assert 900.0 < customer_age_bound(1800.0, 0.5) < 1440.0


def test_connections_end_at_the_last_look_before_the_bound() -> None:
    # seen first up to one look after it was made, looked at again one look later:
    # a connection seen 1.6 s old may be 1.8 s old now and 2.0 s at the next look
    assert not cycle_due(1.5, 2.0, 0.2)
    assert cycle_due(1.6, 2.0, 0.2)
    assert cycle_due(2.5, 2.0, 0.2)
    assert not cycle_due(1380.0 - 1e-6, 1440.0, 30.0)


def test_a_start_up_renewal_that_found_no_service_retries_with_the_running_backoff() -> None:
    # an expired 96 min certificate (0.8 of 2 h), the window open for a day more
    error = RenewalUnavailableError("down", held_since=T0, not_after=T0 + 96 * MINUTE,
                                    rental_ends=T0 + 24 * H)
    now = T0 + 20 * H
    span_s = 96 * 60.0
    for failures in (1, 2, 5, 30):
        at = error.retry_at(failures, now=now, jitter=1.0)
        assert at == now + timedelta(seconds=retry_delay_s(failures, span_s, jitter=1.0))
    assert error.retry_at(1, now=now, jitter=1.0) == now + timedelta(seconds=57.6)
    assert error.retry_at(30, now=now, jitter=1.0) == now + timedelta(seconds=480)
    assert error.retry_at(1, now=T0 + 24 * H, jitter=0.0) is None  # the window ended
