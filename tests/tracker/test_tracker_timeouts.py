"""Time in the server, on trio's autojump clock: timeouts, peer expiry, graceful shutdown."""

from __future__ import annotations

import trio
import trio.testing

from tracker import SwarmPolicy

from .conftest import HttpsClient, Pki, announce_target, start_tracker


async def closed_after(stream: trio.abc.ReceiveStream) -> float:
    """Read until the server closes; return the (virtual) time it took."""
    start = trio.current_time()
    try:
        while await stream.receive_some(4096):
            pass
    except trio.BrokenResourceError:
        pass
    return trio.current_time() - start


async def test_stalled_handshake_closed_at_the_handshake_timeout(
    pki: Pki, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, handshake_timeout_s=7.0)
        stalled = await trio.open_tcp_stream("127.0.0.1", tracker.port)
        await stalled.send_all(b"\x16\x03")  # the start of a ClientHello, then nothing
        assert await closed_after(stalled) == 7.0
        tracker.shutdown()


async def test_idle_keep_alive_and_trickling_clients_closed_at_the_idle_timeout(
    pki: Pki, autojump_clock: trio.testing.MockClock
) -> None:
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, idle_timeout_s=20.0)
        client = await HttpsClient.connect(tracker.port, ctx)
        status, _ = await client.get(announce_target(pki.films["film-a"].info_hash, 1))
        assert status == 200
        assert await closed_after(client.stream) == 20.0

        # a request trickled one byte a second never completes, and is cut at 20 s
        trickle = await HttpsClient.connect(tracker.port, ctx)
        started = trio.current_time()

        async def send_slowly() -> None:
            try:
                for byte in b"GET /announce HTTP/1.1\r\nhost: a\r\nx-slow: " + b"." * 100:
                    await trickle.stream.send_all(bytes([byte]))
                    await trio.sleep(1)
            except trio.BrokenResourceError:
                pass  # cut off by the server, as expected

        nursery.start_soon(send_slowly)
        assert await closed_after(trickle.stream) == 20.0
        assert trio.current_time() - started == 20.0
        tracker.shutdown()


async def test_peers_expire_after_the_configured_multiple_of_the_interval(
    pki: Pki, autojump_clock: trio.testing.MockClock
) -> None:
    _, ctx = pki.rental_context("film-a")
    film = pki.films["film-a"]
    policy = SwarmPolicy(
        announce_interval_s=100, min_announce_interval_s=10, peer_timeout_intervals=2
    )
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, swarm=policy, expire_every_s=10.0)
        client = await HttpsClient.connect(tracker.port, ctx)
        await client.get(announce_target(film.info_hash, 1))
        announced_at = trio.current_time()
        await client.aclose()

        def leechers() -> int:
            return tracker.service.swarms.scrape([film.info_hash])[film.info_hash].leechers

        await trio.sleep_until(announced_at + 199)
        assert leechers() == 1  # still within 2 x 100 s
        await trio.sleep_until(announced_at + 200 + 10)  # TTL, then the next expiry pass
        assert leechers() == 0
        tracker.shutdown()


async def test_graceful_shutdown_closes_idle_connections_and_returns(
    pki: Pki, autojump_clock: trio.testing.MockClock
) -> None:
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, idle_timeout_s=60.0, shutdown_grace_s=5.0)
        keep_alive = await HttpsClient.connect(tracker.port, ctx)
        await keep_alive.get(announce_target(pki.films["film-a"].info_hash, 1))
        half = await HttpsClient.connect(tracker.port, ctx)
        await half.stream.send_all(b"GET /announce HTTP/1.1\r\n")
        await trio.sleep(1)
        began = trio.current_time()
        tracker.shutdown()
        assert await closed_after(keep_alive.stream) == 0.0
        assert await closed_after(half.stream) == 0.0
    # serve_tracker returned on its own, without waiting for the grace period
    assert trio.current_time() - began < 5.0
    # and nobody listens any more
    try:
        await trio.open_tcp_stream("127.0.0.1", tracker.port)
        listening = True
    except OSError:
        listening = False
    assert not listening
