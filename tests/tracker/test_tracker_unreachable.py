"""``/unreachable.json`` (the IPs the origin deprioritizes) and ``--metrics-allow`` (who
may use the metrics listener): the pure rule, the configuration, and a real tracker."""

from __future__ import annotations

import json
import logging
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest
import trio

from tracker.config import ProbePolicy, TrackerConfig
from tracker.errors import ConfigError
from tracker.metrics_routes import metrics_peer_allowed
from tracker.reachability import Reachability, ReachabilityTable
from tracker.server import RunningTracker
from tracker.unreachable import unreachable_document, unreachable_json

from .conftest import Pki, start_tracker
from .test_tracker_locality_members import PATHS
from .test_tracker_server import metric_samples, wait_until

C, U, K = Reachability.CONNECTABLE, Reachability.UNREACHABLE, Reachability.UNKNOWN


def addr(ip: str, port: int) -> bytes:
    """A compact address (as the swarm stores it, without mapping IPv4)."""
    return ip_address(ip).packed + port.to_bytes(2, "big")


def listed(*seen: tuple[bytes, Reachability]) -> list[str]:
    return unreachable_document(seen)["unreachable"]


# -- pure: the rule ---------------------------------------------------------------------


def test_an_ip_whose_only_addresses_are_unreachable_is_listed() -> None:
    assert listed((addr("192.0.2.7", 6881), U), (addr("192.0.2.7", 6882), U)) == ["192.0.2.7"]


def test_an_ip_with_a_connectable_port_is_not_listed_whatever_the_order() -> None:
    # CGNAT: two customers behind one IP, one of them connectable
    unreachable, connectable = (addr("198.51.100.1", 1000), U), (addr("198.51.100.1", 2000), C)
    assert listed(unreachable, connectable) == []
    assert listed(connectable, unreachable) == []


def test_unknown_is_not_listed_nor_lets_its_ip_be() -> None:
    assert listed((addr("203.0.113.5", 1), K)) == []
    assert listed((addr("203.0.113.5", 1), U), (addr("203.0.113.5", 2), K)) == []
    assert listed((addr("203.0.113.5", 2), K), (addr("203.0.113.5", 1), U)) == []
    assert listed((addr("203.0.113.6", 1), C)) == []


def test_ipv6_is_spelled_canonically_and_sorted_after_ipv4_by_address() -> None:
    seen = [
        (addr("2001:db8::10", 1), U),
        (addr("2001:0db8:0000::2", 1), U),
        (addr("10.0.0.10", 1), U),
        (addr("10.0.0.9", 1), U),
        (addr("2001:db8::3", 1), C),
    ]
    assert listed(*seen) == ["10.0.0.9", "10.0.0.10", "2001:db8::2", "2001:db8::10"]


def test_an_ipv4_mapped_address_is_its_ipv4_address() -> None:
    assert listed((addr("::ffff:192.0.2.1", 80), U)) == ["192.0.2.1"]
    # and counts with the plain IPv4 address: one connectable keeps both out
    assert listed((addr("::ffff:192.0.2.1", 80), U), (addr("192.0.2.1", 81), C)) == []
    assert listed((addr("::ffff:192.0.2.1", 80), U), (addr("192.0.2.1", 81), U)) == ["192.0.2.1"]


def test_only_addresses_known_now_count() -> None:
    table = ReachabilityTable(ProbePolicy(first_retry_s=0))
    gone, stopped, here = addr("192.0.2.1", 1), addr("192.0.2.2", 1), addr("192.0.2.3", 1)
    for a in (gone, stopped, here):
        table.note(a, 0.0)
        table.record(a, False, 0.0)
    table.note(here, 500.0)
    table.forget(stopped)  # its peer stopped
    table.expire(600.0, peer_ttl_s=600.0)  # ``gone`` last announced 600 s ago
    assert table.classes[gone] is U  # its result is still kept...
    assert json.loads(unreachable_json(table.seen_classes())) == {"unreachable": ["192.0.2.3"]}


def test_a_first_failure_awaiting_its_retry_is_not_listed() -> None:
    table = ReachabilityTable(ProbePolicy(first_retry_s=20))
    a = addr("192.0.2.1", 1)
    table.note(a, 0.0)
    table.record(a, False, 0.0)
    assert listed(*table.seen_classes()) == []
    table.record(a, False, 20.0)  # the retry failed too
    assert listed(*table.seen_classes()) == ["192.0.2.1"]


# -- pure: who may connect --------------------------------------------------------------


def test_the_allow_list_matches_mapped_ipv4_as_ipv4_and_implies_no_loopback() -> None:
    allowed = (ip_network("10.0.0.0/8"), ip_network("2001:db8::/32"))
    assert metrics_peer_allowed("10.1.2.3", allowed)
    assert metrics_peer_allowed("::ffff:10.1.2.3", allowed)
    assert metrics_peer_allowed("2001:db8::1", allowed)
    assert not metrics_peer_allowed("11.0.0.1", allowed)
    assert not metrics_peer_allowed("::ffff:11.0.0.1", allowed)
    assert not metrics_peer_allowed("127.0.0.1", allowed)
    assert not metrics_peer_allowed("::1", allowed)
    assert not metrics_peer_allowed("not an address", allowed)
    assert metrics_peer_allowed("203.0.113.1", None)  # no list: anyone


def test_metrics_allow_from_flags_and_toml_and_bad_prefixes(tmp_path: Path) -> None:
    assert TrackerConfig.from_mapping({}, **PATHS).metrics_networks() is None
    f = tmp_path / "tracker.toml"
    f.write_text('metrics_allow = ["10.0.0.0/8", "::1/128"]\n')
    config = TrackerConfig.from_toml(f, **PATHS)
    assert config.metrics_networks() == (ip_network("10.0.0.0/8"), ip_network("::1/128"))
    # the command line wins over the file
    config = TrackerConfig.from_toml(f, metrics_allow=("127.0.0.2",), **PATHS)
    assert config.metrics_networks() == (ip_network("127.0.0.2/32"),)
    for text, message in [
        ('metrics_allow = "10.0.0.0/8"', "metrics_allow must be a list of strings"),
        ("metrics_allow = [8]", "metrics_allow must be a list of strings"),
        ('metrics_allow = ["10.0.0.1/8"]', "metrics_allow: '10.0.0.1/8' is not a CIDR"),
        ('metrics_allow = ["nowhere"]', "metrics_allow: 'nowhere' is not a CIDR"),
        ("metrics_allow = []", "metrics_allow lists no CIDR prefix"),
    ]:
        f.write_text(text + "\n")
        with pytest.raises(ConfigError, match=message):
            TrackerConfig.from_toml(f, **PATHS)


# -- a real tracker ---------------------------------------------------------------------


async def _http_get(port: int, path: str, *, source: str) -> bytes:
    """A GET on the metrics listener from the loopback address ``source``; every byte the
    server sent until it closed (the whole response, or nothing)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
    received = b""
    try:
        await stream.send_all(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        with trio.fail_after(5):
            while chunk := await stream.receive_some(65536):
                received += chunk
    except trio.BrokenResourceError:  # reset: the request was never read
        pass
    finally:
        await trio.aclose_forcefully(stream)
    return received


def _refused(tracker: RunningTracker) -> float:
    return metric_samples(tracker, "tracker_metrics_refused_connections_total")[()]


async def test_metrics_allow_serves_the_allowed_and_closes_on_anyone_else(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tracker")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(
            nursery, pki, metrics_host="127.0.0.1", metrics_allow=("127.0.0.2/32",),
            probe=ProbePolicy(enabled=False, first_retry_s=0),
        )
        table, now = tracker.service.swarms.reachability, trio.current_time()
        for address, connected in [
            (addr("192.0.2.1", 6881), False),
            (addr("192.0.2.2", 6881), False),
            (addr("192.0.2.2", 6882), True),  # one IP, one connectable customer
        ]:
            table.note(address, now)
            table.record(address, connected, now)
        port = tracker.metrics_port
        assert port is not None

        response = await _http_get(port, "/unreachable.json", source="127.0.0.2")
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"application/json" in head
        assert json.loads(body) == {"unreachable": ["192.0.2.1"]}
        assert _refused(tracker) == 0

        # from 127.0.0.1 (loopback, but not listed): closed at accept, before any byte
        # of a request is read, so a client that sends nothing sees the close
        silent = await trio.open_tcp_stream("127.0.0.1", port, local_address="127.0.0.1")
        await wait_until(lambda: _refused(tracker) == 1)
        with trio.fail_after(5):
            assert await silent.receive_some(65536) == b""
        await trio.aclose_forcefully(silent)
        # and one that sends a request gets no HTTP response at all
        assert await _http_get(port, "/unreachable.json", source="127.0.0.1") == b""
        assert await _http_get(port, "/metrics", source="127.0.0.1") == b""
        await wait_until(lambda: _refused(tracker) == 3)
        assert "refused 1 connection(s) from outside --metrics-allow, the last from 127.0.0.1" \
            in caplog.text
        assert caplog.text.count("--metrics-allow") == 1  # at most one line per 10 s

        # the tracker keeps serving the allowed peer
        response = await _http_get(port, "/metrics", source="127.0.0.2")
        assert response.startswith(b"HTTP/1.1 200 ")
        assert b"tracker_metrics_refused_connections_total 3.0" in response
        response = await _http_get(port, "/nothing", source="127.0.0.2")
        assert response.startswith(b"HTTP/1.1 404 ")
        assert b"/unreachable.json" in response
        tracker.shutdown()
