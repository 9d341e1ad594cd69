"""Placement: N copies over the locality networks, replaced when a host leaves or is over
quota, never over a quota; and `peernode place` issuing and revoking credentials."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from certs import generate_node_key, load_node_key, read_crl_file, revoked_serials, save_node_key
from certs.authority import CA
from certs.hosting import open_hosting_credential, read_hosting_file
from tracker.errors import ConfigError
from tracker.hosting import HostLedger, hosts_json
from tracker.locality import NetworkMap
from tracker.placement import HostEntry, plan_placement

GB = 10**9
HOSTS = [
    HostEntry("a1", "10.1.0.1", 10 * GB),
    HostEntry("a2", "10.1.0.2", 10 * GB),
    HostEntry("a3", "10.1.0.3", 10 * GB),
    HostEntry("b1", "10.2.0.1", 10 * GB),
    HostEntry("b2", "10.2.0.2", 10 * GB),
    HostEntry("c1", "10.3.0.1", 10 * GB),
]


def test_copies_are_spread_so_every_network_gets_its_own() -> None:
    plan = plan_placement("f", 4 * GB, 3, HOSTS, {})
    assert plan.networks == {"10.1.0.0/24": 1, "10.2.0.0/24": 1, "10.3.0.0/24": 1}
    assert plan.shortfall == 0
    assert len(plan.add) == 3
    plan = plan_placement("f", 4 * GB, 5, HOSTS, {})
    assert plan.networks == {"10.1.0.0/24": 2, "10.2.0.0/24": 2, "10.3.0.0/24": 1}
    # the same inputs give the same plan
    assert plan_placement("f", 4 * GB, 5, HOSTS, {}) == plan


def test_the_operators_prefix_map_names_the_networks() -> None:
    networks = NetworkMap({"10.0.0.0/8": "isp-x"})
    plan = plan_placement("f", GB, 2, HOSTS, {}, networks)
    assert plan.networks == {"isp-x": 2}


def test_a_host_that_left_is_replaced_on_another_host_of_its_network() -> None:
    first = plan_placement("f", GB, 3, HOSTS, {})
    assigned = {"f": dict.fromkeys(first.hosts, GB)}
    gone = next(n for n in first.hosts if n.startswith("b"))
    hosts = [HostEntry(h.name, h.address, h.quota_bytes, online=h.name != gone) for h in HOSTS]
    again = plan_placement("f", GB, 3, hosts, assigned)
    assert again.drop == (gone,)
    assert set(again.keep) == set(first.hosts) - {gone}
    (replacement,) = again.add
    assert replacement.startswith("b")
    assert replacement != gone


def test_quota_reached_means_no_more_placement() -> None:
    hosts = [HostEntry("a", "10.1.0.1", 5 * GB), HostEntry("b", "10.2.0.1", 5 * GB)]
    assigned = {"old": {"a": 4 * GB, "b": 4 * GB}}
    plan = plan_placement("f", 2 * GB, 2, hosts, assigned)
    assert plan.add == ()
    assert plan.shortfall == 2
    # a host already holding the film is dropped (and replaced) if other films fill it
    assigned = {"old": {"a": 4 * GB}, "f": {"a": 2 * GB}}
    roomy = [*hosts, HostEntry("c", "10.1.0.9", 5 * GB)]
    plan = plan_placement("f", 2 * GB, 1, roomy, assigned)
    assert plan.drop == ("a",)
    assert plan.add in (("b",), ("c",))


def test_bad_host_entries_are_refused() -> None:
    with pytest.raises(ConfigError, match="not an IP"):
        HostEntry("x", "nowhere", GB)
    with pytest.raises(ConfigError, match="duplicate"):
        plan_placement("f", GB, 1, [HOSTS[0], HOSTS[0]], {})


def test_hosts_json_reports_progress() -> None:
    ledger = HostLedger()
    address = bytes([10, 1, 0, 1]) + (6881).to_bytes(2, "big")
    ledger.note("f", address, uploaded_delta=0, downloaded_delta=5, left=10, stopped=False,
                now=1.0)
    doc = json.loads(hosts_json(ledger, 1.0))
    assert doc == {"films": {"f": [{"address": "10.1.0.1:6881", "left_bytes": 10,
                                    "complete": False, "uploaded_bytes": 0}]}}


PEERNODE = str(Path(sys.executable).with_name("peernode"))


def _run(*args: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([PEERNODE, *map(str, args)], capture_output=True, text=True,
                          timeout=60)
    assert "Traceback" not in proc.stderr
    return proc


def test_place_command_issues_credentials_and_revokes_the_dropped(
    tmp_path: Path, ca: CA
) -> None:
    from tests.peernode.runtime.conftest import make_torrent

    ca_dir = tmp_path / "ca"
    ca.save(ca_dir)
    torrent = make_torrent(tmp_path / "lib", "premiere", b"x" * 300_000, ca)
    rows = []
    for name, address in (("a1", "10.1.0.1"), ("a2", "10.1.0.2"), ("b1", "10.2.0.1")):
        save_node_key(tmp_path / "keys" / name, generate_node_key())
        rows.append({"name": name, "address": address, "quota_bytes": 10**6,
                     "node_pub": f"keys/{name}/node.pub"})
    hosts = tmp_path / "hosts.json"
    hosts.write_text(json.dumps({"hosts": rows}))
    state = tmp_path / "state.json"
    common = ["place", "--hosts", hosts, "--state", state, "--torrent", torrent,
              "--ca-dir", ca_dir, "--out", tmp_path / "out"]
    proc = _run(*common, "--copies", "2")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout.splitlines()[-1])
    assert plan["networks"] == {"10.1.0.0/24": 1, "10.2.0.0/24": 1}
    assert "b1" in plan["add"]
    for name in plan["add"]:
        pvh = read_hosting_file(tmp_path / "out" / name / "premiere.pvh")
        key = load_node_key(tmp_path / "keys" / name / "node.key")
        assert open_hosting_credential(pvh, key, ca.cert).film_id == "premiere"
    serial_b1 = json.loads(state.read_text())["films"]["premiere"]["hosts"]["b1"]
    # b1 leaves: replaced (no other host on its network: on 10.1), and its credential revoked
    rows[2]["online"] = False
    hosts.write_text(json.dumps({"hosts": rows}))
    proc = _run(*common, "--copies", "2")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout.splitlines()[-1])
    assert plan["drop"] == ["b1"]
    assert len(plan["add"]) == 1
    assert serial_b1 in revoked_serials(read_crl_file(ca_dir / "crl.pem"))
    bad = _run(*common, "--copies", "-1")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: ")
