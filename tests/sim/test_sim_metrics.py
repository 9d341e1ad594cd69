"""The figures' formulas on hand-computed cases."""

from __future__ import annotations

import pytest

from sim import (
    cdn_egress_saved_gb,
    kumar_ross_t_min,
    offload,
    offload_limit,
    origin_copies,
    percentile,
)

F = 64 * 1024 * 1024  # 67,108,864 bytes


def test_t_min_flash_crowd_is_bound_by_the_origin_and_the_downloads() -> None:
    # F/u_s = F/d_min = 67108864 / 4e6 = 16.777216 s; N·F/(u_s + Σu) = 20F/84e6 = 15.978 s.
    t = kumar_ross_t_min(F, 4_000_000, [4_000_000] * 20, [4_000_000] * 20)
    assert t == pytest.approx(16.777216)


def test_t_min_asymmetric_is_bound_by_the_swarm_s_upload() -> None:
    # 20 · 67108864 / (4e6 + 20 · 1e6) = 1342177280 / 24e6 = 55.924053 s.
    t = kumar_ross_t_min(F, 4_000_000, [4_000_000] * 20, [1_000_000] * 20)
    assert t == pytest.approx(55.924053, rel=1e-6)


def test_t_min_slowest_download_bound() -> None:
    # d_min = 1e6 → 1000 s; the origin alone needs 100 s; the swarm 3·1e8/(1e6+3e6) = 75 s.
    t = kumar_ross_t_min(100_000_000, 1_000_000, [1_000_000, 5_000_000, 5_000_000],
                         [1_000_000] * 3)
    assert t == pytest.approx(100.0)
    t = kumar_ross_t_min(100_000_000, 2_000_000, [100_000, 5_000_000], [1_000_000] * 2)
    assert t == pytest.approx(1000.0)


def test_t_min_unlimited_rates_drop_out() -> None:
    # Unlimited origin: only the downloads bound: 8e6 / 2e6 = 4 s.
    assert kumar_ross_t_min(8_000_000, 0, [2_000_000, 4_000_000], [0, 0]) == pytest.approx(4.0)
    assert kumar_ross_t_min(8_000_000, 0, [0], [0]) == 0.0


def test_t_min_refuses_mismatched_rates() -> None:
    with pytest.raises(ValueError, match="one download and one upload rate"):
        kumar_ross_t_min(1, 1, [1, 2], [1])
    with pytest.raises(ValueError, match="at least one client"):
        kumar_ross_t_min(1, 1, [], [])


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 95) == pytest.approx(3.85)  # rank 2.85: 3 + 0.85 · (4 - 3)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        percentile(values, 101)


def test_offload_and_its_limit() -> None:
    # 20 clients each received F; the origin sent 1.2 F: offload = 1 - 1.2/20 = 0.94.
    assert offload(int(1.2 * F), 20 * F) == pytest.approx(0.94)
    assert offload_limit(20) == pytest.approx(0.95)
    assert origin_copies(int(1.2 * F), F) == pytest.approx(1.2)
    assert offload(0, 0) == 0.0
    assert offload_limit(0) == 0.0
    assert origin_copies(5, 0) == 0.0


def test_cdn_egress_saved_for_a_thousand_rentals() -> None:
    # 1,000 rentals of 2 GB at 90 % offload: 1800 GB the CDN does not send.
    assert cdn_egress_saved_gb(2_000_000_000, 0.9) == pytest.approx(1800.0)
    assert cdn_egress_saved_gb(2_000_000_000, 0.9, rentals=10) == pytest.approx(18.0)
