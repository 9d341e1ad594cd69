"""The announce's own Redis connection behaves as the client's pool did.

`RedisStore` sends the announce script on a connection of its own (cheaper than
redis-py's command path); a connection Redis closed is replaced at once, a script
Redis forgot is loaded again, and a Redis that is gone is `RedisUnavailable`.
"""

from __future__ import annotations

import random

import pytest

from tests.tracker.redis_backend.conftest import RedisServer
from tracker.redis_backend.store import RedisStore, RedisUnavailable
from tracker.store import PeerChange, Role

INFO_HASH = b"\x24" * 20


def _announce(store: RedisStore, n: int) -> int:
    reply = store.announce(
        PeerChange(
            INFO_HASH, n.to_bytes(20, "big"), bytes([10, 0, 0, 1, 0, 80]), Role.LEECHER, 0, 0
        ),
        numwant=50,
        expires_at=1_000.0,
        origins_for_leechers=True,
        rng=random.Random(n),
    )
    return reply.counts.leechers


def test_a_closed_connection_and_a_flushed_script_are_recovered(
    redis_server: RedisServer,
) -> None:
    admin = redis_server.client()
    store = RedisStore.from_url(redis_server.url, peer_ttl_s=100, prefix="conn-recover")
    assert _announce(store, 1) == 1
    admin.client_kill_filter(skipme=True)  # every other client: the store's connections
    assert _announce(store, 2) == 2
    admin.script_flush()
    assert _announce(store, 3) == 3
    admin.client_kill_filter(skipme=True)
    admin.script_flush()
    assert _announce(store, 4) == 4
    store.close()


def test_a_redis_that_is_gone_is_unavailable_not_a_traceback(own_redis: RedisServer) -> None:
    store = RedisStore.from_url(own_redis.url, peer_ttl_s=100, prefix="conn-gone")
    assert _announce(store, 1) == 1
    own_redis.stop()
    with pytest.raises(RedisUnavailable, match="unreachable"):
        _announce(store, 2)
    store.close()
