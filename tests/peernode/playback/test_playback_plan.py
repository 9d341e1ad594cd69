"""The read-ahead planner: what each reader asks of libtorrent, merged over readers (pure)."""

from __future__ import annotations

import pytest

from peernode.container.header import ContainerHeader
from peernode.playback.plan import (
    PieceChanges,
    PieceWishes,
    ReadAheadPolicy,
    ReadPlan,
    ReadRate,
    plan_reads,
)
from peernode.playback.ranges import FilmLayout

SEGMENT = 1024
SEG_PLAIN = SEGMENT - 16
FILM = 500 * SEG_PLAIN  # 500 segments; one piece per segment, piece 0 = header
POLICY = ReadAheadPolicy(
    urgent_bytes=4 * SEG_PLAIN,
    urgent_step_ms=10,
    readahead_s=10.0,
    min_readahead_bytes=8 * SEG_PLAIN,
    max_readahead_bytes=100 * SEG_PLAIN,
    assumed_rate_bps=2 * SEG_PLAIN,
    max_pieces=1000,
)


@pytest.fixture
def layout() -> FilmLayout:
    header = ContainerHeader(film_id="film", plaintext_bytes=FILM, segment_bytes=SEGMENT,
                             nonce_prefix=bytes(7), mime_type="video/mp4")
    return FilmLayout(header, SEGMENT)


def test_urgent_pieces_get_increasing_deadlines_from_zero(layout: FilmLayout) -> None:
    plan = plan_reads(layout, 0, FILM, None, POLICY)
    assert plan.deadlines == {1: 0, 2: 10, 3: 20, 4: 30}


def test_read_ahead_is_boosted_and_sized_from_the_read_rate(layout: FilmLayout) -> None:
    slow = plan_reads(layout, 0, FILM, 0.5 * SEG_PLAIN, POLICY)  # 10 s: below the minimum
    assert slow.boosted == frozenset(range(5, 9))
    fast = plan_reads(layout, 0, FILM, 5.0 * SEG_PLAIN, POLICY)  # 10 s = 50 segments
    assert fast.boosted == frozenset(range(5, 51))
    huge = plan_reads(layout, 0, FILM, 1000.0 * SEG_PLAIN, POLICY)  # capped at the maximum
    assert huge.boosted == frozenset(range(5, 101))
    assert not fast.boosted & fast.deadlines.keys()


def test_before_a_measured_rate_the_assumed_rate_is_used(layout: FilmLayout) -> None:
    assert plan_reads(layout, 0, FILM, None, POLICY) == plan_reads(
        layout, 0, FILM, POLICY.assumed_rate_bps, POLICY
    )


def test_nothing_is_planned_past_what_the_reader_asked_for(layout: FilmLayout) -> None:
    plan = plan_reads(layout, 10 * SEG_PLAIN, 12 * SEG_PLAIN, 1e9, POLICY)
    assert plan.deadlines == {11: 0, 12: 10}
    assert plan.boosted == frozenset()
    assert plan_reads(layout, FILM, FILM + 5, None, POLICY) == ReadPlan()


def test_a_deadline_horizon_extends_the_deadlines_with_the_rate(layout: FilmLayout) -> None:
    policy = ReadAheadPolicy(**{**POLICY.__dict__, "deadline_horizon_s": 2.0})
    plan = plan_reads(layout, 0, FILM, 5.0 * SEG_PLAIN, policy)
    assert sorted(plan.deadlines) == list(range(1, 11))


def test_read_rate_over_a_sliding_window() -> None:
    rate = ReadRate(window_s=4.0)
    assert rate.rate_bps(0.0) is None
    rate.record(0.0, 1000)
    assert rate.rate_bps(0.0) is None
    rate.record(1.0, 1000)
    rate.record(2.0, 1000)
    assert rate.rate_bps(2.0) == pytest.approx(1000.0)
    rate.record(10.0, 500)  # the old samples left the window
    assert rate.rate_bps(10.0) is None
    rate.record(11.0, 2000)
    assert rate.rate_bps(11.0) == pytest.approx(2000.0)


def _plan(deadlines: dict[int, int], boosted: set[int] | None = None) -> ReadPlan:
    return ReadPlan(deadlines, frozenset(boosted or ()))


def test_wishes_are_applied_once() -> None:
    wishes = PieceWishes()
    changes = wishes.want("a", _plan({1: 0, 2: 10}, {3, 4}), now=100.0)
    assert changes == PieceChanges({1: 0, 2: 10}, frozenset(), frozenset({3, 4}), frozenset())
    assert not wishes.want("a", _plan({1: 0, 2: 10}, {3, 4}), now=100.2)
    assert wishes.applied_deadlines == {1: 100.0, 2: 100.01}
    assert wishes.applied_boosts == {3, 4}


def test_a_deadline_only_moves_beyond_the_tolerance() -> None:
    wishes = PieceWishes(tolerance_s=0.5)
    wishes.want("a", _plan({7: 2000}), now=0.0)  # due at 2.0
    assert not wishes.want("a", _plan({7: 1700}), now=0.0)  # due at 1.7: close enough
    assert wishes.want("a", _plan({7: 1000}), now=0.0).set_deadlines == {7: 1000}


def test_a_seek_withdraws_the_old_window_at_once() -> None:
    wishes = PieceWishes()
    wishes.want("a", _plan({1: 0, 2: 10}, {3, 4}), now=0.0)
    changes = wishes.want("a", _plan({400: 0, 401: 10}, {402}), now=1.0)
    assert changes.set_deadlines == {400: 0, 401: 10}
    assert changes.reset_deadlines == {1, 2}
    assert changes.boost == {402}
    assert changes.unboost == {1, 2, 3, 4}  # withdrawn deadlines get their priority back


def test_a_reader_that_leaves_releases_only_what_no_one_else_wants() -> None:
    wishes = PieceWishes()
    wishes.want("a", _plan({1: 0, 2: 10}, {5, 6}), now=0.0)
    wishes.want("b", _plan({2: 0, 3: 10}, {6, 7}), now=0.0)
    changes = wishes.drop("a", now=0.5)
    assert changes.reset_deadlines == {1}
    assert changes.unboost == {1, 5}
    assert changes.set_deadlines == {}
    everything = wishes.drop("b", now=0.6)
    assert everything.reset_deadlines == {2, 3}
    assert everything.unboost == {2, 3, 6, 7}
    assert not wishes.drop("nobody", now=0.7)


def test_the_earliest_deadline_of_any_reader_wins() -> None:
    wishes = PieceWishes()
    wishes.want("far", _plan({9: 5000}), now=0.0)
    assert wishes.want("near", _plan({9: 0}), now=0.0).set_deadlines == {9: 0}
    assert wishes.drop("near", now=0.1).set_deadlines == {9: 4900}


def test_a_withdrawn_deadline_still_in_a_window_is_boosted_again() -> None:
    wishes = PieceWishes()
    wishes.want("a", _plan({3: 0}), now=0.0)
    wishes.want("b", _plan({}, {3}), now=0.0)  # b's window covers the piece
    changes = wishes.drop("a", now=0.1)
    assert changes.reset_deadlines == {3}
    assert changes.boost == {3}
    assert changes.unboost == frozenset()


def test_arrived_pieces_are_forgotten() -> None:
    wishes = PieceWishes()
    wishes.want("a", _plan({1: 0, 2: 10}, {3}), now=0.0)
    wishes.arrived({1, 3})
    changes = wishes.drop("a", now=0.1)
    assert changes.reset_deadlines == {2}
    assert changes.unboost == {2}
