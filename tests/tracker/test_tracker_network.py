"""The tracker on customers' networks, in-process over loopback: dual-stack members,
the connect-back probe, records bound to their serial, the per-serial cap."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import trio

from tracker import RunningTracker
from tracker.config import ProbePolicy
from tracker.reachability import Reachability
from tracker.swarm import compact_address

from .conftest import HttpsClient, Pki, announce_once, announce_target, bdecoded, start_tracker
from .test_tracker_server import metric_samples, wait_until

LOOP4, LOOP6 = IPv4Address("127.0.0.1"), IPv6Address("::1")
PROBING = ProbePolicy(per_ip_probes=1000, connect_timeout_s=2.0, first_retry_s=0.0)


def ports(raw: bytes, size: int) -> set[int]:
    return {int.from_bytes(raw[i + size - 2 : i + size], "big") for i in range(0, len(raw), size)}


def v6_port(tracker: RunningTracker) -> int:
    return next(port for host, port in tracker.listening if ":" in host)


async def test_one_node_over_ipv4_and_ipv6_is_one_member_and_gets_peers_and_peers6(
    pki: Pki,
) -> None:
    ih = pki.films["film-a"].info_hash
    _, ctx_a = pki.rental_context("film-a")
    _, ctx_b = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, more_listen=(("::1", 0),))
        port6 = v6_port(tracker)
        # node 1 announces once per listen socket, as libtorrent does: same serial, peer id
        await announce_once(tracker.port, ctx_a, announce_target(ih, 1))
        first = await announce_once(port6, ctx_a, announce_target(ih, 1), host="::1")
        assert first[b"incomplete"] == 1
        # node 2, also over both families
        await announce_once(tracker.port, ctx_b, announce_target(ih, 2))
        got = await announce_once(port6, ctx_b, announce_target(ih, 2), host="::1")
        assert got[b"incomplete"] == 2  # two nodes, four announces
        assert got[b"peers"] == compact_address(LOOP4, 20001)
        assert got[b"peers6"] == compact_address(LOOP6, 20001)
        assert metric_samples(tracker, "tracker_leechers") == {("film-a",): 2.0}
        assert metric_samples(tracker, "tracker_peers") == {(): 2.0}
        networks = metric_samples(tracker, "tracker_network_peer_addresses")
        assert networks == {("127.0.0.0/24",): 2.0, ("::/48",): 2.0}
        tracker.shutdown()


async def test_dual_stack_host_serves_both_families_on_one_port(pki: Pki) -> None:
    ih = pki.films["film-a"].info_hash
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, listen_host="::")
        assert sorted(tracker.listening) == [("0.0.0.0", tracker.port), ("::", tracker.port)]
        await announce_once(tracker.port, ctx, announce_target(ih, 1))
        body = await announce_once(tracker.port, ctx, announce_target(ih, 1), host="::1")
        assert body[b"incomplete"] == 1
        tracker.shutdown()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there any more


async def accept_forever(listener: trio.SocketListener, accepted: list[str]) -> None:
    while True:
        stream = await listener.accept()
        accepted.append(stream.socket.getsockname()[0])
        await stream.aclose()


async def test_probe_classes_closed_and_listening_ports_and_unreachable_is_never_given(
    pki: Pki,
) -> None:
    ih = pki.films["film-a"].info_hash
    rentals = [pki.rental_context("film-a")[1] for _ in range(3)]
    dead = closed_port()
    async with trio.open_nursery() as nursery:
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        live = listener.socket.getsockname()[1]
        accepted: list[str] = []
        nursery.start_soon(accept_forever, listener, accepted)
        tracker = await start_tracker(nursery, pki, probe=PROBING, metrics_host="127.0.0.1")
        table = tracker.service.swarms.reachability

        def target(n: int, port: int) -> bytes:
            return announce_target(ih, n, left=0, port=port)

        await announce_once(tracker.port, rentals[0], target(1, dead))
        await announce_once(tracker.port, rentals[1], target(2, live))
        dead_at, live_at = compact_address(LOOP4, dead), compact_address(LOOP4, live)
        await wait_until(lambda: table.class_of(dead_at) is Reachability.UNREACHABLE)
        await wait_until(lambda: table.class_of(live_at) is Reachability.CONNECTABLE)
        # the probe's connect is done before the listener's task has accepted it
        await wait_until(lambda: accepted == ["127.0.0.1"])
        for _ in range(5):  # the leecher is given the connectable seeder, never the other
            body = await announce_once(tracker.port, rentals[2], announce_target(ih, 3))
            assert ports(body[b"peers"], 6) == {live}
        # the leecher itself (port 20003: closed) is probed too
        await wait_until(lambda: table.counters.failed == 2)
        probes = metric_samples(tracker, "tracker_probes_total")
        assert probes == {("sent",): 3.0, ("ok",): 1.0, ("failed",): 2.0, ("rate_limited",): 0.0}
        classes = metric_samples(tracker, "tracker_peer_addresses")
        assert classes == {("connectable",): 1.0, ("unknown",): 0.0, ("unreachable",): 2.0}
        assert metric_samples(tracker, "tracker_probe_seconds_total")[()] > 0
        tracker.shutdown()
        nursery.cancel_scope.cancel()


async def test_probe_goes_to_the_connection_address_never_to_the_ip_parameter(pki: Pki) -> None:
    ih = pki.films["film-a"].info_hash
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        (own,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = own.socket.getsockname()[1]
        (named,) = await trio.open_tcp_listeners(port, host="127.0.0.2")  # a "third party"
        accepted: list[str] = []
        nursery.start_soon(accept_forever, own, accepted)
        nursery.start_soon(accept_forever, named, accepted)
        tracker = await start_tracker(nursery, pki, probe=PROBING)
        extra: dict[str, Any] = {"ip": "127.0.0.2", "ipv4": "127.0.0.2", "port": port}
        await announce_once(tracker.port, ctx, announce_target(ih, 1, **extra))
        table = tracker.service.swarms.reachability
        await wait_until(lambda: table.counters.ok == 1)
        await trio.sleep(0.2)  # room for a stray connect to show up (there is none)
        assert accepted == ["127.0.0.1"]
        assert table.counters.sent == 1
        tracker.shutdown()
        nursery.cancel_scope.cancel()


async def test_another_serial_cannot_stop_or_replace_the_origin(pki: Pki) -> None:
    ih = pki.films["film-a"].info_hash
    seeder = pki.ca.issue_seeder()
    origin = pki.client_context(seeder.cert_pem, seeder.key_pem)
    _, attacker = pki.rental_context("film-a")
    _, viewer = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        await announce_once(tracker.port, origin, announce_target(ih, 1, left=0))
        for event in ("stopped", "started"):
            body = await announce_once(
                tracker.port, attacker, announce_target(ih, 1, left=0, event=event, port=9)
            )
            assert body[b"failure reason"] == b"peer id in use by another rental"
            assert b"peers" not in body
        body = await announce_once(tracker.port, viewer, announce_target(ih, 2))
        assert body[b"peers"] == compact_address(LOOP4, 20001)  # still there, unchanged
        assert (body[b"complete"], body[b"incomplete"]) == (1, 1)
        refusals = metric_samples(tracker, "tracker_swarm_refusals_total")
        assert refusals == {("other_owner",): 2.0}
        tracker.shutdown()


async def test_two_thousand_peer_ids_of_one_serial_leave_room_for_everyone_else(
    pki: Pki,
) -> None:
    ih = pki.films["film-a"].info_hash
    _, sybil = pki.rental_context("film-a")
    honest = [pki.rental_context("film-a")[1] for _ in range(6)]
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        client = await HttpsClient.connect(tracker.port, sybil)
        refused = 0
        for n in range(2000):  # one keep-alive connection: 2,000 announces
            _, raw = await client.get(announce_target(ih, 1000 + n, left=0))
            refused += b"failure reason" in bdecoded(raw)
        await client.aclose()
        assert refused == 2000 - 4  # the default cap: 4 peer ids per serial per swarm
        for n, ctx in enumerate(honest):
            await announce_once(tracker.port, ctx, announce_target(ih, n, left=0))
        _, newcomer = pki.rental_context("film-a")
        body = await announce_once(tracker.port, newcomer, announce_target(ih, 99, numwant=8))
        got = ports(body[b"peers"], 6)
        assert len(got) == 8
        assert len(got & set(range(21000, 23000))) <= 2  # the sybil's at most 2 of 8
        tracker.shutdown()


async def test_a_port_mapped_after_the_first_announce_is_found_by_the_retry(pki: Pki) -> None:
    """A node announces as it starts, before its router has mapped its port (seen in the
    home-router lab): the first probe fails; one retry, without waiting for the next
    announce, finds the mapping. A port that stays closed is retried once, not forever."""
    ih = pki.films["film-a"].info_hash
    rental = pki.rental_context("film-a")[1]
    stays_closed = pki.rental_context("film-a")[1]
    port, never = closed_port(), closed_port()
    policy = ProbePolicy(per_ip_probes=1000, connect_timeout_s=2.0, first_retry_s=1.0)
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, probe=policy)
        table = tracker.service.swarms.reachability
        address = compact_address(LOOP4, port)
        await announce_once(tracker.port, rental, announce_target(ih, 1, left=0, port=port))
        await announce_once(tracker.port, stays_closed,
                            announce_target(ih, 2, left=0, port=never))
        await wait_until(lambda: table.counters.failed == 2)
        # one failure, retry pending: not yet evidence, so still unknown (handed out last)
        assert table.class_of(address) is Reachability.UNKNOWN
        # the "router" maps the port now; nobody announces again
        listener = trio.socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        await listener.bind(("127.0.0.1", port))
        listener.listen()
        await wait_until(lambda: table.class_of(address) is Reachability.CONNECTABLE,
                         timeout_s=10)
        await trio.sleep(2.5)  # past a second retry, were there one
        assert table.counters.sent == 4  # two first probes, one retry each
        assert table.class_of(compact_address(LOOP4, never)) is Reachability.UNREACHABLE
        listener.close()
        tracker.shutdown()
        nursery.cancel_scope.cancel()
