"""Client outcomes and the swarm's figures on hand-computed cases."""

from __future__ import annotations

import pytest

from sim import ClientOutcome, ClientPlan, Fate, StatusSample, client_outcome, swarm_figures
from sim.analysis.outcomes import completion_seconds, startup_seconds

MB = 1_000_000


def sample(t: float, seconds: float, progress: float, origin: int = 0, peers: int = 0,
           uploaded: int = 0) -> StatusSample:
    return StatusSample(t_unix=t, seconds=seconds, progress=progress, complete=progress >= 1,
                        bytes_from_origin=origin, bytes_from_peers=peers,
                        bytes_uploaded=uploaded)


def outcome(name: str, fate: Fate, completion: float | None, origin: int, peers: int,
            down: int = 4 * MB, up: int = 4 * MB, startup: float = 1.0) -> ClientOutcome:
    return ClientOutcome(name=name, address="127.1.0.1", link="fixed", download_bps=down,
                         upload_bps=up, arrival_s=0.0, fate=fate, startup_s=startup,
                         completion_s=completion,
                         completion_from_arrival_s=None if completion is None
                         else completion + startup,
                         bytes_from_origin=origin, bytes_from_peers=peers, bytes_uploaded=0)


PLAN = ClientPlan(number=1, address="127.1.0.1", arrival_s=0.5, link="fixed",
                  download_bps=4 * MB, upload_bps=MB, seed_after_completion_s=0.0)


def test_completion_is_the_node_s_download_time_and_startup_is_apart() -> None:
    # Process started at 100; the download began at 102.5 (t - seconds); done after 7.25 s.
    samples = [sample(103.0, 0.5, 0.0), sample(104.0, 1.5, 0.3), sample(110.0, 7.25, 1.0)]
    assert completion_seconds(samples) == 7.25
    assert startup_seconds(samples, 100.0) == pytest.approx(2.5)
    assert completion_seconds(samples[:2]) is None
    assert startup_seconds([], 100.0) is None


def test_outcome_takes_counters_from_the_summary_over_the_last_sample() -> None:
    samples = [sample(1.0, 0.1, 0.2, origin=5, peers=6, uploaded=7),
               sample(2.0, 1.0, 1.0, origin=10, peers=20, uploaded=30)]
    summary = {"bytes_from_origin": 10, "bytes_from_peers": 20, "bytes_uploaded": 99}
    o = client_outcome(PLAN, Fate.COMPLETE, samples, summary, started_unix=0.5)
    assert (o.bytes_from_origin, o.bytes_from_peers, o.bytes_uploaded) == (10, 20, 99)
    assert o.completion_s == 1.0
    assert o.startup_s == pytest.approx(0.4)
    assert (o.name, o.link, o.arrival_s, o.download_bps) == ("client-1", "fixed", 0.5, 4 * MB)


def test_an_incomplete_client_has_no_completion_and_falls_back_to_its_samples() -> None:
    samples = [sample(1.0, 0.1, 0.4, origin=5, peers=6, uploaded=7)]
    o = client_outcome(PLAN, Fate.KILLED, samples, None, started_unix=0.5)
    assert o.completion_s is None
    assert (o.bytes_from_origin, o.bytes_from_peers, o.bytes_uploaded) == (5, 6, 7)
    never = client_outcome(PLAN, Fate.NOT_STARTED, [], None, started_unix=None)
    assert (never.bytes_from_origin, never.startup_s, never.completion_s) == (0, None, None)


def test_swarm_figures_by_hand() -> None:
    # F = 10 MB, origin 4 MB/s, 4 clients at 4 MB/s both ways:
    # T_min = max(10/4, 10/4, 4·10/(4+16)) = 2.5 s.
    # Origin sent 10 + 2 + 2 + 1 = 15 MB (1.5 copies) of 40 MB delivered: offload 62.5 %.
    f = 10 * MB
    outcomes = [
        outcome("client-1", Fate.COMPLETE, 5.0, 10 * MB, 0),
        outcome("client-2", Fate.COMPLETE, 6.0, 2 * MB, 8 * MB),
        outcome("client-3", Fate.COMPLETE, 7.0, 2 * MB, 8 * MB),
        outcome("client-4", Fate.COMPLETE, 10.0, 1 * MB, 9 * MB),
    ]
    fig = swarm_figures(outcomes, f, 4 * MB)
    assert fig.t_min_s == pytest.approx(2.5)
    assert (fig.clients, fig.completed) == (4, 4)
    assert (fig.origin_bytes, fig.peer_bytes, fig.delivered_bytes) == (15 * MB, 25 * MB, 40 * MB)
    assert fig.origin_copies == pytest.approx(1.5)
    assert fig.offload == pytest.approx(0.625)
    assert fig.offload_limit == pytest.approx(0.75)
    assert fig.completion_p50_s == pytest.approx(6.5)
    assert fig.completion_p95_s == pytest.approx(9.55)  # rank 2.85: 7 + 0.85 · (10 - 7)
    assert fig.p50_over_t_min == pytest.approx(2.6)
    assert fig.p95_over_t_min == pytest.approx(3.82)
    assert fig.cdn_egress_saved_gb == pytest.approx(1000 * 10e6 * 0.625 / 1e9)  # 6.25 GB
    assert fig.to_json()["rentals"] == 1000


def test_churned_and_killed_clients_count_bytes_but_not_in_n() -> None:
    # Two clients meant to complete (one timed out) and one churner: N = 2 for the
    # limit and T_min = max(10/4, 10/4, 2·10/(4+8)) = 2.5 s; the churner's bytes count.
    f = 10 * MB
    outcomes = [
        outcome("client-1", Fate.COMPLETE, 4.0, 10 * MB, 0),
        outcome("client-2", Fate.TIMEOUT, None, 0, 5 * MB),
        outcome("client-3", Fate.QUIT, None, 1 * MB, 2 * MB),
    ]
    fig = swarm_figures(outcomes, f, 4 * MB)
    assert (fig.clients, fig.completed) == (2, 1)
    assert fig.offload_limit == pytest.approx(0.5)
    assert fig.delivered_bytes == 18 * MB
    assert fig.t_min_s == pytest.approx(2.5)
    assert fig.completion_p50_s == 4.0
    # one of the two meant to finish did not: it is counted, so the p95 is not reached
    assert fig.completion_p95_s is None
    assert fig.incomplete_clients == 1


def test_no_completion_gives_no_percentiles() -> None:
    fig = swarm_figures([outcome("client-1", Fate.FAILED, None, 0, 0)], MB, MB)
    assert fig.completion_p50_s is None
    assert fig.p95_over_t_min is None
    assert fig.offload == 0.0
    with pytest.raises(ValueError, match="no clients"):
        swarm_figures([], MB, MB)


def test_completion_from_arrival_counts_start_up_and_lag() -> None:
    # arrived (scenario) at 99.0, process started at 100.0, download began at 102.5,
    # last byte at 110.0: 11 s from arrival, 7.25 s from download start
    samples = [sample(103.0, 0.5, 0.0), sample(110.0, 7.25, 1.0)]
    o = client_outcome(PLAN, Fate.COMPLETE, samples, None, started_unix=100.0,
                       arrival_unix=99.0)
    assert o.completion_s == 7.25
    assert o.completion_from_arrival_s == pytest.approx(11.0)
    assert o.startup_s == pytest.approx(2.5)
    # without the scenario's arrival time, the process start stands in
    fallback = client_outcome(PLAN, Fate.COMPLETE, samples, None, started_unix=100.0)
    assert fallback.completion_from_arrival_s == pytest.approx(10.0)


def test_a_client_that_timed_out_is_counted_and_moves_the_p95() -> None:
    finished = [outcome(f"client-{i}", Fate.COMPLETE, 10.0 + i, MB, 9 * MB) for i in range(19)]
    one_late = [outcome("client-19", Fate.TIMEOUT, None, MB, 2 * MB)]
    fig = swarm_figures(finished + one_late, 10 * MB, 4 * MB)
    assert (fig.clients, fig.completed, fig.incomplete_clients) == (20, 19, 1)
    # 1 of 20 (5 %) did not finish: the nearest-rank p95 is the 19th time, the slowest finisher
    assert fig.completion_p95_s == 28.0
    assert fig.completion_p95_from_arrival_s == 29.0
    two_late = [*one_late, outcome("client-20", Fate.FAILED, None, 0, 0)]
    fig = swarm_figures(finished + two_late, 10 * MB, 4 * MB)
    assert fig.incomplete_clients == 2
    assert fig.completion_p95_s is None  # more than 5 % did not finish: not reached
    assert fig.p95_from_arrival_over_t_min is None
    assert fig.completion_p50_s == 20.0  # rank ceil(0.5 · 21) = 11: the 11th time, 10 + 10


def test_measured_origin_bytes_win_and_the_attribution_gap_is_shown() -> None:
    f = 10 * MB
    outcomes = [outcome("client-1", Fate.COMPLETE, 5.0, 10 * MB, 0),
                outcome("client-2", Fate.COMPLETE, 6.0, 1 * MB, 9 * MB)]
    fig = swarm_figures(outcomes, f, 4 * MB, origin_bytes_measured=10_500_000)
    assert fig.origin_copies_attributed == pytest.approx(1.1)
    assert fig.origin_copies_measured == pytest.approx(1.05)
    assert fig.origin_copies == pytest.approx(1.05)  # the headline is the measured one
    assert fig.offload_measured == pytest.approx(1 - 10.5 / 20)
    assert fig.offload == fig.offload_measured
    assert fig.attribution_gap == pytest.approx((11 - 10.5) / 10.5)
    assert fig.cdn_egress_saved_gb == pytest.approx(1000 * f * (1 - 10.5 / 20) / 1e9)
    unmeasured = swarm_figures(outcomes, f, 4 * MB)
    assert unmeasured.origin_bytes_measured is None
    assert unmeasured.attribution_gap is None
    assert unmeasured.offload == pytest.approx(1 - 11 / 20)
