"""Status-log parsing and the swarm's throughput per second."""

from __future__ import annotations

import json

import pytest

from sim import StatusSample, ThroughputPoint, parse_status_log, swarm_throughput


def line(t: float, origin: int, peers: int, *, progress: float = 0.5) -> str:
    return json.dumps({"t": t, "film_id": "f", "complete": progress >= 1, "seconds": t - 100,
                       "bytes_from_origin": origin, "bytes_from_peers": peers,
                       "bytes_uploaded": 0, "progress": progress})


def test_parse_skips_torn_and_foreign_lines() -> None:
    lines = [line(101.0, 1, 2), "", "not json", '{"t": 1}', line(102.0, 3, 4)[:20]]
    samples = parse_status_log(lines)
    assert samples == (StatusSample(101.0, 1.0, 0.5, False, 1, 2, 0),)


def test_throughput_bins_counter_increases_by_the_later_sample() -> None:
    # t0 = 100. Client a: samples at 100.5 (origin 1000), 101.5 (origin 3000, peers 500).
    # Client b: sample at 101.2 (peers 2000), 103.9 (peers 2600).
    series = {
        "a": parse_status_log([line(100.5, 1000, 0), line(101.5, 3000, 500)]),
        "b": parse_status_log([line(103.9, 0, 2600), line(101.2, 0, 2000)]),  # any order
    }
    points = swarm_throughput(series, 100.0)
    assert points == [
        ThroughputPoint(0.0, 1000.0, 0.0),
        ThroughputPoint(1.0, 2000.0, 2500.0),
        ThroughputPoint(2.0, 0.0, 0.0),
        ThroughputPoint(3.0, 0.0, 600.0),
    ]


def test_throughput_in_wider_bins_is_per_second() -> None:
    series = {"a": parse_status_log([line(100.5, 1000, 0), line(101.5, 3000, 0)])}
    assert swarm_throughput(series, 100.0, bin_s=2.0) == [ThroughputPoint(0.0, 1500.0, 0.0)]


def test_throughput_of_nothing_and_bad_bins() -> None:
    assert swarm_throughput({}, 0.0) == []
    with pytest.raises(ValueError, match="bin_s"):
        swarm_throughput({}, 0.0, bin_s=0)


def test_samples_render_relative_to_the_start() -> None:
    s = parse_status_log([line(101.25, 1, 2, progress=1.0)])[0]
    assert s.to_json(100.0) == {"t_s": 1.25, "progress": 1.0, "complete": True,
                                "bytes_from_origin": 1, "bytes_from_peers": 2,
                                "bytes_uploaded": 0}
