"""Outside bytes only ever raise the parsing package's own typed error.

Hypothesis properties for the tracker's request parser and the scenario loader (the
container header and the rental bundle have theirs in tests/container and tests/certs),
and a short run of bench/fuzz.py's mutational loop over all four parsers.
"""

from __future__ import annotations

import contextlib
import importlib
import random
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.errors import ScenarioError
from sim.scenario.toml_file import load_scenario, scenario_from_mapping
from tracker import AnnounceRequest, ScrapeRequest, TrackerError, parse_request_target

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["info_hash", "peer_id", "port", "uploaded", "downloaded", "left", "event", "compact",
         "numwant", "key", "no_peer_id", "corrupt", "ip", "x"]


def _load_bench() -> ModuleType:
    # bench/ is a namespace package on the test path (pytest's pythonpath = ["."])
    return importlib.import_module("bench.fuzz")


@given(st.binary(max_size=600))
@settings(max_examples=400)
def test_request_target_arbitrary_bytes(target: bytes) -> None:
    for t in (target, b"/announce?" + target, b"/scrape?" + target):
        try:
            result = parse_request_target(t)
        except TrackerError:
            continue
        assert isinstance(result, AnnounceRequest | ScrapeRequest)


@given(st.lists(st.tuples(st.sampled_from(NAMES), st.binary(max_size=30)), max_size=12))
@settings(max_examples=400)
def test_announce_query_of_known_names_with_arbitrary_values(
    pairs: list[tuple[str, bytes]],
) -> None:
    query = "&".join(f"{name}={quote_from_bytes(value)}" for name, value in pairs)
    with contextlib.suppress(TrackerError):
        parse_request_target(b"/announce?" + query.encode())


@given(st.binary(max_size=2000))
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_scenario_file_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(data)
    with contextlib.suppress(ScenarioError):
        load_scenario(path)


# What TOML can hold (no null): booleans, integers, floats (nan and inf too), strings,
# date-times, arrays and tables.
_SCALARS = st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                     st.datetimes())
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


def _valid_mapping() -> dict[str, Any]:
    return tomllib.loads((ROOT / "sim" / "scenarios" / "smoke.toml").read_text())


@given(st.lists(st.tuples(st.integers(0, 10), st.text(max_size=12), _VALUES), max_size=4))
@settings(max_examples=300)
def test_scenario_mapping_with_arbitrary_values_in_real_places(
    changes: list[tuple[int, str, Any]],
) -> None:
    """Replace or add keys of a shipped scenario (at top level or in a table) with values
    of any type: a `Scenario` or a `ScenarioError`, nothing else."""
    mapping = _valid_mapping()
    for where, key, value in changes:
        tables = [mapping, *(v for v in mapping.values() if isinstance(v, dict))]
        table = tables[where % len(tables)]
        keys = list(table)
        target = keys[where % len(keys)] if keys and where % 2 == 0 else key
        table[target] = value
    with contextlib.suppress(ScenarioError):
        scenario_from_mapping(mapping)


@given(st.lists(st.tuples(st.integers(0, 10), st.text(max_size=12), _VALUES), max_size=4))
@settings(max_examples=300)
def test_network_part_with_arbitrary_values_in_real_places(
    changes: list[tuple[int, str, Any]],
) -> None:
    """The same inside the ``[network]`` part of a shipped home-router scenario (its
    table, its homes, the ISP list): a `Scenario` or a `ScenarioError`, nothing else."""
    mapping = tomllib.loads(
        (ROOT / "sim" / "scenarios" / "home-routers-small.toml").read_text())
    for where, key, value in changes:
        network = mapping["network"]
        if not isinstance(network, dict):
            break
        homes = network.get("homes")
        tables = [network, *([homes] if isinstance(homes, dict) else [])]
        table = tables[where % len(tables)]
        keys = list(table)
        target = keys[where % len(keys)] if keys and where % 2 == 0 else key
        table[target] = value
    with contextlib.suppress(ScenarioError):
        scenario_from_mapping(mapping)


@pytest.mark.parametrize("key", ["name", "film_mib"])
def test_scenario_mapping_with_a_required_key_set_to_none(key: str) -> None:
    mapping = _valid_mapping()
    mapping[key] = None
    with pytest.raises(ScenarioError):
        scenario_from_mapping(mapping)


@pytest.mark.parametrize("target", ["request", "rental", "header", "scenario"])
def test_mutational_harness_short_run(target: str, tmp_path: Path) -> None:
    """bench/fuzz.py for 3000 inputs per parser (the long runs are recorded in SECURITY.md)."""
    bench = _load_bench()
    makers = {"request": bench._request_target, "rental": bench._rental_target,
              "header": bench._header_target,
              "scenario": lambda: bench._scenario_target(tmp_path)}
    fn, expected, seeds = makers[target]()
    result = bench.run(target, fn, expected, seeds, inputs=3000, rng=random.Random(7),
                       crash_dir=tmp_path / "crashes")
    assert result["crashes"] == 0, result["crash_kinds"]
    assert result["typed_errors"] > 0
