"""A Redis that is down or silent: typed failures, no hang, one try per retry period."""

from __future__ import annotations

import logging
import random
import socket
import threading
from collections.abc import Iterator

import pytest

from tracker import PeerChange, RedisStore, RedisUnavailable, Role
from tracker.redis_backend.breaker import OutageBreaker

CHANGE = PeerChange(b"\x11" * 20, b"\x01" * 20, bytes([10, 0, 0, 1, 0, 80]), Role.LEECHER, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def announce(store: RedisStore) -> None:
    store.announce(
        CHANGE, numwant=50, expires_at=600.0, origins_for_leechers=True, rng=random.Random(1)
    )


def test_breaker_lets_one_call_through_per_retry_period() -> None:
    clock = Clock()
    breaker = OutageBreaker(clock, retry_s=1.0)
    assert breaker.allows_call()
    assert breaker.failed("refused") is True
    assert breaker.failed("refused") is False  # the same outage: not logged again
    assert not breaker.allows_call()
    clock.now = 0.99
    assert not breaker.allows_call()
    clock.now = 1.0
    assert breaker.allows_call()
    assert breaker.succeeded() is True
    assert breaker.succeeded() is False
    with pytest.raises(ValueError, match="retry_s"):
        OutageBreaker(clock, retry_s=0)


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP listener that accepts connections and never answers (a hung Redis)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


def test_a_silent_redis_times_out_and_is_not_asked_again_until_the_retry(
    silent_server: tuple[int, list[socket.socket]], caplog: pytest.LogCaptureFixture
) -> None:
    port, accepted = silent_server
    clock = Clock()
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", peer_ttl_s=600, clock=clock)
    with pytest.raises(RedisUnavailable, match=f"redis at 127.0.0.1:{port}/0 unreachable"):
        announce(store)  # returns after the socket timeouts: no hang
    tried = len(accepted)
    assert tried >= 1
    assert "unreachable during announce" in caplog.text
    for _ in range(5):  # within the retry period: failed at once, Redis not asked
        with pytest.raises(RedisUnavailable):
            announce(store)
    assert len(accepted) == tried
    with caplog.at_level(logging.ERROR):
        assert store.expire(700.0) == 0  # background chores never raise
        assert list(store.swarms()) == []


def test_a_refused_connection_fails_each_call_cleanly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", peer_ttl_s=600, retry_s=1e-9)
    for _ in range(3):
        with pytest.raises(RedisUnavailable, match="unreachable"):
            announce(store)
        with pytest.raises(RedisUnavailable):
            store.scrape([CHANGE.info_hash])
