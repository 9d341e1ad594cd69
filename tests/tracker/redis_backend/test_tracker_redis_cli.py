"""`peernode tracker --redis`: two processes on one Redis, and bad URLs."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.tracker import conftest as tracker_fixtures
from tracker import ConfigError, TrackerConfig

LISTENING = re.compile(r"listening on https://127\.0\.0\.1:(\d+)/announce")


def tracker_argv(pki: Any, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "peernode", "tracker", "--listen", "127.0.0.1:0"),
        *("--ca", str(pki.ca_path), "--cert", str(pki.cert_path), "--key", str(pki.key_path)),
        *("--library", str(pki.library), "--crl", str(pki.crl_path), *extra),
    ]


def test_two_tracker_processes_share_peers(pki: Any, redis_url: str) -> None:
    procs = [
        subprocess.Popen(tracker_argv(pki, "--redis", redis_url), stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        ports = []
        for proc in procs:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            match = LISTENING.search(line)
            assert match, line
            ports.append(int(match.group(1)))
        _, ctx = pki.rental_context("film-a")
        ih = pki.films["film-a"].info_hash

        def announce(port: int, n: int, **kw: Any) -> dict[bytes, Any]:
            target = tracker_fixtures.announce_target(ih, n, **kw).decode()
            with urllib.request.urlopen(f"https://127.0.0.1:{port}{target}", context=ctx) as r:
                body: dict[bytes, Any] = tracker_fixtures.bdecoded(r.read())
                return body

        announce(ports[0], 1, left=0)
        got = announce(ports[1], 2)
        assert got[b"peers"] == bytes([127, 0, 0, 1]) + (20001).to_bytes(2, "big")
        assert (got[b"complete"], got[b"incomplete"]) == (1, 1)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert proc.wait(timeout=20) == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/0", "127.0.0.1:6379"])
def test_a_url_that_is_not_redis_is_refused(pki: Any, url: str) -> None:
    done = subprocess.run(
        tracker_argv(pki, "--redis", url), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: redis_url must look like redis://HOST:PORT/DB")
    assert "Traceback" not in done.stderr


def test_redis_url_from_the_config_file(pki: Any, tmp_path: Path) -> None:
    toml = tmp_path / "tracker.toml"
    toml.write_text('redis_url = "redis://127.0.0.1:6379/2"\n')
    paths = {"ca_path": pki.ca_path, "cert_path": pki.cert_path, "key_path": pki.key_path}
    config = TrackerConfig.from_toml(toml, library_dir=pki.library, **paths)
    assert config.redis_url == "redis://127.0.0.1:6379/2"
    with pytest.raises(ConfigError, match="redis_url"):
        pki.config(redis_url="ftp://x")
