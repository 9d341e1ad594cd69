"""`peernode demo` is the simulator's built-in demo scenario on the local backend."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sim.demo import DEMO_POOL, DemoConfig, demo_plan, demo_scenario
from support.processes import peernode_argv

# `peernode demo --json` of the version before the demo became a scenario: every key stays.
REPORT_KEYS = {"ok", "film_bytes", "clients", "origin_bytes", "delivered_bytes",
               "origin_copies", "offload", "offload_limit"}
# Added since: the origin's own count of what it sent, and the clients' view beside it.
MEASURED_KEYS = {"origin_bytes_measured", "origin_copies_measured", "offload_measured",
                 "origin_copies_attributed", "attribution_gap"}
CLIENT_KEYS = {"name", "address", "seconds", "bytes_from_origin", "bytes_from_peers",
               "bytes_uploaded", "decrypted_ok"}


def test_the_demo_scenario_is_package_data_sized_by_the_flags() -> None:
    scenario = demo_scenario(DemoConfig(clients=3), film_bytes=4_000_000)
    assert scenario.name == "demo"
    assert scenario.film_bytes == 4_000_000
    assert scenario.origin.upload_bps == 4_000_000
    assert scenario.origin.super_seed
    assert scenario.clients.count == 3
    assert [(link.upload_bps, link.download_bps) for link in scenario.clients.links] == [
        (4_000_000, 0)]


def test_the_demo_plan_starts_clients_a_second_apart_on_127_0_0_10_onwards() -> None:
    plan = demo_plan(demo_scenario(DemoConfig(clients=3), film_bytes=1_000_000))
    assert (plan.addresses.tracker_host, plan.addresses.origin_host) == ("127.0.0.1",
                                                                        "127.0.0.2")
    assert [c.name for c in plan.clients] == ["client-1", "client-2", "client-3"]
    assert [c.address for c in plan.clients] == ["127.0.0.10", "127.0.0.11", "127.0.0.12"]
    assert [c.arrival_s for c in plan.clients] == [0.0, 1.0, 2.0]
    assert DEMO_POOL.capacity == 200


def test_demo_json_keeps_every_key_and_exits_0(tmp_path: Path) -> None:
    done = subprocess.run(peernode_argv("demo", "--clients", "2", "--size", "4", "--json",
                                        "--workdir", tmp_path / "demo"),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == REPORT_KEYS | MEASURED_KEYS
    assert report["ok"] is True
    assert report["origin_bytes_measured"] >= report["film_bytes"]
    assert report["origin_copies"] == report["origin_copies_measured"]
    assert report["offload"] == report["offload_measured"]
    assert abs(report["attribution_gap"]) <= 0.03
    assert report["film_bytes"] == 4_000_000
    assert report["offload_limit"] == 0.5
    assert [set(c) for c in report["clients"]] == [CLIENT_KEYS, CLIENT_KEYS]
    assert [c["address"] for c in report["clients"]] == ["127.0.0.10", "127.0.0.11"]
    assert all(c["decrypted_ok"] for c in report["clients"])
    assert "origin seeder on 127.0.0.2:" in done.stderr


def test_demo_refuses_a_bad_client_count_in_one_line() -> None:
    done = subprocess.run(peernode_argv("demo", "--clients", "0"), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["error: --clients must be between 1 and 200"]


def test_demo_text_shows_the_origins_count_beside_the_clients_attribution() -> None:
    from peernode.cli.demo import _origin_summary
    from sim.demo import ClientResult, DemoReport

    clients = [ClientResult(f"client-{i}", "127.0.0.1", 1.0, 500, 500, 0, True)
               for i in (1, 2)]
    measured = _origin_summary(DemoReport(1000, clients, origin_bytes_measured=1200))
    assert "origin sent 1.20 copies (its own count; the clients attribute 1.00)" in measured
    assert "CDN offload 40.0%" in measured
    unread = _origin_summary(DemoReport(1000, clients))
    assert "1.00 copies as the clients attribute them" in unread
