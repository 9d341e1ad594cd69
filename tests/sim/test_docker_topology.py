"""The docker backend's pure parts: the home-network address plan, the routers' files,
the tracker's network map, the go signal and the reading of the tracker's members."""

from __future__ import annotations

import ipaddress
import threading
import tomllib
from pathlib import Path

import pytest

from sim.backends.docker import SCALED_MIN_INTERVAL_S, SCALED_PROBE_RETRY_S, tracker_config_text
from sim.backends.docker_go import GoSignal, arrival_spread
from sim.backends.docker_measure import parse_isp_counters, reachability_of
from sim.backends.docker_router import RouterFiles, isp_counters_ruleset, router_files
from sim.backends.docker_topology import MAX_HOMES, HomeTopology, plan_topology
from sim.errors import ScenarioError
from sim.scenario.homes import HomeKind, HomePlan
from tracker.config import TrackerConfig

KINDS = (HomeKind.PUBLIC, HomeKind.NAT, HomeKind.NAT_UPNP, HomeKind.DUAL_STACK,
         HomeKind.V6_ONLY)


def _topology(kinds: tuple[HomeKind, ...] = KINDS) -> HomeTopology:
    return plan_topology([
        (f"client-{n}", HomePlan(n, kind, "isp-a" if n % 2 else "isp-b"))
        for n, kind in enumerate(kinds, start=1)])


def test_every_kind_gets_the_addresses_of_its_families() -> None:
    homes = _topology().homes
    public, nat, upnp, dual, v6 = (homes[f"client-{n}"] for n in range(1, 6))
    assert public.client_addresses == ("10.101.1.2", None)  # isp-a's 1st home, routed
    assert public.seen_at == ("10.101.1.2",)
    assert nat.client_addresses == ("10.90.2.2", None)  # behind NAT: its own LAN
    assert nat.seen_at == ("10.87.2.1",)  # the router's WAN address in isp-b's range
    assert upnp.seen_at == ("10.87.1.2",)
    assert dual.client_addresses == ("10.90.4.2", "fd00:90:2:2::2")
    assert dual.seen_at == ("10.87.2.2", "fd00:90:2:2::2")
    assert v6.seen_at == ("fd00:90:1:3::2",)
    assert (nat.listen_host, dual.listen_host, v6.listen_host) == (
        "10.90.2.2", "::", "fd00:90:1:3::2")


def test_the_internet_routes_into_public_and_ipv6_homes_only() -> None:
    assert set(_topology().routes()) == {
        ("10.101.1.0/24", "10.87.1.1"),
        ("fd00:90:2:2::/64", "fd00:87::2:2"),
        ("fd00:90:1:3::/64", "fd00:87::1:3"),
    }


def test_seen_as_names_the_client_behind_each_address() -> None:
    seen = _topology().seen_as()
    assert seen["10.87.2.1"] == "client-2"
    assert seen["fd00:90:2:2::2"] == seen["10.87.2.2"] == "client-4"
    assert len(seen) == 6


def test_the_tracker_config_groups_every_home_by_its_isp() -> None:
    topology = _topology()
    config = TrackerConfig.from_mapping(
        tomllib.loads(tracker_config_text(topology, locality=False)),
        ca_path=Path("ca.pem"), cert_path=Path("c.pem"), key_path=Path("k.pem"),
        library_dir=Path("lib"), crl_path=None)
    assert config.swarm.locality is False
    # timers scaled to a run of a minute, not a film of an hour
    assert config.swarm.min_announce_interval_s == SCALED_MIN_INTERVAL_S
    assert config.probe.first_retry_s == SCALED_PROBE_RETRY_S
    networks = config.network_map()
    for home in topology.homes.values():
        for address in home.seen_at:
            assert networks.name_of(ipaddress.ip_address(address).packed) == home.isp
    assert "locality = true" in tracker_config_text(topology)
    # a benchmark's variant: more [swarm] settings, read by the tracker as given
    variant = TrackerConfig.from_mapping(
        tomllib.loads(tracker_config_text(topology, swarm={"max_listed_remote": 1,
                                                           "local_share": 0.5})),
        ca_path=Path("ca.pem"), cert_path=Path("c.pem"), key_path=Path("k.pem"),
        library_dir=Path("lib"), crl_path=None)
    assert (variant.swarm.max_listed_remote, variant.swarm.local_share) == (1, 0.5)


def test_too_many_homes_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match=f"holds {MAX_HOMES} homes"):
        plan_topology([(f"client-{n}", HomePlan(n, HomeKind.NAT, "a"))
                       for n in range(1, MAX_HOMES + 2)])


def test_router_files_follow_the_kind(tmp_path: Path) -> None:
    topology = _topology()
    homes = topology.homes
    upnp = router_files(homes["client-3"], topology.routes(), tmp_path,
                        topology.isp_networks())
    files = RouterFiles(tmp_path)
    assert 'oifname "eth0" meta nfproto ipv4 masquerade' in upnp[files.ruleset]
    assert "ext_ifname=eth0\nlistening_ip=eth1\n" in upnp[files.miniupnpd_conf]
    assert "allow 1024-65535 10.90.3.0/24 1024-65535" in upnp[files.miniupnpd_conf]
    assert "miniupnpd -d" in upnp[files.script]
    public = router_files(homes["client-1"], topology.routes(), tmp_path,
                          topology.isp_networks())
    assert "10.101.1.0/24" not in public[files.routes]  # its own network is on its LAN
    assert "masquerade" not in public[files.ruleset]
    assert files.miniupnpd_conf not in public
    v6 = router_files(homes["client-5"], topology.routes(), tmp_path,
                      topology.isp_networks())
    assert "ip -4 addr flush dev eth0" in v6[files.script]
    assert v6[files.routes] == "fd00:90:2:2::/64 fd00:87::2:2\n"  # no IPv4 routes


def test_the_go_signal_releases_a_waiting_reader_and_says_when_nobody_waits(
    tmp_path: Path,
) -> None:
    go = GoSignal(tmp_path / "go")
    go.create()
    assert not go.release()  # nobody reads the FIFO: not blocking, False
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(go.path.read_text()))
    reader.start()
    # the reader's open blocks until a writer comes: retry until it is there
    for _ in range(200):
        if go.release():
            break
        threading.Event().wait(0.01)
    reader.join(5)
    assert got == ["go\n"]


def test_arrival_spread_is_the_largest_gap_from_the_plan() -> None:
    planned = {"a": 0.0, "b": 1.0, "c": 2.0}
    actual = {"a": 100.2, "b": 101.1, "c": 102.5}
    assert arrival_spread(planned, actual, 100.0) == pytest.approx(0.5)
    # without the swarm's start: the earliest start less its arrival (b's: 100.1)
    assert arrival_spread(planned, actual, None) == pytest.approx(0.4)
    assert arrival_spread(planned, {}, 100.0) is None


def test_reachability_is_read_from_the_trackers_members_document() -> None:
    document = {"films": {"film": [
        {"addresses": ["10.87.1.1"], "reachability": "unreachable", "network": "isp-a"},
        {"addresses": ["10.87.2.2", "fd00:90:2:2::2"], "reachability": "connectable",
         "network": "isp-b"},
        "junk",
    ]}}
    assert reachability_of(document) == {
        "10.87.1.1": "unreachable", "10.87.2.2": "connectable", "fd00:90:2:2::2": "connectable"}
    assert reachability_of({"unexpected": 1}) is None
    assert reachability_of([]) is None


def test_routers_count_what_their_client_receives_by_the_senders_isp() -> None:
    networks = _topology().isp_networks()
    assert networks == {"10.87.1.0/24": 1, "10.101.0.0/16": 1, "fd00:90:1::/48": 1,
                        "10.87.2.0/24": 2, "10.102.0.0/16": 2, "fd00:90:2::/48": 2}
    ruleset = isp_counters_ruleset(networks)
    assert ('iifname "eth0" oifname "eth1" ip6 saddr fd00:90:2::/48 counter name "from_isp_2"'
            in ruleset)
    assert ruleset.count("counter from_isp_") == 2
    listed = ('{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"counter": {"family": "inet",'
              ' "name": "from_isp_1", "table": "peernode_isp", "packets": 3, "bytes": 4500}},'
              ' {"counter": {"name": "from_isp_2", "bytes": 60}}, {"counter": {"name": "x"}}]}')
    assert parse_isp_counters(listed) == {1: 4500, 2: 60}
    assert parse_isp_counters("not json") is None
