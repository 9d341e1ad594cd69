"""The origin or the tracker dies mid-swarm: clients carry on with what they have."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import libtorrent as lt
import pytest

from .conftest import Client, Swarm, build_swarm, stop, wait_exit, wait_for


def _union_complete(clients: list[Client], n_pieces: int) -> bool:
    maps = [c.pieces() for c in clients]
    return all(any(m[i] for m in maps if i < len(m)) for i in range(n_pieces))


@pytest.fixture
def small_swarm(tmp_path: Path) -> Iterator[Swarm]:
    """A 3 MB film: with clients sharing at only 200 kB/s each, the origin (1 MB/s) has
    spread every piece over them well before any client has them all."""
    s = build_swarm(tmp_path, 3 * 1000 * 1000)
    try:
        yield s
    finally:
        s.stop_all()


def test_origin_killed_clients_finish_from_each_other(small_swarm: Swarm) -> None:
    """Origin capped at 1 MB/s, clients at 100 kB/s up, is SIGKILLed once the clients
    together hold every piece (read from their saved resume data) but not all of them
    have the film: they finish
    from each other and every copy decrypts to the original."""
    swarm = small_swarm
    swarm.start_tracker()
    origin, _ = swarm.start_origin("1M")
    clients = [swarm.new_client(f"client-{i}", f"127.0.0.{21 + i}") for i in range(3)]
    procs = [swarm.fetch(c, "--seed-for", "600", "--resume-interval", "0.5",
                         "--upload-limit", "100K", "--limit-local-peers") for c in clients]

    n_pieces = lt.torrent_info(str(swarm.torrent)).num_pieces()

    def covered() -> bool:
        for p, c in zip(procs, clients, strict=True):
            assert p.poll() is None, c.log.read_text()
        return _union_complete(clients, n_pieces)

    wait_for(covered, 90, "the clients together to hold every piece", step_s=0.2)
    origin.send_signal(signal.SIGKILL)
    origin.wait()
    at_kill = [c.progress() for c in clients]
    assert min(at_kill) < 1.0, f"every client was already complete: {at_kill}"
    print(f"origin killed with the clients at {at_kill}")

    wait_for(lambda: all(c.status().get("complete") for c in clients), 90,
             "every client to complete without the origin")
    for p in procs:
        assert stop(p) == 0
    for c in clients:
        assert c.summary()["complete"] is True
        assert swarm.decrypted(c) == swarm.plaintext


def test_origin_killed_too_early_clients_say_they_cannot_finish(swarm: Swarm) -> None:
    """Origin killed when the clients hold well under the whole film: each fetch ends at
    its --timeout with one clear error line and a non-complete JSON summary."""
    swarm.start_tracker()
    origin, _ = swarm.start_origin("1M")
    clients = [swarm.new_client(f"client-{i}", f"127.0.0.{31 + i}") for i in range(2)]
    procs = [swarm.fetch(c, "--timeout", "10") for c in clients]
    wait_for(lambda: all(c.progress() > 0.05 for c in clients), 60, "some progress")
    origin.send_signal(signal.SIGKILL)
    origin.wait()
    for p, c in zip(procs, clients, strict=True):
        assert wait_exit(p, 60, "its --timeout") == 1
        log = c.log.read_text()
        assert "Traceback" not in log
        errors = [line for line in log.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, log
        assert "not complete" in errors[0]
        assert "run the same command to resume" in errors[0]
        summary = c.summary()
        assert summary["complete"] is False
        assert 0 < summary["bytes_from_origin"] < len(swarm.plaintext)


def test_tracker_killed_and_restarted_swarm_continues_and_rebuilds(swarm: Swarm) -> None:
    """Tracker SIGKILLed mid-download: clients keep downloading from the peers they know.
    Restarted on the same port (empty memory), the swarm is rebuilt: with the origin
    gone, a newcomer finds the two clients through the tracker alone and completes."""
    tracker = swarm.start_tracker()
    origin, _ = swarm.start_origin("1M")
    clients = [swarm.new_client(f"client-{i}", f"127.0.0.{41 + i}") for i in range(2)]
    procs = [swarm.fetch(c, "--seed-for", "600") for c in clients]
    wait_for(lambda: all(c.progress() > 0.15 for c in clients), 60, "progress")
    tracker.send_signal(signal.SIGKILL)
    tracker.wait()
    before = [c.progress() for c in clients]
    wait_for(lambda: all(c.progress() >= b + 0.2 or c.status().get("complete")
                         for c, b in zip(clients, before, strict=True)),
             60, "progress while the tracker is down")

    swarm.start_tracker()
    restarted = time.monotonic()
    wait_for(lambda: all(c.status().get("complete") for c in clients), 90, "completion")
    origin.send_signal(signal.SIGKILL)
    origin.wait()
    newcomer = swarm.new_client("newcomer", "127.0.0.49")
    late = swarm.fetch(newcomer, "--timeout", "120")
    assert late.wait(150) == 0, newcomer.log.read_text()
    summary = newcomer.summary()
    assert summary["complete"] is True
    assert summary["bytes_from_origin"] == 0
    assert swarm.decrypted(newcomer) == swarm.plaintext
    print(f"newcomer complete {time.monotonic() - restarted:.1f} s after the tracker restart")
    for p in procs:
        assert stop(p) == 0
