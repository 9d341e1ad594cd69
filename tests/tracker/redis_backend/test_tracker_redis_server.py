"""Two trackers on one Redis: shared peers and counts, expiry, and a Redis restart."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import pytest
import trio
import trio.testing

from tests.tracker import conftest as tracker_fixtures
from tracker import STORE_UNAVAILABLE, RunningTracker, SwarmPolicy

from .conftest import RedisServer

Pki = Any  # tests/tracker/conftest.py's Pki, loaded by path
announce_once = tracker_fixtures.announce_once
announce_target = tracker_fixtures.announce_target
bdecoded = tracker_fixtures.bdecoded
HttpsClient = tracker_fixtures.HttpsClient

# short intervals: a peer lives 2 s, the breaker retries Redis every 0.5 s
POLICY = SwarmPolicy(announce_interval_s=2, min_announce_interval_s=1, peer_timeout_intervals=1)


async def start_pair(nursery: trio.Nursery, pki: Pki, url: str) -> list[RunningTracker]:
    """Two trackers of the same library sharing the Redis at ``url``."""
    return [
        await tracker_fixtures.start_tracker(
            nursery, pki, redis_url=url, swarm=POLICY, expire_every_s=0.5
        )
        for _ in range(2)
    ]


def peers_of(body: dict[bytes, Any]) -> set[int]:
    """The ports of the compact IPv4 peers in an announce response."""
    raw: bytes = body[b"peers"]
    return {int.from_bytes(raw[i + 4 : i + 6], "big") for i in range(0, len(raw), 6)}


async def scrape(port: int, ctx: ssl.SSLContext, info_hash: bytes) -> tuple[int, int, int]:
    client = await HttpsClient.connect(port, ctx)
    try:
        status, body = await client.get(
            b"/scrape?info_hash=" + "".join(f"%{b:02x}" for b in info_hash).encode(), close=True
        )
    finally:
        await client.aclose()
    assert status == 200
    files = bdecoded(body)[b"files"]
    c = files[info_hash]
    return c[b"complete"], c[b"incomplete"], c[b"downloaded"]


async def test_a_peer_announced_to_one_tracker_is_given_by_the_other(
    pki: Pki, redis_url: str, autojump_clock: trio.testing.MockClock
) -> None:
    ih = pki.films["film-a"].info_hash
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        a, b = await start_pair(nursery, pki, redis_url)
        assert a.port != b.port
        await announce_once(a.port, ctx, announce_target(ih, 1, left=0))  # a seeder on A
        got = await announce_once(b.port, ctx, announce_target(ih, 2))  # a leecher on B
        assert peers_of(got) == {20001}
        assert (got[b"complete"], got[b"incomplete"]) == (1, 1)
        # the seeder, announcing to B now, is given the leecher that only A has seen
        back = await announce_once(b.port, ctx, announce_target(ih, 1, left=0))
        assert peers_of(back) == {20002}
        done = await announce_once(a.port, ctx, announce_target(ih, 2, left=0, event="completed"))
        assert (done[b"complete"], done[b"incomplete"], done[b"downloaded"]) == (2, 0, 1)
        assert await scrape(a.port, ctx, ih) == await scrape(b.port, ctx, ih) == (2, 0, 1)
        nursery.cancel_scope.cancel()


async def test_peers_expire_across_trackers(
    pki: Pki, redis_url: str, autojump_clock: trio.testing.MockClock
) -> None:
    ih = pki.films["film-a"].info_hash
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        a, b = await start_pair(nursery, pki, redis_url)
        await announce_once(a.port, ctx, announce_target(ih, 1, left=0))
        await trio.sleep(1.5)
        await announce_once(b.port, ctx, announce_target(ih, 2, left=0))
        assert await scrape(b.port, ctx, ih) == (2, 0, 0)
        await trio.sleep(1.0)  # peer 1 (2 s TTL) is gone, peer 2 is not
        got = await announce_once(b.port, ctx, announce_target(ih, 3))
        assert peers_of(got) == {20002}
        await trio.sleep(2.5)  # every peer expired: the expiry chores empty the swarm
        assert await scrape(a.port, ctx, ih) == await scrape(b.port, ctx, ih) == (0, 0, 0)
        assert list(a.service.swarms.swarms()) == []
        nursery.cancel_scope.cancel()


async def test_trackers_recover_within_one_interval_of_a_redis_restart(
    pki: Pki,
    own_redis: RedisServer,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tracker")
    ih = pki.films["film-a"].info_hash
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        a, b = await start_pair(nursery, pki, own_redis.url)
        await announce_once(a.port, ctx, announce_target(ih, 1, left=0))

        own_redis.stop()
        for tracker in (a, b):
            failed = await announce_once(tracker.port, ctx, announce_target(ih, 2))
            assert failed[b"failure reason"] == STORE_UNAVAILABLE.encode()
            assert failed[b"min interval"] == POLICY.min_announce_interval_s
        assert "unreachable" in caplog.text
        # the breaker answers at once meanwhile: the store is not asked again
        assert b"failure reason" in await announce_once(a.port, ctx, announce_target(ih, 2))

        own_redis.start()  # empty: the swarm is rebuilt from the next announces
        await trio.sleep(POLICY.announce_interval_s)
        await announce_once(a.port, ctx, announce_target(ih, 1, left=0))
        got = await announce_once(b.port, ctx, announce_target(ih, 2))
        assert peers_of(got) == {20001}
        assert (got[b"complete"], got[b"incomplete"]) == (1, 1)
        assert "reachable again" in caplog.text
        nursery.cancel_scope.cancel()


async def test_a_tracker_starts_while_redis_is_down_and_answers_with_a_failure(
    pki: Pki, own_redis: RedisServer, autojump_clock: trio.testing.MockClock
) -> None:
    own_redis.stop()
    ih = pki.films["film-a"].info_hash
    _, ctx = pki.rental_context("film-a")
    async with trio.open_nursery() as nursery:
        (a, _) = await start_pair(nursery, pki, own_redis.url)
        failed = await announce_once(a.port, ctx, announce_target(ih, 1))
        assert failed[b"failure reason"] == STORE_UNAVAILABLE.encode()
        own_redis.start()
        await trio.sleep(POLICY.min_announce_interval_s)
        ok = await announce_once(a.port, ctx, announce_target(ih, 1))
        assert b"failure reason" not in ok
        assert ok[b"incomplete"] == 1
        nursery.cancel_scope.cancel()
