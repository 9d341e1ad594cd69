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
            down: int = 4 * MB, up: int = 4 * MB) -> ClientOutcome:
    return ClientOutcome(name=name, address="127.1.0.1", link="fixed", download_bps=down,
                         upload_bps=up, arrival_s=0.0, fate=fate, startup_s=1.0,
                         completion_s=completion, bytes_from_origin=origin,
                         bytes_from_peers=peers, bytes_uploaded=0)


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
    assert fig.completion_p50_s == fig.completion_p95_s == 4.0


def test_no_completion_gives_no_percentiles() -> None:
    fig = swarm_figures([outcome("client-1", Fate.FAILED, None, 0, 0)], MB, MB)
    assert fig.completion_p50_s is None
    assert fig.p95_over_t_min is None
    assert fig.offload == 0.0
    with pytest.raises(ValueError, match="no clients"):
        swarm_figures([], MB, MB)
