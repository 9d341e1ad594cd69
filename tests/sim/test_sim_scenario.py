"""Scenario files: the shipped ones load and plan; bad ones fail with a one-line error."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sim import (
    LOOPBACK_POOL,
    EventAction,
    FlashCrowd,
    PoissonArrivals,
    ScenarioError,
    StopHow,
    load_scenario,
    plan_swarm,
)
from sim.scenario.homes import HomeKind

from .conftest import SCENARIOS_DIR, VALID_TOML, WriteScenario

SHIPPED = ["smoke", "flash-crowd", "asymmetric", "poisson", "origin-failure", "home-routers",
           "home-routers-public", "home-routers-blind", "home-routers-small",
           "release-night", "release-night-no-hosts"]


def test_every_scenario_file_is_shipped_and_tested() -> None:
    assert {p.stem for p in SCENARIOS_DIR.glob("*.toml")} == {*SHIPPED, "demo"}


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load_and_plan(name: str) -> None:
    scenario = load_scenario(SCENARIOS_DIR / f"{name}.toml")
    plan = plan_swarm(scenario, LOOPBACK_POOL, random.Random(scenario.seed))
    assert scenario.name == name
    assert len(plan.clients) == scenario.clients.count


def test_flash_crowd_is_the_issue_s_swarm() -> None:
    s = load_scenario(SCENARIOS_DIR / "flash-crowd.toml")
    assert (s.clients.count, s.film_mib, s.origin.upload_bps) == (20, 64, 4_000_000)
    assert [(link.download_bps, link.upload_bps) for link in s.clients.links] == [
        (4_000_000, 4_000_000)
    ]


def test_asymmetric_uploads_a_quarter_of_its_download() -> None:
    s = load_scenario(SCENARIOS_DIR / "asymmetric.toml")
    assert all(link.upload_bps * 4 == link.download_bps for link in s.clients.links)


def test_home_routers_is_the_issue_s_swarm() -> None:
    s = load_scenario(SCENARIOS_DIR / "home-routers.toml")
    assert (s.clients.count, s.film_mib, s.origin.upload_bps) == (24, 64, 8_000_000)
    assert [(link.download_bps, link.upload_bps) for link in s.clients.links] == [
        (4_000_000, 1_000_000)]
    assert s.arrivals == FlashCrowd(within_s=1.0)
    assert s.network is not None
    assert s.network.locality
    assert [i.name for i in s.network.isps] == ["isp-a", "isp-b"]
    assert s.network.shares == {HomeKind.PUBLIC: 0.25, HomeKind.NAT: 0.25,
                                HomeKind.NAT_UPNP: 0.25, HomeKind.DUAL_STACK: 0.25}


@pytest.mark.parametrize(("name", "shares", "locality"), [
    ("home-routers-public", {HomeKind.PUBLIC: 1.0}, True),
    ("home-routers-blind", None, False),
])
def test_home_router_variants_differ_only_where_they_say(
    name: str, shares: dict[HomeKind, float] | None, locality: bool
) -> None:
    base = load_scenario(SCENARIOS_DIR / "home-routers.toml")
    variant = load_scenario(SCENARIOS_DIR / f"{name}.toml")
    assert base.network is not None
    assert variant.network is not None
    assert variant.network.shares == (shares or base.network.shares)
    assert variant.network.locality is locality
    assert (variant.clients, variant.origin, variant.arrivals, variant.film_mib,
            variant.network.isps) == (base.clients, base.origin, base.arrivals, base.film_mib,
                                      base.network.isps)


def test_the_small_home_scenario_has_one_home_of_each_kind() -> None:
    s = load_scenario(SCENARIOS_DIR / "home-routers-small.toml")
    plan = plan_swarm(s, LOOPBACK_POOL, random.Random(s.seed))
    assert sorted(c.home.kind for c in plan.clients if c.home) == sorted(
        [HomeKind.NAT, HomeKind.NAT_UPNP, HomeKind.DUAL_STACK, HomeKind.V6_ONLY])
    assert (s.film_mib, s.clients.count) == (8, 4)


def test_smoke_is_small() -> None:
    s = load_scenario(SCENARIOS_DIR / "smoke.toml")
    assert (s.clients.count, s.film_mib) == (4, 8)


def test_a_full_scenario_reads_every_key(write_scenario: WriteScenario) -> None:
    s = load_scenario(write_scenario("""\
        name = "full"
        description = "all keys"
        film_mib = 1.5
        seed = 7
        timeout_s = 30
        [origin]
        upload_bps = 2500000
        super_seed = true
        [clients]
        count = 3
        seed_after_completion_s = 5
        churn_fraction = 0.5
        [[clients.links]]
        name = "fibre"
        weight = 1
        download_bps = "1G"
        upload_bps = "0"
        [[clients.links]]
        name = "adsl"
        weight = 2.5
        download_bps = "2M"
        upload_bps = "500K"
        [arrivals]
        kind = "poisson"
        window_s = 10
        [[events]]
        at_s = 1
        action = "tracker-restart"
        how = "term"
        [[events]]
        at_s = 2
        action = "client-kill"
        client = 3
    """))
    assert s.film_bytes == 1_572_864
    assert (s.seed, s.timeout_s, s.description) == (7, 30.0, "all keys")
    assert s.origin.upload_bps == 2_500_000
    assert s.origin.super_seed
    assert [(x.name, x.weight, x.download_bps, x.upload_bps) for x in s.clients.links] == [
        ("fibre", 1.0, 1_000_000_000, 0), ("adsl", 2.5, 2_000_000, 500_000)]
    assert s.clients.churn_fraction == 0.5
    assert s.clients.seed_after_completion_s == 5
    assert s.arrivals == PoissonArrivals(window_s=10.0)
    assert [(e.action, e.how, e.client) for e in s.events] == [
        (EventAction.TRACKER_RESTART, StopHow.TERM, None),
        (EventAction.CLIENT_KILL, StopHow.KILL, 3),
    ]


def test_defaults(write_scenario: WriteScenario) -> None:
    s = load_scenario(write_scenario(VALID_TOML))
    assert s.arrivals == FlashCrowd(within_s=2.0)
    assert (s.seed, s.timeout_s, s.events, s.clients.churn_fraction) == (1, 600.0, (), 0.0)
    assert s.clients.links[0].upload_bps == 1_000_000


BAD = {
    "unknown top-level key": (
        'film_mb = 3\n' + VALID_TOML, "unknown key 'film_mb'"),
    "unknown key in a table": (
        VALID_TOML.replace('count = 4', 'count = 4\nuplod_bps = "1M"'),
        "unknown key 'clients.uplod_bps'"),
    "negative rate as a number": (
        VALID_TOML.replace('upload_bps = "4M"', 'upload_bps = -4000000'),
        "origin.upload_bps must not be negative"),
    "negative rate as a string": (
        VALID_TOML.replace('upload_bps = "1M"', 'upload_bps = "-1M"'),
        "clients.upload_bps must not be negative"),
    "rate that is not a rate": (
        VALID_TOML.replace('upload_bps = "1M"', 'upload_bps = "fast"'),
        "clients.upload_bps: invalid rate 'fast'"),
    "missing key": (
        VALID_TOML.replace('film_mib = 8\n', ''), "film_mib is missing"),
    "wrong type": (
        VALID_TOML.replace('count = 4', 'count = "four"'), "clients.count must be an integer"),
    "no clients": (
        VALID_TOML.replace('count = 4', 'count = 0'), "clients.count must be at least 1"),
    "zero film": (
        VALID_TOML.replace('film_mib = 8', 'film_mib = 0'), "film_mib must be greater than 0"),
    "churn above one": (
        VALID_TOML.replace('count = 4', 'count = 4\nchurn_fraction = 1.5'),
        "clients.churn_fraction must be in [0, 1]"),
    "bad arrivals kind": (
        VALID_TOML.replace('"flash-crowd"', '"stampede"'), "arrivals.kind must be"),
    "poisson with a flash-crowd key": (
        VALID_TOML.replace('"flash-crowd"', '"poisson"'), "arrivals.within_s is not allowed"),
    "poisson with rate and window": (
        VALID_TOML.replace('kind = "flash-crowd"\nwithin_s = 2',
                           'kind = "poisson"\nrate_per_s = 1\nwindow_s = 5'),
        "exactly one of rate_per_s or window_s"),
    "poisson with a zero rate": (
        VALID_TOML.replace('kind = "flash-crowd"\nwithin_s = 2',
                           'kind = "poisson"\nrate_per_s = 0'),
        "arrivals.rate_per_s must be greater than 0"),
    "fixed rates and a mix": (
        VALID_TOML + '[[clients.links]]\nname = "a"\ndownload_bps = 1\nupload_bps = 1\n',
        "either download_bps/upload_bps or [[clients.links]]"),
    "mix weight zero": (
        VALID_TOML.replace('download_bps = "4M"\nupload_bps = "1M"\n', '')
        + '[[clients.links]]\nname = "a"\nweight = 0\ndownload_bps = 1\nupload_bps = 1\n',
        "link 'a' weight must be greater than 0"),
    "mix weight negative": (
        VALID_TOML.replace('download_bps = "4M"\nupload_bps = "1M"\n', '')
        + '[[clients.links]]\nname = "a"\nweight = -1\ndownload_bps = 1\nupload_bps = 1\n',
        "link 'a' weight must be greater than 0"),
    "mix with duplicate names": (
        VALID_TOML.replace('download_bps = "4M"\nupload_bps = "1M"\n', '')
        + '[[clients.links]]\nname = "a"\ndownload_bps = 1\nupload_bps = 1\n' * 2,
        "duplicate link names"),
    "mix link without a name": (
        VALID_TOML.replace('download_bps = "4M"\nupload_bps = "1M"\n', '')
        + '[[clients.links]]\ndownload_bps = 1\nupload_bps = 1\n',
        "clients.links[0].name is missing"),
    "unknown event action": (
        VALID_TOML + '[[events]]\nat_s = 1\naction = "origin-explodes"\n',
        "events[0].action must be one of"),
    "origin up while up": (
        VALID_TOML + '[[events]]\nat_s = 1\naction = "origin-up"\n',
        "origin-up at 1 s but the origin is already up"),
    "origin down twice": (
        VALID_TOML + '[[events]]\nat_s = 1\naction = "origin-down"\n'
        '[[events]]\nat_s = 2\naction = "origin-down"\n',
        "origin-down at 2 s but the origin is already down"),
    "kill a client that does not exist": (
        VALID_TOML + '[[events]]\nat_s = 1\naction = "client-kill"\nclient = 5\n',
        "names client 5 but there are 4 clients"),
    "kill without a client": (
        VALID_TOML + '[[events]]\nat_s = 1\naction = "client-kill"\n',
        "'client' is required for client-kill"),
    "negative event time": (
        VALID_TOML + '[[events]]\nat_s = -1\naction = "tracker-restart"\n',
        "events.at_s must be at least 0"),
    "bad stop signal": (
        VALID_TOML + '[[events]]\nat_s = 1\naction = "origin-down"\nhow = "nicely"\n',
        "events[0].how must be 'kill' or 'term'"),
    "not TOML": ("name = \n", "is not valid TOML"),
}


@pytest.mark.parametrize(("text", "message"), BAD.values(), ids=BAD.keys())
def test_bad_scenarios_are_refused_with_one_line(
    write_scenario: WriteScenario, text: str, message: str
) -> None:
    path = write_scenario(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text_of_error = str(caught.value)
    assert message in text_of_error
    assert "\n" not in text_of_error
    assert text_of_error.startswith(str(path))


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario(tmp_path / "nope.toml")


def test_more_clients_than_addresses_is_refused_when_planning(
    write_scenario: WriteScenario,
) -> None:
    s = load_scenario(write_scenario(VALID_TOML.replace("count = 4", "count = 255")))
    with pytest.raises(ScenarioError, match=r"clients.count = 255 but this backend has 254"):
        plan_swarm(s, LOOPBACK_POOL, random.Random(1))
