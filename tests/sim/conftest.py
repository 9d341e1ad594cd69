"""Fixtures for simulation tests: scenario files and hand-built scenarios."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from sim import ClientsSpec, FlashCrowd, LinkProfile, OriginSpec, Scenario

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "sim" / "scenarios"

VALID_TOML = """\
name = "t"
film_mib = 8
[origin]
upload_bps = "4M"
[clients]
count = 4
download_bps = "4M"
upload_bps = "1M"
[arrivals]
kind = "flash-crowd"
within_s = 2
"""

WriteScenario = Callable[[str], Path]


@pytest.fixture
def write_scenario(tmp_path: Path) -> WriteScenario:
    """Write TOML text (dedented) to a scenario file and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "scenario.toml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def make_scenario(count: int = 4, **overrides: object) -> Scenario:
    """A small valid scenario, fields overridable."""
    values: dict[str, object] = {
        "name": "t",
        "film_mib": 8.0,
        "origin": OriginSpec(upload_bps=4_000_000),
        "clients": ClientsSpec(count=count, links=(LinkProfile("fixed", 4_000_000, 1_000_000),)),
        "arrivals": FlashCrowd(within_s=2.0),
    }
    values.update(overrides)
    return Scenario(**values)  # type: ignore[arg-type]
