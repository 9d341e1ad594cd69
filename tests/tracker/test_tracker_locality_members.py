"""Locality on and off, peers handed out within vs across networks, and the operator's
``/members.json`` and ``/unreachable.json`` (on the metrics listener only, never on the
TLS announce port)."""

from __future__ import annotations

import argparse
import json
import random
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import trio

from tracker.cli import config_from_args, register
from tracker.config import ProbePolicy, SwarmPolicy, TrackerConfig
from tracker.errors import ConfigError

from .conftest import HttpsClient, Pki, announce_once, announce_target, issue_rental
from .test_tracker_peer_selection import NETS, member, shape, v4
from .test_tracker_server import metric_samples

# -- pure: the switch and the counts ----------------------------------------------------


def test_locality_off_is_blind_to_networks_and_both_count_the_scopes() -> None:
    local = [member(v4(f"10.0.0.{n + 2}")) for n in range(100)]
    remote = [member(v4(f"10.{n + 1}.0.1")) for n in range(100)]
    me = member(v4("10.0.0.1"))
    rng = random.Random(7)
    on = off = 0
    for _ in range(40):
        candidates = local + remote
        rng.shuffle(candidates)
        got_on, _ = shape(me, candidates, 20, local_share=0.75)
        got_off, _ = shape(me, candidates, 20, local_share=0.75, locality=False)
        on += sum(a[:3] == bytes([10, 0, 0]) for a in got_on)
        off += sum(a[:3] == bytes([10, 0, 0]) for a in got_off)
        # off: the first 20 of the sample, in its order
        assert got_off == [c[20:26] for c in candidates[:20]]
    assert on == 40 * 15
    assert 0.35 < off / (40 * 20) < 0.65  # about the sample's half, not 75 %


@pytest.mark.parametrize("locality", [True, False])
def test_a_list_says_how_many_of_its_members_share_the_network(locality: bool) -> None:
    from tracker.peer_selection import ListShape, shape_peer_list

    me = member(v4("10.0.0.1"))
    origin = member(v4("192.0.2.1"))
    candidates = [member(v4("10.0.0.7")), member(v4("10.0.0.8")), member(v4("10.5.0.1"))]
    listed = shape_peer_list(
        me, [origin], candidates, ListShape(10, locality=locality), {}, NETS
    )
    assert (listed.same_network, listed.other_network) == (2, 2)  # the origin is elsewhere
    assert len(listed.peers) == 4 * 6


# -- configuration: TOML and --no-locality ----------------------------------------------

PATHS = {
    "ca_path": Path("/ca.pem"),
    "cert_path": Path("/s.pem"),
    "key_path": Path("/s.key"),
    "library_dir": Path("/lib"),
}


def test_locality_is_on_by_default_and_off_from_toml(tmp_path: Path) -> None:
    assert SwarmPolicy().locality is True
    f = tmp_path / "tracker.toml"
    f.write_text("[swarm]\nlocality = false\n")
    assert TrackerConfig.from_toml(f, **PATHS).swarm.locality is False
    f.write_text('[swarm]\nlocality = "no"\n')
    with pytest.raises(ConfigError, match=r"swarm\.locality must be bool"):
        TrackerConfig.from_toml(f, **PATHS)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    base = ["tracker", "--ca", "/ca.pem", "--cert", "/s.pem", "--key", "/s.key",
            "--library", "/lib", "--no-crl", "--listen", "127.0.0.1:0"]
    return parser.parse_args([*base, *argv])


def test_no_locality_flag_turns_it_off_over_the_file(tmp_path: Path) -> None:
    assert config_from_args(_args()).swarm.locality is True
    f = tmp_path / "tracker.toml"
    f.write_text("[swarm]\nlocal_share = 0.5\n")
    config = config_from_args(_args("--config", str(f), "--no-locality"))
    assert config.swarm.locality is False
    assert config.swarm.local_share == 0.5  # the rest of the file is kept


# -- the running tracker: metric and /members.json --------------------------------------


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


async def test_members_and_scopes_on_the_metrics_listener(pki: Pki) -> None:
    film = pki.films["film-a"]
    async with trio.open_nursery() as nursery:
        # a real connect-back probe: port 20001 listens (connectable), 20002 does not
        listener = (await trio.open_tcp_listeners(20001, host="127.0.0.1"))[0]
        tracker = await nursery.start(
            _serve, pki.config(metrics_host="127.0.0.1", probe=ProbePolicy(first_retry_s=0))
        )
        seeder = pki.ca.issue_seeder()
        origin = pki.client_context(seeder.cert_pem, seeder.key_pem)
        await announce_once(tracker.port, origin, announce_target(film.info_hash, 9, left=0),
                            local_address="127.0.0.1")
        contexts = [pki.rental_context("film-a")[1] for _ in range(3)]
        # two members on 127.0.0.0/24, one on 127.0.1.0/24 (another network by default)
        for n, (ctx, source) in enumerate(
            zip(contexts, ["127.0.0.1", "127.0.0.1", "127.0.1.1"], strict=True), start=1
        ):
            await announce_once(tracker.port, ctx, announce_target(film.info_hash, n),
                                local_address=source)
        url = f"http://127.0.0.1:{tracker.metrics_port}"
        with trio.fail_after(10):  # the probes run in the background
            while True:
                status, body = await trio.to_thread.run_sync(_get, url + "/members.json")
                doc = json.loads(body)
                classes = sorted(m["reachability"] for m in doc["films"].get("film-a", []))
                if classes == ["connectable", "unreachable", "unreachable"]:
                    break
                await trio.sleep(0.1)
        # what the origin polls: 127.0.1.1's only address failed its probe; 127.0.0.1 has
        # one too, but also a connectable one (customers behind one NAT), so it is kept off
        _, unreachable = await trio.to_thread.run_sync(_get, url + "/unreachable.json")
        # with the classes known, member 1 (127.0.0.1) is given the origin (also on
        # 127.0.0.0/24) and nobody else (2 and 3 are unreachable); member 3 (127.0.1.1)
        # the origin and member 1, both on another network
        before = metric_samples(tracker, "tracker_peers_handed_out_total")
        for n, source in ((1, "127.0.0.1"), (3, "127.0.1.1")):
            await announce_once(tracker.port, contexts[n - 1],
                                announce_target(film.info_hash, n), local_address=source)
        after = metric_samples(tracker, "tracker_peers_handed_out_total")
        assert {k: after[k] - before[k] for k in after} == {
            ("same_network",): 1.0,
            ("other_network",): 2.0,
        }

        # on the TLS announce port the path is unknown, even to a valid rental
        rental = issue_rental(pki.ca, "film-a")
        client = await HttpsClient.connect(
            tracker.port, pki.client_context(rental.cert_pem, rental.key_pem)
        )
        tls_status, tls_body = await client.get(b"/members.json", close=True)
        await client.aclose()
        other_status, _ = await trio.to_thread.run_sync(_get, url + "/members")
        tracker.shutdown()
        listener.socket.close()
    assert status == 200
    assert tls_status == 404
    assert b"films" not in tls_body
    assert b"127.0." not in tls_body
    assert other_status == 404
    assert json.loads(unreachable) == {"unreachable": ["127.0.1.1"]}
    members = doc["films"]["film-a"]
    assert list(doc) == ["films"]
    assert list(doc["films"]) == ["film-a"]
    assert all(sorted(m) == ["addresses", "host", "network", "reachability"] for m in members)
    assert not any(m["host"] for m in members)
    by_class = {(m["addresses"][0], m["reachability"]): m["network"] for m in members}
    assert by_class == {
        ("127.0.0.1", "connectable"): "127.0.0.0/24",  # port 20001 listens
        ("127.0.0.1", "unreachable"): "127.0.0.0/24",
        ("127.0.1.1", "unreachable"): "127.0.1.0/24",
    }
    text = body.decode()
    assert "serial" not in text
    assert "peer" not in text
    assert "2000" not in text


async def _serve(config: TrackerConfig, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    from tracker.server import serve_tracker

    await serve_tracker(config, task_status=task_status)
