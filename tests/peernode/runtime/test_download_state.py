"""The download reducer (pure): sequences of events at given times -> expected stats.

Times are plain numbers (seconds on the shell's clock); every expected figure
is computed by hand in the comment next to it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peernode.runtime.download_state import (
    REDUCED_EVENTS,
    DownloadEvent,
    DownloadState,
    DownloadStats,
    RentalEnded,
    SavedCounters,
    StatusPolled,
    TorrentStatus,
    download_stats,
    initial_state,
    reduce,
    rental_over,
    saved_counters,
    seconds_until_rental_ends,
)
from peernode.runtime.offload import OffloadCounter, PeerBytes, PeerSample, PeersSampled
from peernode.runtime.torrent_events import (
    FileFailed,
    HashFailed,
    PeerBanned,
    PieceVerified,
    TorrentFailed,
    TorrentFinished,
    TrackerReplied,
)

FILM = "film"
TOTAL = 1_000_000
NOT_AFTER = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _status(**fields: object) -> TorrentStatus:
    base = TorrentStatus(state="downloading", paused=False, is_seeding=False, progress=0.0,
                         done_bytes=0, download_rate_bps=0, upload_rate_bps=0, peers=0,
                         uploaded_bytes=0, downloaded_bytes=0)
    return replace(base, **fields)  # type: ignore[arg-type]


def _run(state: DownloadState, *timed: tuple[float, DownloadEvent]) -> DownloadState:
    for now, event in timed:
        state = reduce(state, event, now)
    return state


def _stats(state: DownloadState, now: float, origin: int = 0, peers: int = 0) -> DownloadStats:
    return download_stats(state, now, bytes_from_origin=origin, bytes_from_peers=peers)


def test_a_download_in_progress_reports_rates_elapsed_time_and_eta() -> None:
    state = initial_state(FILM, TOTAL, NOT_AFTER, now=100.0)
    state = _run(state, (110.0, StatusPolled(_status(
        progress=0.25, done_bytes=250_000, download_rate_bps=50_000, upload_rate_bps=7_000,
        peers=3, uploaded_bytes=4_000, downloaded_bytes=260_000))))
    stats = _stats(state, 110.0, origin=200_000, peers=50_000)
    assert stats == DownloadStats(
        film_id=FILM, state="downloading", progress=0.25, total_bytes=TOTAL, done_bytes=250_000,
        download_rate_bps=50_000, upload_rate_bps=7_000, peers=3, bytes_from_origin=200_000,
        bytes_from_peers=50_000, bytes_uploaded=4_000, bytes_downloaded_session=260_000,
        hash_failures=0, seconds=10.0, complete=False, rental_not_after=NOT_AFTER)
    assert stats.eta_s == 15.0  # (1_000_000 - 250_000) B / 50_000 B/s
    # Stats are read at any time; elapsed time runs on while downloading.
    assert _stats(state, 125.5).seconds == 25.5


def test_no_rate_means_no_eta() -> None:
    state = reduce(initial_state(FILM, TOTAL, NOT_AFTER, 0.0), StatusPolled(_status()), 1.0)
    assert _stats(state, 1.0).eta_s is None


def test_finishing_freezes_the_elapsed_time_and_fills_progress() -> None:
    state = _run(initial_state(FILM, TOTAL, NOT_AFTER, now=100.0),
                 (110.0, StatusPolled(_status(progress=0.9, done_bytes=900_000))),
                 (130.0, TorrentFinished(FILM)),
                 (131.0, TorrentFinished(FILM)))  # a second alert changes nothing
    stats = _stats(state, 500.0)
    assert stats.complete
    assert stats.seconds == 30.0  # finished at 130 - started at 100
    assert (stats.progress, stats.done_bytes, stats.eta_s) == (1.0, TOTAL, 0.0)
    # libtorrent still says "downloading" until its next status: the name follows the status.
    assert stats.state == "downloading"
    state = reduce(state, StatusPolled(_status(state="seeding", is_seeding=True)), 140.0)
    assert _stats(state, 140.0).state == "seeding"
    assert state.finished_at == 130.0


def test_a_torrent_resumed_complete_finishes_on_its_first_seeding_status() -> None:
    state = initial_state(FILM, TOTAL, NOT_AFTER, now=0.0)
    state = reduce(state, StatusPolled(_status(state="checking")), 1.0)
    assert not state.finished
    state = reduce(state, StatusPolled(_status(state="seeding", is_seeding=True,
                                               progress=1.0, done_bytes=TOTAL)), 3.0)
    assert state.finished
    assert _stats(state, 9.0).seconds == 3.0


def test_counters_of_earlier_runs_add_up() -> None:
    saved = SavedCounters(bytes_from_origin=10, bytes_from_peers=20, bytes_uploaded=1_000,
                          seconds=40.0)
    state = initial_state(FILM, TOTAL, NOT_AFTER, now=7.0, saved=saved)
    state = reduce(state, StatusPolled(_status(uploaded_bytes=500)), 12.0)
    stats = _stats(state, 12.0, origin=10, peers=20)
    assert stats.bytes_uploaded == 1_500  # 1_000 before + 500 this run
    assert stats.seconds == 45.0  # 40 s before + (12 - 7) s this run
    assert saved_counters(state, 12.0, bytes_from_origin=11, bytes_from_peers=22) == \
        SavedCounters(11, 22, 1_500, 45.0)


def test_saved_counters_round_trip_and_refuse_damage() -> None:
    counters = SavedCounters(1, 2, 3, 4.5)
    assert SavedCounters.from_record(counters.to_record()) == counters
    for damaged in ({}, {"origin": "x", "peers": 0, "uploaded": 0, "seconds": 0}):
        with pytest.raises((KeyError, ValueError)):
            SavedCounters.from_record(damaged)


def test_paused_incomplete_is_paused_paused_complete_is_not() -> None:
    state = initial_state(FILM, TOTAL, NOT_AFTER, 0.0)
    assert _stats(reduce(state, StatusPolled(_status(paused=True)), 1.0), 1.0).state == "paused"
    done = reduce(state, TorrentFinished(FILM), 1.0)
    paused_done = reduce(done, StatusPolled(_status(state="seeding", paused=True)), 2.0)
    assert _stats(paused_done, 2.0).state == "seeding"


def test_a_gone_handle_is_stopped_and_keeps_the_earlier_uploads() -> None:
    state = initial_state(FILM, TOTAL, NOT_AFTER, 0.0, SavedCounters(bytes_uploaded=99))
    state = _run(state, (1.0, StatusPolled(_status(uploaded_bytes=5, download_rate_bps=9))),
                 (2.0, StatusPolled(None)))
    stats = _stats(state, 2.0)
    assert (stats.state, stats.bytes_uploaded, stats.download_rate_bps, stats.peers) == \
        ("stopped", 99, 0, 0)
    assert _stats(initial_state(FILM, TOTAL, NOT_AFTER, 0.0), 0.0).state == "stopped"


@pytest.mark.parametrize("failure", [FileFailed(FILM, "film: No space left on device"),
                                     TorrentFailed(FILM, "torrent error")])
def test_disk_and_torrent_errors_are_kept(failure: FileFailed | TorrentFailed) -> None:
    state = _run(initial_state(FILM, TOTAL, NOT_AFTER, 0.0),
                 (1.0, StatusPolled(_status())), (2.0, failure), (3.0, StatusPolled(_status())))
    stats = _stats(state, 3.0)
    assert (stats.state, stats.error) == ("error", failure.message)


def test_a_status_error_is_reported_without_an_alert() -> None:
    state = reduce(initial_state(FILM, TOTAL, NOT_AFTER, 0.0),
                   StatusPolled(_status(error="file too short")), 1.0)
    assert (_stats(state, 1.0).state, _stats(state, 1.0).error) == ("error", "file too short")


def test_hash_failures_are_counted() -> None:
    state = _run(initial_state(FILM, TOTAL, NOT_AFTER, 0.0),
                 (1.0, HashFailed(FILM, 3)), (2.0, HashFailed(FILM, 3)))
    assert _stats(state, 2.0).hash_failures == 2


def test_the_end_of_the_rental_wins_over_everything() -> None:
    state = _run(initial_state(FILM, TOTAL, NOT_AFTER, 0.0),
                 (1.0, FileFailed(FILM, "disk full")), (2.0, RentalEnded()),
                 (3.0, StatusPolled(_status(paused=True))))
    assert _stats(state, 3.0).state == "expired"
    assert reduce(state, RentalEnded(), 4.0) is state


def test_the_rental_window_by_the_wall_clock() -> None:
    state = initial_state(FILM, TOTAL, NOT_AFTER, 0.0)
    before = NOT_AFTER - timedelta(minutes=10)
    assert not rental_over(state, before)
    assert seconds_until_rental_ends(state, before) == 600.0
    assert rental_over(state, NOT_AFTER)  # notAfter itself is outside the window
    assert seconds_until_rental_ends(state, NOT_AFTER + timedelta(seconds=5)) == -5.0
    assert rental_over(reduce(state, RentalEnded(), 1.0), before)


def test_events_that_do_not_change_the_state_return_it_unchanged() -> None:
    state = initial_state(FILM, TOTAL, NOT_AFTER, 0.0)
    for event in (PieceVerified(FILM, 0),
                  TrackerReplied(FILM, 4), PeerBanned(FILM, "127.0.0.9:1")):
        assert type(event) not in REDUCED_EVENTS
        assert reduce(state, event, 5.0) is state


def test_reduce_never_changes_the_state_it_is_given() -> None:
    state = initial_state(FILM, TOTAL, NOT_AFTER, 0.0)
    after = _run(state, (1.0, TorrentFinished(FILM)), (2.0, HashFailed(FILM, 1)),
                 (3.0, RentalEnded()))
    assert state == initial_state(FILM, TOTAL, NOT_AFTER, 0.0)
    assert (after.finished_at, after.hash_failures, after.expired) == (1.0, 1, True)


def test_offload_is_counted_alongside_and_shown_per_peer_in_the_summary() -> None:
    """An origin sent 300 bytes, a peer 100; 50 more came from someone who left unsampled."""
    offload = OffloadCounter()
    state = initial_state(FILM, 400, NOT_AFTER, 0.0)
    origin = PeerSample("10.0.0.1:6881", "10.0.0.9:1", "10.0.0.1", True, 300)
    peer = PeerSample("[2001:db8::2]:6881", "[2001:db8::9]:2", "2001:db8::2", False, 100)
    offload.on_sample(PeersSampled(FILM, (origin, peer), 450))
    state = _run(state, (1.0, PieceVerified(FILM, 0)), (2.0, TorrentFinished(FILM)))
    stats = download_stats(state, 3.0, bytes_from_origin=offload.bytes_from_origin,
                           bytes_from_peers=offload.bytes_from_peers,
                           bytes_unattributed=offload.bytes_unattributed,
                           received_by_peer=offload.received_by_peer())
    assert (stats.bytes_from_origin, stats.bytes_from_peers) == (350, 100)
    assert stats.received_by_peer == (PeerBytes("10.0.0.1", 300, True),
                                      PeerBytes("2001:db8::2", 100, False))
    summary = stats.summary()
    assert summary["bytes_unattributed"] == 50
    assert summary["received_by_peer"] == [
        {"address": "10.0.0.1", "bytes": 300, "origin": True},
        {"address": "2001:db8::2", "bytes": 100, "origin": False},
    ]
    assert (stats.complete, stats.seconds) == (True, 2.0)


_EVENTS = st.one_of(
    st.builds(StatusPolled, st.none() | st.builds(
        _status, is_seeding=st.booleans(), paused=st.booleans(),
        progress=st.floats(0, 1), done_bytes=st.integers(0, TOTAL),
        download_rate_bps=st.integers(0, 10**6), uploaded_bytes=st.integers(0, 10**6))),
    st.just(TorrentFinished(FILM)), st.just(HashFailed(FILM, 0)), st.just(RentalEnded()),
    st.just(FileFailed(FILM, "disk full")), st.just(TrackerReplied(FILM, 1)),
)


@given(st.lists(st.tuples(st.floats(0, 100), _EVENTS), max_size=30))
def test_any_history_keeps_time_and_completion_consistent(
    steps: list[tuple[float, DownloadEvent]],
) -> None:
    """Whatever happens: elapsed time never goes back, a finish is final and dated once."""
    now, state = 0.0, initial_state(FILM, TOTAL, NOT_AFTER, 0.0)
    first_finish: float | None = None
    last_seconds = 0.0
    for gap, event in steps:
        now += gap
        state = reduce(state, event, now)
        if state.finished and first_finish is None:
            first_finish = now
        stats = _stats(state, now)
        assert stats.seconds >= last_seconds
        last_seconds = stats.seconds
        assert state.finished_at == first_finish
        assert stats.complete == (first_finish is not None)
        if stats.complete:
            assert (stats.progress, stats.done_bytes, stats.eta_s) == (1.0, TOTAL, 0.0)
        if state.expired:
            assert stats.state == "expired"
