"""Every key the announce script writes carries a TTL, though it sets them only now and then.

The script gives all of a swarm's keys their TTL together, when one of them was just
created or when the peers hash has lost a quarter of its TTL; these tests show a key
created later (a first seeder, a first owner, the completed counter) still gets one,
and that TTLs worn down are set again by the next announce.
"""

from __future__ import annotations

import itertools
import random

import redis

from tests.tracker.redis_backend.conftest import RedisServer
from tracker.redis_backend.store import RedisStore
from tracker.store import PeerChange, Role, owner_bytes

PEER_TTL_S = 100.0
KEY_TTL_MS = 200_000  # RedisStore: twice the peer TTL
INFO_HASH = b"\x42" * 20
_ids = itertools.count(1)


def _announce(
    store: RedisStore, role: Role, *, serial: int | None = 1, completed: bool = False
) -> None:
    store.announce(
        PeerChange(
            INFO_HASH,
            next(_ids).to_bytes(20, "big"),
            bytes([10, 0, 0, 1, 0, 80]),
            role,
            0,
            0,
            completed=completed,
            owner=owner_bytes(serial),
        ),
        numwant=50,
        expires_at=1_000.0 + PEER_TTL_S,
        origins_for_leechers=True,
        rng=random.Random(1),
    )


def _ttls(client: redis.Redis, prefix: str) -> dict[bytes, int]:
    return {key: client.pttl(key) for key in client.scan_iter(match=f"{prefix}:*")}


def test_keys_created_after_the_first_announce_get_a_ttl_too(redis_server: RedisServer) -> None:
    client = redis_server.client()
    store = RedisStore(client, peer_ttl_s=PEER_TTL_S, prefix="ttl-late")
    _announce(store, Role.LEECHER)
    _announce(store, Role.LEECHER)  # nothing new: TTLs not set again, all still fresh
    _announce(store, Role.SEEDER, serial=2, completed=True)  # a new role set, owner, counter
    _announce(store, Role.ORIGIN, serial=None)  # an origin: no owner
    _announce(store, Role.UPLOAD_ONLY)
    ttls = _ttls(client, "ttl-late")
    assert len(ttls) == 8, ttls  # peers, 4 role sets, owners, completed, the index
    assert all(0.75 * KEY_TTL_MS < ttl <= KEY_TTL_MS for ttl in ttls.values()), ttls


def test_ttls_worn_down_are_set_again_and_new_keys_never_lack_one(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    store = RedisStore(client, peer_ttl_s=PEER_TTL_S, prefix="ttl-worn")
    _announce(store, Role.LEECHER)
    for key in _ttls(client, "ttl-worn"):
        client.pexpire(key, KEY_TTL_MS // 2)  # as if half the TTL had passed
    _announce(store, Role.LEECHER)
    ttls = _ttls(client, "ttl-worn")
    assert all(0.75 * KEY_TTL_MS < ttl <= KEY_TTL_MS for ttl in ttls.values()), ttls
    # a TTL only a little worn is left as it is: no PEXPIRE on most announces
    for key in ttls:
        client.pexpire(key, KEY_TTL_MS - 1_000)
    _announce(store, Role.LEECHER)
    assert all(ttl <= KEY_TTL_MS - 1_000 for ttl in _ttls(client, "ttl-worn").values())
    # ...but a key created then gets its TTL at once, and so do the others
    _announce(store, Role.SEEDER, serial=3)
    ttls = _ttls(client, "ttl-worn")
    assert all(ttl > KEY_TTL_MS - 1_000 for ttl in ttls.values()), ttls
    assert -1 not in ttls.values()
