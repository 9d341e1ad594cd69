"""Pre-positioning in the simulator: the [hosts] part, its plan, its figures, and a small
real run on the local backend (hosts placed, then renters served by them)."""

from __future__ import annotations

import base64
import dataclasses
import json
import random
from pathlib import Path

import pytest

from certs.authority import load_content_key
from sim import LOOPBACK_POOL, load_scenario, plan_swarm
from sim.analysis.hosting_figures import hosting_figures
from sim.backends.local import LocalBackend
from sim.errors import ScenarioError
from sim.placement_phase import PlacementRecord
from sim.runner import check_backend_can_run, run_simulation
from sim.scenario.hosts import HostsSpec
from sim.scenario.toml_file import scenario_from_mapping

from .conftest import SCENARIOS_DIR

MIB = 1 << 20


def test_release_night_and_its_anchor_differ_only_by_the_hosts() -> None:
    hosts = load_scenario(SCENARIOS_DIR / "release-night.toml")
    anchor = load_scenario(SCENARIOS_DIR / "release-night-no-hosts.toml")
    assert hosts.hosts == HostsSpec(count=4, upload_bps=4_000_000, download_bps=4_000_000,
                                    placement_timeout_s=300)
    assert hosts.hosts.backup_threshold == 4
    assert anchor.hosts is None
    assert dataclasses.replace(hosts, hosts=None, name=anchor.name,
                               description=anchor.description) == anchor


def _raw(**hosts: object) -> dict[str, object]:
    return {"name": "x", "film_mib": 1, "origin": {"upload_bps": 0},
            "clients": {"count": 2, "download_bps": 0, "upload_bps": 0},
            "arrivals": {"kind": "flash-crowd"}, "hosts": hosts}


@pytest.mark.parametrize(("hosts", "message"), [
    ({"count": 0}, "hosts.count must be at least 1"),
    ({"count": 2, "colour": "red"}, "colour"),
    ({"count": 2, "origin_backup_hosts": 3}, "origin_backup_hosts"),
    ({"count": 2, "placement_timeout_s": 0}, "placement_timeout_s"),
])
def test_bad_hosts_parts_are_refused(hosts: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario_from_mapping(_raw(**hosts))


def test_hosts_take_the_pools_last_addresses() -> None:
    scenario = scenario_from_mapping(_raw(count=2, upload_bps="1M"))
    plan = plan_swarm(scenario, LOOPBACK_POOL, random.Random(1))
    assert [h.address for h in plan.hosts] == ["127.1.0.254", "127.1.0.253"]
    assert [c.address for c in plan.clients] == ["127.1.0.1", "127.1.0.2"]
    assert plan.to_json()["hosts"][0]["name"] == "host-1"
    crowded = scenario_from_mapping({**_raw(count=200), "clients": {
        "count": 100, "download_bps": 0, "upload_bps": 0}})
    with pytest.raises(ScenarioError, match=r"hosts\.count"):
        plan_swarm(crowded, LOOPBACK_POOL, random.Random(1))


def test_origin_bytes_are_split_into_placement_and_release() -> None:
    placement = PlacementRecord(duration_s=30.0, hosts=4, hosts_complete=4,
                                origin_bytes=110, host_uploaded_at_release=50)
    f = hosting_figures(100, 115, placement, hosts_uploaded_end=850, release_window_s=10.0)
    assert (f.origin_copies_placement, f.origin_copies_release_window) == (1.1, 0.05)
    assert f.bytes_from_hosts == 800
    assert f.origin_mean_rate_release_bps == 0.5
    none = hosting_figures(100, 300, None, hosts_uploaded_end=0, release_window_s=10.0)
    assert (none.origin_copies_placement, none.origin_copies_release_window) == (0.0, 3.0)
    assert none.bytes_from_hosts == 0


def test_a_backend_without_hosts_refuses_the_scenario() -> None:
    class NoHosts:
        name = "docker"

    scenario = load_scenario(SCENARIOS_DIR / "release-night.toml")
    with pytest.raises(ScenarioError, match="cannot run"):
        check_backend_can_run(scenario, NoHosts())  # type: ignore[arg-type]
    check_backend_can_run(scenario, LocalBackend())


@pytest.mark.slow  # about 30 s on this shared machine: a whole scenario
async def test_a_small_release_night_on_the_local_backend(tmp_path: Path) -> None:
    """Two hosts placed, then three renters served with the origin left out of their
    lists; no host directory holds key material."""
    scenario = load_scenario(SCENARIOS_DIR / "release-night.toml")
    scenario = dataclasses.replace(
        scenario, film_mib=2, timeout_s=120,
        hosts=dataclasses.replace(scenario.hosts, count=2, placement_timeout_s=60),
        clients=dataclasses.replace(scenario.clients, count=3, seed_after_completion_s=30),
        origin=dataclasses.replace(scenario.origin, upload_bps=4_000_000))
    out, work = tmp_path / "out", tmp_path / "work"
    await run_simulation(scenario, LocalBackend(), out, workdir=work)
    report = json.loads((out / "report.json").read_text())
    figures, run = report["figures"], report["run"]
    assert run["all_complete"]
    assert run["placement"]["hosts_complete"] == 2
    assert figures["hosting"]["hosts_complete_at_release"] == 2
    assert figures["origin_copies_placement"] > 0
    assert figures["bytes_from_hosts"] > 0
    assert "origin_copies_release_window" in figures
    key = load_content_key(work / "ca", "sim-film")
    forms = [key, key.hex().encode(), base64.b64encode(key)]
    files = [p for p in (work / "hosts").rglob("*") if p.is_file()]
    assert any(p.name == "sim-film" for p in files)  # the whole container is there
    for path in files:
        data = path.read_bytes()
        assert not any(form in data for form in forms), path
