"""`RedisStore`: swarm state in Redis, shared by every tracker instance that uses it.

One announce is one round trip (`redis_scripts.ANNOUNCE_LUA` via ``register_script``,
which re-loads the script by itself after a Redis restart). Peers expire by score
(trimmed by every announce to their swarm and by `expire`) and every key carries a
TTL, so nothing grows without bound even if all trackers stop.

Calling it from trio: the redis-py *sync* client, called directly on the event loop.
Measured here (2 cores shared with other work, loopback, 500-peer swarm, numwant 50):
an announce costs the tracker ~85 us CPU (~175 us wall) called in the loop, ~190-260
us CPU (~330-390 us wall) through ``trio.to_thread.run_sync``; a bare PING round trip
is ~35-80 us, a no-op ``to_thread`` hop ~75-120 us (~65-100 us CPU). The hop costs
more CPU than the Redis wait it would hide, and CPU is what runs out first on a loaded
tracker (the store interface is synchronous anyway). What bounds a stall is the
client's socket timeouts (`SOCKET_TIMEOUT_S`) and the `OutageBreaker`, which lets one
call per ``retry_s`` reach a Redis that is down and fails the rest at once.

The announce, the hot call, goes out on a connection of its own straight through
redis-py's `Connection` (``send_command`` / ``read_response``: redis-py still packs and
parses), not through ``Script.__call__`` and ``Redis.execute_command``, whose pool,
retry wrapper and per-command observability hooks cost ~45 us CPU of the ~105 a call
took (measured in a loop, 2 cores shared with other work). It keeps their behaviour:
one immediate retry on a fresh connection after a connection error or timeout, and
the script loaded again if Redis lost it (restart, ``SCRIPT FLUSH``).

Times: callers pass times on their own clock (``trio.current_time()``); the store adds
``clock_offset_s`` so that trackers on different hosts, whose monotonic clocks differ,
agree on one time base (the server passes wall time minus its monotonic time).
"""

from __future__ import annotations

import logging
import random
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.connection import ConnectionInterface
from redis.retry import Retry

from tracker.errors import TrackerError
from tracker.redis_backend.breaker import OutageBreaker
from tracker.redis_backend.scripts import ANNOUNCE_LUA, EXPIRE_LUA, PEER_ID_BYTES, RECORD_HEAD_BYTES
from tracker.store import (
    MEMBER_BYTES,
    PeerChange,
    Role,
    StoreRefusal,
    StoreReply,
    SwarmCounts,
    merge_member,
)

__all__ = ["SOCKET_TIMEOUT_S", "RedisStore", "RedisUnavailable"]

log = logging.getLogger("tracker.redis")

SOCKET_TIMEOUT_S = 0.25
"""Connect and read timeout: Redis answers in well under a millisecond when it is up."""

_RECORD = struct.Struct("<QQB")
assert _RECORD.size == RECORD_HEAD_BYTES
_T = TypeVar("_T")


class RedisUnavailable(TrackerError):
    """Redis cannot be reached (or did not answer in time); the announce was not recorded."""


class RedisStore:
    """`SwarmStore` in Redis: behaves like `MemoryStore`, shared by several trackers.

    ``peer_ttl_s`` must be the TTL the caller adds to ``now`` for ``expires_at``
    (the script derives ``now`` from it to trim expired peers). Keys live under
    ``prefix``. Every method raises `RedisUnavailable` when Redis cannot be reached,
    except `expire` (logs, returns 0) and `swarms` (logs, yields nothing), which
    background chores and metrics call.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        peer_ttl_s: float,
        max_peers_per_swarm: int = 200_000,
        prefix: str = "tracker",
        clock_offset_s: float = 0.0,
        retry_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._peer_ttl_s = peer_ttl_s
        self._max_peers = max_peers_per_swarm
        self._prefix = prefix.encode() + b":"
        self._index = self._prefix + b"swarms"
        self._offset = clock_offset_s
        # keys outlive their last peer's expiry by a margin, so that the score, not the
        # key TTL (which runs on Redis's clock), decides when a peer expires
        self._key_ttl_ms = int(max(2 * peer_ttl_s, 60.0) * 1000)
        self._announce = client.register_script(ANNOUNCE_LUA)
        self._announce_conn: ConnectionInterface | None = None
        self._expire = client.register_script(EXPIRE_LUA)
        self._breaker = OutageBreaker(clock, retry_s=retry_s)
        self._where = _describe(client)

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisStore:
        """A store on ``redis://HOST:PORT/DB`` (no connection is made yet).

        ``kw`` go to `RedisStore`. Raises `ValueError` for a malformed URL.
        """
        client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            # one immediate retry on a fresh connection covers a pooled connection that
            # a restarted Redis closed; no backoff sleeps on the event loop
            retry=Retry(NoBackoff(), 1),
        )
        return cls(client, **kw)

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        breaker = self._breaker
        if not breaker.allows_call():
            raise RedisUnavailable(f"redis at {self._where} unreachable: {breaker.down_reason}")
        try:
            result = fn()
        except (redis.ConnectionError, redis.TimeoutError) as e:
            reason = str(e) or type(e).__name__
            if breaker.failed(reason):
                log.error(
                    "redis at %s unreachable during %s (%s); answering with a failure"
                    " reason, retrying every %.1f s",
                    self._where,
                    what,
                    reason,
                    breaker.retry_s,
                )
            raise RedisUnavailable(f"redis at {self._where} unreachable: {reason}") from None
        if breaker.succeeded():
            log.warning("redis at %s reachable again", self._where)
        return result

    def ping(self) -> None:
        """Check that Redis answers; raises `RedisUnavailable` if not."""
        self._call("ping", self._client.ping)

    def _keys(self, info_hash: bytes) -> list[bytes]:
        base = self._prefix + info_hash + b":"
        return [
            *(base + b"p", base + b"r0", base + b"r1", base + b"r2", base + b"r3"),
            *(base + b"c", base + b"s"),
        ]

    def announce(
        self,
        change: PeerChange,
        *,
        numwant: int,
        expires_at: float,
        origins_for_leechers: bool,
        rng: random.Random,
    ) -> StoreReply:
        """See `SwarmStore.announce`; raises `RedisUnavailable`.

        Raises `ValueError` for a peer id that is not 20 bytes (parsing ensures it).
        """
        if len(change.peer_id) != PEER_ID_BYTES:
            raise ValueError(f"peer id must be {PEER_ID_BYTES} bytes")
        expires = expires_at + self._offset
        args: list[bytes | str | int | float] = [
            change.peer_id,
            _RECORD.pack(change.uploaded, change.downloaded, change.role),
            int(change.role),
            repr(expires),
            repr(expires - self._peer_ttl_s),
            numwant,
            int(origins_for_leechers),
            int(change.completed),
            int(change.stopped),
            self._max_peers,
            rng.getrandbits(31),
            self._key_ttl_ms,
            change.info_hash,
            change.owner,
            change.address,
            change.max_per_owner,
        ]
        keys = [*self._keys(change.info_hash), self._index]
        reply = self._call("announce", lambda: self._run_announce(keys, args))
        if len(reply) == 4:  # refused: nothing changed
            seeders, leechers, completed, reason = reply
            return StoreReply(
                SwarmCounts(seeders, leechers, completed),
                [],
                None,
                None,
                refusal=StoreRefusal(reason.decode()),
            )
        seeders, leechers, completed, previous, candidates, origins = reply
        prev_up = prev_down = None
        if previous:
            prev_up, prev_down, _ = _RECORD.unpack_from(previous)
        return StoreReply(
            SwarmCounts(seeders, leechers, completed),
            _split(candidates),
            prev_up,
            prev_down,
            origins=_split(origins),
            member=merge_member(
                previous[RECORD_HEAD_BYTES:] if previous else None, change.owner, change.address
            ),
        )

    def _run_announce(self, keys: list[bytes], args: list[bytes | str | int | float]) -> Any:
        """EVALSHA of the announce script on the store's own connection (see the module)."""
        if self._announce_conn is None:
            self._announce_conn = self._client.connection_pool.make_connection()
        conn: Any = self._announce_conn  # redis-py's connection methods are untyped
        sha = self._announce.sha
        retried = loaded = load = False
        while True:
            try:
                if load:
                    conn.send_command("SCRIPT", "LOAD", ANNOUNCE_LUA)
                    conn.read_response()
                    load = False
                conn.send_command("EVALSHA", sha, len(keys), *keys, *args)
                return conn.read_response()
            except redis.exceptions.NoScriptError:
                if loaded:
                    raise
                loaded = load = True
            except (redis.ConnectionError, redis.TimeoutError):
                conn.disconnect()  # a reply may still be on its way: never reuse it
                if retried:
                    raise
                retried = True

    def close(self) -> None:
        """Close the store's connections (the client's pool and the announce connection)."""
        if self._announce_conn is not None:
            _disconnect(self._announce_conn)
            self._announce_conn = None
        self._client.close()

    def expire(self, now: float) -> int:
        """See `SwarmStore.expire`; logs and returns 0 if Redis is unreachable."""
        try:
            dropped: int = self._call(
                "expire",
                lambda: self._expire(
                    keys=[self._index], args=[repr(now + self._offset), self._prefix]
                ),
            )
        except RedisUnavailable:
            return 0  # logged by _call; announces trim their swarms meanwhile
        return dropped

    def _counts(self, info_hashes: list[bytes]) -> list[SwarmCounts]:
        def fetch() -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for ih in info_hashes:
                _, *roles, completed, _owners = self._keys(ih)
                for key in roles:
                    pipe.zcard(key)
                pipe.get(completed)
            return pipe.execute()

        values = self._call("scrape", fetch) if info_hashes else []
        return [
            SwarmCounts(
                seeders=values[i + 1] + values[i + 2],
                leechers=values[i] + values[i + 3],
                completed=int(values[i + 4] or 0),
            )
            for i in range(0, len(values), 5)
        ]

    def scrape(self, info_hashes: Iterable[bytes]) -> dict[bytes, SwarmCounts]:
        """See `SwarmStore.scrape`; raises `RedisUnavailable`."""
        wanted = list(dict.fromkeys(info_hashes))
        return dict(zip(wanted, self._counts(wanted), strict=True))

    def _swarm_hashes(self) -> list[bytes]:
        # the client decodes nothing (no decode_responses): members come back as bytes
        return cast(list[bytes], self._client.zrange(self._index, 0, -1))

    def swarms(self) -> Iterator[tuple[bytes, SwarmCounts]]:
        """See `SwarmStore.swarms`; logs and yields nothing if Redis is unreachable."""
        try:
            hashes = self._call("metrics", self._swarm_hashes)
            counts = self._counts(hashes)
        except RedisUnavailable:
            return
        for ih, c in zip(hashes, counts, strict=True):
            if c.seeders or c.leechers:
                yield ih, c

    def members(self, now: float) -> Iterator[tuple[bytes, list[bytes]]]:
        """See `SwarmStore.members`; logs and yields nothing if Redis is unreachable."""
        after = f"({now + self._offset!r}"  # scores are expiry times: live ones are > now

        def fetch(hashes: list[bytes]) -> list[Any]:
            pipe = self._client.pipeline(transaction=False)
            for ih in hashes:
                _, *roles, _completed, _owners = self._keys(ih)
                for role, key in enumerate(roles):
                    if role != Role.ORIGIN:
                        pipe.zrangebyscore(key, after, "+inf")
            return pipe.execute()

        try:
            hashes = self._call("members", self._swarm_hashes)
            values = self._call("members", lambda: fetch(hashes)) if hashes else []
        except RedisUnavailable:
            return
        per_swarm = len(Role) - 1
        for i, ih in enumerate(hashes):
            live = [
                entry[PEER_ID_BYTES:]
                for entries in values[i * per_swarm : (i + 1) * per_swarm]
                for entry in entries
            ]
            if live:
                yield ih, live


def _disconnect(conn: ConnectionInterface) -> None:
    cast(Any, conn).disconnect()  # untyped in redis-py


def _split(members: bytes) -> list[bytes]:
    return [members[i : i + MEMBER_BYTES] for i in range(0, len(members), MEMBER_BYTES)]


def _describe(client: redis.Redis) -> str:
    """``HOST:PORT/DB`` of the client's connection pool, for log lines."""
    kw = client.connection_pool.connection_kwargs
    where = kw.get("path") or f"{kw.get('host', '?')}:{kw.get('port', '?')}"
    return f"{where}/{kw.get('db', 0)}"
