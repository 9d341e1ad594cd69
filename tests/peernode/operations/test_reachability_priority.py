"""Customers the tracker found unreachable get the origin's bytes last: the pure rules,
and a real origin that reads the list over HTTP and serves one of two customers last."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trio

from certs import generate_node_key
from certs.authority import CA, load_content_key, make_rental_bundle
from peernode.errors import PeernodeError
from peernode.operations.origin import OriginConfig, serve_origin
from peernode.operations.origin_reachability import reachability_url
from peernode.operations.packaging import package_film
from peernode.operations.reachability_priority import (
    ClassRule,
    class_rules,
    parse_unreachable,
    reachability_change,
)
from peernode.runtime.node import NodeConfig, open_node

REACHABLE_IP, UNREACHABLE_IP = "127.0.0.60", "127.0.0.61"


def test_every_address_is_reachable_but_the_listed_ones() -> None:
    rules = class_rules({"203.0.113.7", "2001:db8::7"}, limit_local_peers=True)
    both = frozenset({"global", "reachable"})
    assert rules[:2] == [ClassRule("0.0.0.0", "255.255.255.255", both),
                         ClassRule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", both)]
    assert rules[2:] == [ClassRule("2001:db8::7", "2001:db8::7", frozenset({"global"})),
                         ClassRule("203.0.113.7", "203.0.113.7", frozenset({"global"}))]


def test_private_ranges_stay_unlimited_unless_local_peers_are_limited() -> None:
    rules = class_rules({"10.1.2.3", "203.0.113.7"}, limit_local_peers=False)
    assert ClassRule("10.0.0.0", "10.255.255.255", frozenset({"local"})) in rules
    assert ClassRule("::1", "::1", frozenset({"local"})) in rules
    # a private address is in the unlimited local class, where a priority does nothing
    assert [r.first for r in rules if r.classes == {"global"}] == ["203.0.113.7"]
    assert not any(r.classes == {"local"}
                   for r in class_rules((), limit_local_peers=True))


def test_the_trackers_list_is_read_in_one_spelling() -> None:
    body = json.dumps({"unreachable": ["10.87.1.2", "::ffff:10.87.1.3", "fd00:87::1:2",
                                       "[fd00:87::1:3]"]}).encode()
    assert parse_unreachable(body) == {"10.87.1.2", "10.87.1.3", "fd00:87::1:2",
                                       "fd00:87::1:3"}
    assert parse_unreachable(b'{"unreachable": []}') == frozenset()


@pytest.mark.parametrize(("body", "error"), [
    (b"<html>", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b'{"films": {}}', 'not {"unreachable"'),
    (b'["10.0.0.1"]', 'not {"unreachable"'),
    (b'{"unreachable": ["10.0.0.1", "nope"]}', "an entry is not an IP address"),
    (b'{"unreachable": [7]}', "an entry is not an IP address"),
])
def test_a_bad_list_is_refused_in_one_line(body: bytes, error: str) -> None:
    with pytest.raises(ValueError, match="^" + error.replace("[", r"\[")) as e:
        parse_unreachable(body)
    assert "\n" not in str(e.value)


def test_only_connected_customers_whose_class_changed_are_reconnected() -> None:
    assert reachability_change(frozenset({"a"}), frozenset({"a"}), ["a"]) is None
    before, now = frozenset({"10.0.0.1", "10.0.0.2"}), frozenset({"10.0.0.2", "10.0.0.3"})
    change = reachability_change(before, now, ["10.0.0.1", "10.0.0.2", "::ffff:10.0.0.3",
                                               "10.0.0.4"])
    assert change is not None
    assert change.unreachable == now
    # .1 left the list and .3 joined it (seen as IPv4-mapped); .2 and .4 stay as they were
    assert change.reconnect == {"10.0.0.1", "10.0.0.3"}


def test_the_origin_takes_only_an_http_url() -> None:
    assert reachability_url("http://10.0.0.2:9101/") == "http://10.0.0.2:9101/unreachable.json"
    with pytest.raises(PeernodeError, match="metrics listener"):
        reachability_url("10.0.0.2:9101")


class _Tracker(ThreadingHTTPServer):
    """Stands in for the tracker's metrics listener: serves ``listed`` and counts GETs."""

    listed: list[str]
    reads: int


class _Handler(BaseHTTPRequestHandler):
    server: _Tracker

    def do_GET(self) -> None:
        self.server.reads += 1
        found = self.path == "/unreachable.json"
        body = json.dumps({"unreachable": self.server.listed}).encode() if found else b""
        self.send_response(200 if found else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tracker_list() -> Iterator[_Tracker]:
    server = _Tracker(("127.0.0.1", 0), _Handler)
    server.listed, server.reads = [], 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_an_unreachable_customer_gets_the_origins_bytes_last(
    tmp_path: Path, ca: CA, tracker_list: _Tracker, caplog: pytest.LogCaptureFixture
) -> None:
    """Two customers download from a capped origin only (no tracker, so they never meet).
    Once the tracker's list names one of them, the origin remakes its connection under
    the low class, and while both want bytes the other gets most of the cap; when the
    other has finished, the unreachable one gets the whole cap and finishes too."""
    caplog.set_level(logging.INFO, logger="peernode.operations.origin")
    (tmp_path / "film.bin").write_bytes(os.urandom(6 << 20))
    ca.save(tmp_path / "ca")
    packaged = package_film(tmp_path / "film.bin", film_id="film-a", ca_dir=tmp_path / "ca",
                            tracker_url="https://127.0.0.1:9/announce",
                            library=tmp_path / "lib", mime_type="video/mp4")
    content_key = load_content_key(tmp_path / "ca", "film-a")
    seeder = ca.issue_seeder(now=datetime.now(UTC) - timedelta(hours=1))
    config = OriginConfig(tmp_path / "lib", seeder.cert_pem, seeder.key_pem,
                          upload_rate_bps=1_000_000, limit_local_peers=True,
                          reachability_url=f"http://127.0.0.1:{tracker_list.server_port}"
                          "/unreachable.json", reachability_poll_s=0.2)
    async with trio.open_nursery() as nursery:
        _host, port = await nursery.start(serve_origin, config)
        downloads = []
        async with open_node(NodeConfig(listen_host=REACHABLE_IP, port_mapping=False)) as a, \
                open_node(NodeConfig(listen_host=UNREACHABLE_IP, port_mapping=False)) as b:
            for node, name in ((a, "reachable"), (b, "unreachable")):
                key = generate_node_key()
                now = datetime.now(UTC)
                cert = ca.issue_rental("film-a", key.public_key(),
                                       not_before=now - timedelta(hours=1),
                                       not_after=now + timedelta(hours=2))
                downloads.append(await node.fetch(
                    packaged.torrent_path, make_rental_bundle(cert, content_key), key,
                    save_dir=tmp_path / name, peers=[("127.0.0.1", port)]))
            reachable, unreachable = downloads
            with trio.fail_after(30):  # both are served alike until the tracker knows
                while min(d.stats().done_bytes for d in downloads) < 256 << 10:
                    await trio.sleep(0.1)
            tracker_list.listed = [UNREACHABLE_IP]
            with trio.fail_after(30):
                while "(1 reconnected)" not in caplog.text:
                    await trio.sleep(0.1)
            start = [d.stats().done_bytes for d in downloads]
            with trio.fail_after(60):
                await reachable.complete()
            gained = [d.stats().done_bytes - s for d, s in zip(downloads, start, strict=True)]
            with trio.fail_after(60):  # served at the whole cap now: not starved
                await unreachable.complete()
        nursery.cancel_scope.cancel()
    assert "1 customer IPs the tracker found unreachable are served last" in caplog.text
    # 10:1 priorities: about a tenth of the reachable customer's bytes while both wanted
    assert gained[1] < 0.35 * gained[0], gained
