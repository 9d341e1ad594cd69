"""`peernode tracker --workers N`: N processes on one port (SO_REUSEPORT), swarms in Redis."""

from __future__ import annotations

import re
import signal
import subprocess
import urllib.request
from typing import Any

from tests.tracker import conftest as tracker_fixtures
from tracker.admission import NOT_SERVED_TEXT

from .test_tracker_redis_cli import tracker_argv

LISTENING = re.compile(r"listening on https://127\.0\.0\.1:(\d+)/announce \(2 workers\)")


def test_two_workers_share_one_port_and_the_swarms(pki: Any, redis_url: str) -> None:
    proc = subprocess.Popen(
        tracker_argv(pki, "--redis", redis_url, "--workers", "2"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = LISTENING.search(line)
        assert match, line
        port = int(match.group(1))
        # a rental per peer (one rental may hold 4 peer ids in a swarm)
        rentals = [pki.rental_context("film-a")[1] for _ in range(13)]
        _, other_film = pki.rental_context("film-b")
        ih = pki.films["film-a"].info_hash

        def announce(n: int, context: Any) -> dict[bytes, Any]:
            # a new connection per announce, as libtorrent does: the kernel spreads them
            target = tracker_fixtures.announce_target(ih, n).decode()
            with urllib.request.urlopen(f"https://127.0.0.1:{port}{target}", context=context) as r:
                body: dict[bytes, Any] = tracker_fixtures.bdecoded(r.read())
                return body

        for n in range(12):
            assert b"failure reason" not in announce(n, rentals[n])
        # every peer is seen, whichever worker took which connection: one shared store
        assert announce(12, rentals[12])[b"incomplete"] == 13
        # refusals are logged by the worker that answered: both answered some
        for n in range(24):
            assert announce(100 + n, other_film)[b"failure reason"] == NOT_SERVED_TEXT.encode()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "tracker[0] WARNING announce refused reason=film_mismatch" in err
    assert "tracker[1] WARNING announce refused reason=film_mismatch" in err
    assert "Traceback" not in err


def test_workers_without_redis_is_one_error_line(pki: Any) -> None:
    done = subprocess.run(
        tracker_argv(pki, "--workers", "2"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr == "error: workers > 1 needs a shared swarm store: give --redis\n"


def test_a_worker_that_cannot_start_is_one_error_line(pki: Any, redis_url: str) -> None:
    pki.key_path.chmod(0o644)  # the tracker refuses a key other users can read
    done = subprocess.run(
        tracker_argv(pki, "--redis", redis_url, "--workers", "2"),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: worker 0: ")
    assert "accessible by other users" in lines[0]
