"""Figures by router kind and ISP, from synthetic outcomes and summaries; report and plot."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from sim import (
    LOOPBACK_POOL,
    ClientOutcome,
    Fate,
    RunRecord,
    SimulationReport,
    SwarmPlan,
    plan_swarm,
    render_markdown,
    swarm_figures,
    write_report,
)
from sim.analysis.network_figures import (
    ORIGIN,
    UNKNOWN,
    network_figures,
    normal_address,
    received_by_peer,
)
from sim.analysis.report import CONNECTIVITY_PLOT, PLOT_FILES
from sim.runner import write_plots
from sim.scenario.homes import HomeKind, HomePlan
from sim.scenario.network import HomeShare, IspSpec, NetworkSpec

from .conftest import make_scenario

MB = 1_000_000
ORIGIN_ADDRESS = "127.0.0.2"
# client-1 public/east, client-2 nat/east, client-3 nat/west, client-4 nat-upnp/west
HOMES = [(HomeKind.PUBLIC, "east"), (HomeKind.NAT, "east"), (HomeKind.NAT, "west"),
         (HomeKind.NAT_UPNP, "west")]
# the NATed clients are seen under their routers' WAN addresses
SEEN_AS = {"198.18.1.2": "client-2", "198.18.1.3": "client-3", "198.18.1.4": "client-4"}


def _plan() -> SwarmPlan:
    network = NetworkSpec(isps=(IspSpec("east"), IspSpec("west")),
                          homes=(HomeShare(HomeKind.PUBLIC, 0.25), HomeShare(HomeKind.NAT, 0.5),
                                 HomeShare(HomeKind.NAT_UPNP, 0.25)))
    plan = plan_swarm(make_scenario(count=4, network=network), LOOPBACK_POOL, random.Random(1))
    clients = tuple(dataclasses.replace(c, home=HomePlan(c.number, *HOMES[c.number - 1]))
                    for c in plan.clients)
    return dataclasses.replace(plan, clients=clients)


def _outcome(name: str, fate: Fate = Fate.COMPLETE, *, origin: int = 0, peers: int = 0,
             uploaded: int = 0, from_arrival: float | None = 10.0) -> ClientOutcome:
    return ClientOutcome(
        name=name, address="", link="fixed", download_bps=4 * MB, upload_bps=MB, arrival_s=0.0,
        fate=fate, startup_s=1.0, completion_s=from_arrival,
        completion_from_arrival_s=from_arrival if fate is Fate.COMPLETE else None,
        bytes_from_origin=origin, bytes_from_peers=peers, bytes_uploaded=uploaded)


def _peers(*entries: tuple[str, int, bool]) -> list[dict[str, object]]:
    return [{"address": a, "bytes": b, "origin": o} for a, b, o in entries]


def _addr(number: int) -> str:
    return LOOPBACK_POOL.client_address(number - 1)


OUTCOMES = (
    _outcome("client-1", origin=2 * MB, peers=6 * MB, uploaded=9 * MB, from_arrival=20.0),
    _outcome("client-2", origin=1 * MB, peers=7 * MB, uploaded=1 * MB, from_arrival=30.0),
    _outcome("client-3", Fate.TIMEOUT, origin=1 * MB, peers=3 * MB, uploaded=0),
    _outcome("client-4", origin=0, peers=8 * MB, uploaded=6 * MB, from_arrival=25.0),
)
SUMMARIES: dict[str, dict[str, object] | None] = {
    "client-1": {"port_mapping": {"error": "no router answered"}, "received_by_peer": _peers(
        (ORIGIN_ADDRESS, 2 * MB, True), ("198.18.1.4", 6 * MB, False))},
    "client-2": {"port_mapping": {"error": "no router answered"}, "received_by_peer": _peers(
        (ORIGIN_ADDRESS, 1 * MB, True), (_addr(1), 4 * MB, False),
        ("[::ffff:198.18.1.4]", 3 * MB, False))},
    "client-3": None,  # timed out: no summary
    "client-4": {"port_mapping": {"protocol": "upnp", "external_address": "198.18.1.4",
                                  "external_port": 6881},
                 "received_by_peer": _peers((_addr(1), 5 * MB, False),
                                            ("203.0.113.9", 3 * MB, False))},
}
REACHABILITY = {_addr(1): "connectable", "198.18.1.2": "unreachable",
                "198.18.1.3": "unknown", "198.18.1.4": "connectable"}


def _figures(**overrides: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {"reachability": REACHABILITY, "seen_as": SEEN_AS}
    values.update(overrides)
    figures = network_figures(_plan(), OUTCOMES, SUMMARIES, **values)  # type: ignore[arg-type]
    assert figures is not None
    return figures


def test_figures_by_kind_sum_each_kind_s_clients() -> None:
    n = _figures()
    assert list(n.by_kind) == ["public", "nat", "nat-upnp"]  # HomeKind order
    nat = n.by_kind["nat"]
    assert (nat.clients, nat.completed) == (2, 1)
    assert nat.completion_p95_from_arrival_s is None  # one of two did not finish
    assert (nat.bytes_from_origin, nat.bytes_from_peers, nat.uploaded) == (2 * MB, 10 * MB, MB)
    public = n.by_kind["public"]
    assert (public.clients, public.completed, public.completion_p95_from_arrival_s) == (
        1, 1, 20.0)


def test_connectable_share_counts_any_address_a_client_is_seen_under() -> None:
    n = _figures()
    assert n.by_kind["public"].connectable_share == 1.0  # by its plan address
    assert n.by_kind["nat"].connectable_share == 0.0  # unreachable, unknown
    assert n.by_kind["nat-upnp"].connectable_share == 1.0  # by its router's WAN address
    assert _figures(reachability=None).by_kind["public"].connectable_share is None


def test_port_mapped_share_is_of_those_that_reported_an_outcome() -> None:
    n = _figures()
    assert n.by_kind["nat-upnp"].port_mapped_share == 1.0
    assert n.by_kind["public"].port_mapped_share == 0.0
    assert n.by_kind["nat"].port_mapped_share == 0.0  # client-3 reported nothing: not counted
    silent = network_figures(_plan(), OUTCOMES, dict.fromkeys(SUMMARIES))
    assert silent is not None
    assert all(k.port_mapped_share is None for k in silent.by_kind.values())


def test_connectivity_matrix_and_cross_isp_share_from_per_peer_counts() -> None:
    n = _figures()
    assert n.connectivity == {
        "public": {"public": 0, "nat": 0, "nat-upnp": 6 * MB, ORIGIN: 2 * MB},
        "nat": {"public": 4 * MB, "nat": 0, "nat-upnp": 3 * MB, ORIGIN: 1 * MB},
        "nat-upnp": {"public": 5 * MB, "nat": 0, "nat-upnp": 0, ORIGIN: 0,
                     UNKNOWN: 3 * MB},
    }
    # within: client-2 <- client-1 (east, east) 4 MB; across: 6 + 3 + 5 MB
    assert (n.peer_bytes_within_isp, n.peer_bytes_across_isp) == (4 * MB, 14 * MB)
    assert n.cross_isp_share == pytest.approx(14 / 18)
    assert n.peer_bytes_unmatched == 3 * MB
    assert n.clients_with_peer_counts == 3


def test_without_seen_as_the_natted_senders_are_unknown() -> None:
    n = _figures(seen_as=None)
    assert n.connectivity is not None
    assert n.connectivity["public"][UNKNOWN] == 6 * MB
    assert n.by_kind["nat-upnp"].connectable_share == 0.0


def test_per_kind_offload_prefers_the_origin_s_own_counts() -> None:
    by_clients = _figures()
    assert by_clients.offload_by == "clients"
    assert by_clients.by_kind["public"].offload_measured == pytest.approx(1 - 2 / 8)
    assert by_clients.by_kind["nat"].offload_measured == pytest.approx(1 - 1 / 8)  # client-2
    by_origin = _figures(origin_sent_by_address={
        ORIGIN_ADDRESS: 0, _addr(1): 3 * MB, "198.18.1.2": MB, "198.18.1.3": MB})
    assert by_origin.offload_by == "origin"
    assert by_origin.by_kind["public"].offload_measured == pytest.approx(1 - 3 / 8)
    assert by_origin.by_kind["nat"].offload_measured == pytest.approx(1 - 2 / 12)
    assert by_origin.by_kind["nat-upnp"].offload_measured == pytest.approx(1.0)


def test_nothing_measured_says_none_rather_than_a_guess() -> None:
    n = network_figures(_plan(), OUTCOMES, {})
    assert n is not None
    assert (n.cross_isp_share, n.connectivity, n.peer_bytes_within_isp, n.offload_by) == (
        None, None, None, None)
    assert n.clients_with_peer_counts == 0
    assert all(k.offload_measured is None and k.connectable_share is None
               for k in n.by_kind.values())
    assert n.by_kind["nat"].bytes_from_peers == 10 * MB  # what was measured still shows


def test_a_plan_without_homes_has_no_network_figures() -> None:
    plan = plan_swarm(make_scenario(count=2), LOOPBACK_POOL, random.Random(1))
    assert network_figures(plan, OUTCOMES[:2], SUMMARIES) is None


def test_addresses_are_spelt_one_way() -> None:
    assert normal_address("[::ffff:10.0.0.1]") == "10.0.0.1"
    assert normal_address("FD00:19:0001::2") == "fd00:19:1::2"
    assert normal_address("fe80::1%eth0") == "fe80::1"
    assert normal_address("not-an-ip") == "not-an-ip"


def test_malformed_per_peer_entries_are_left_out() -> None:
    entries = received_by_peer({"received_by_peer": [
        {"address": "10.0.0.1", "bytes": 5, "origin": False}, {"address": 3, "bytes": 1},
        {"address": "10.0.0.2", "bytes": -1}, {"address": "10.0.0.3", "bytes": True}, "x",
        {"address": "10.0.0.4", "bytes": 7, "origin": True}]})
    assert entries is not None
    assert [(e.address, e.bytes, e.origin) for e in entries] == [
        ("10.0.0.1", 5, False), ("10.0.0.4", 7, True)]
    assert received_by_peer({"received_by_peer": "lots"}) is None
    assert received_by_peer(None) is None


# --- in the report ----------------------------------------------------------------------


def _report(network: bool = True) -> SimulationReport:
    plan = _plan()
    return SimulationReport(
        scenario=plan.scenario, seed=1, backend="docker", plan=plan,
        record=RunRecord(t0_unix=0.0, duration_s=40.0, timed_out=True,
                         fates={o.name: o.fate for o in OUTCOMES}, events=()),
        figures=swarm_figures(OUTCOMES, 8 * MB, 4 * MB, origin_bytes_measured=4 * MB,
                              origin_bytes_kernel=5 * MB, arrival_spread_s=0.31),
        outcomes=OUTCOMES, film_intact={}, throughput=(), samples={},
        network=network_figures(plan, OUTCOMES, SUMMARIES, reachability=REACHABILITY,
                                seen_as=SEEN_AS) if network else None,
    )


def test_report_json_has_by_kind_and_cross_isp_share(tmp_path: Path) -> None:
    json_path, _ = write_report(tmp_path, _report())
    report = json.loads(json_path.read_text())
    figures = report["figures"]
    assert set(figures["by_kind"]) == {"public", "nat", "nat-upnp"}
    assert set(figures["by_kind"]["nat"]) == {
        "clients", "completed", "completion_p95_from_arrival_s", "offload_measured",
        "bytes_from_peers", "bytes_from_origin", "uploaded", "connectable_share",
        "port_mapped_share"}
    assert figures["cross_isp_share"] == pytest.approx(14 / 18)
    assert figures["network"]["connectivity"]["nat"]["public"] == 4 * MB
    assert (figures["origin_bytes_kernel"], figures["arrival_spread_s"]) == (5 * MB, 0.31)
    assert report["plots"][CONNECTIVITY_PLOT[0]] == CONNECTIVITY_PLOT[1]
    assert report["scenario"]["network"]["homes"] == {"public": 0.25, "nat": 0.5,
                                                      "nat-upnp": 0.25}
    assert [c["home"]["kind"] for c in report["plan"]["clients"]] == [
        "public", "nat", "nat", "nat-upnp"]


def test_report_json_without_a_network_has_none(tmp_path: Path) -> None:
    json_path, _ = write_report(tmp_path, _report(network=False))
    figures = json.loads(json_path.read_text())["figures"]
    assert (figures["by_kind"], figures["cross_isp_share"], figures["network"]) == (
        None, None, None)


def test_markdown_has_the_table_by_kind_and_the_matrix() -> None:
    text = render_markdown(_report())
    assert "## By router kind" in text
    assert ("| nat | 2 / 1 | not reached | 87.5 % | 2.0 MB | 10.0 MB | 1.0 MB | 0.0 % "
            "| 0.0 % |") in text
    assert "| public | 1 / 1 | 20.0 s" in text
    assert "across ISPs 14.0 MB (**77.8 % of peer bytes**; locality on)" in text
    assert "from addresses that are no client 3.0 MB" in text
    assert "| received by, from | public | nat | nat-upnp | origin | unknown |" in text
    assert "| nat | 4.0 MB | 0 B | 3.0 MB | 1.0 MB | 0 B |" in text
    assert "| origin bytes counted by the kernel (with TLS, TCP/IP, resends) | 5.0 MB |" in text
    assert "| arrivals: largest gap between planned and actual start | 0.31 s |" in text
    assert f"]({CONNECTIVITY_PLOT[1]})" in text
    assert "| client-3 | fixed, nat in west | 0.0 s |" in text


def test_markdown_says_not_measured(tmp_path: Path) -> None:
    r = _report()
    assert r.network is not None
    bare = dataclasses.replace(r, network=network_figures(r.plan, OUTCOMES, {}))
    text = render_markdown(bare)
    assert "Peer bytes within vs across ISPs: not measured" in text
    assert "| nat | 2 / 1 | not reached | not measured |" in text
    assert "## Connectivity" not in text
    assert CONNECTIVITY_PLOT[1] not in text


def test_the_connectivity_heatmap_is_drawn(tmp_path: Path) -> None:
    write_plots(tmp_path, _report())
    data = (tmp_path / CONNECTIVITY_PLOT[1]).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*PLOT_FILES.values(), CONNECTIVITY_PLOT[1]])
