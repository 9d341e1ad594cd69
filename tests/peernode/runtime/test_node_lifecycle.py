"""Rental expiry stops sharing and decrypting; resume after SIGKILL; CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing

from certs import save_node_key
from certs.authority import CA, IssuedCert, make_rental_bundle
from peernode.runtime.download import RentalExpiredError
from peernode.runtime.node import NodeConfig, open_node

from .conftest import FILM_ID, Film, RentalFactory, make_torrent

PEERNODE = [sys.executable, "-m", "peernode"]


async def test_rental_expiry_stops_sharing_and_decrypting(
    tmp_path: Path, film: Film, rent: RentalFactory, autojump_clock: trio.testing.MockClock
) -> None:
    """Autojump clock: an hour left on the rental passes; the torrent is paused, the key refused."""
    fixed_now = datetime.now(UTC)
    bundle, key = rent(start=timedelta(hours=-1), length=timedelta(hours=2))
    async with open_node(NodeConfig(port_mapping=False, wall_clock=lambda: fixed_now)) as node:
        download = await node.fetch(film.torrent, bundle, key, save_dir=tmp_path / "c")
        await trio.sleep(3590)
        stats = download.stats()
        assert stats.state != "expired"
        assert stats.seconds == 3590.0  # elapsed time runs on trio's (virtual) clock
        await trio.sleep(20)
        assert download.stats().state == "expired"
        assert download.handle.status().paused
        with pytest.raises(RentalExpiredError):
            download.open_reader()


def _fetch(torrent: Path, client: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*PEERNODE, "fetch", str(torrent), "--rental", str(client / "rental.pvr"),
         "--node-key", str(client / "node.key"), "--out", str(client / "dl"),
         "--listen", "127.0.0.5:0", "--status-log", str(client / "status.jsonl"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


@pytest.fixture
def seeding_origin(tmp_path: Path, ca: CA, seeder: IssuedCert):
    """An origin process capped at 2 MB/s (applied to loopback too) seeding a 16 MiB film."""
    data = os.urandom(16 * 1024 * 1024)
    library = tmp_path / "library"
    torrent = make_torrent(library, FILM_ID, data, ca)
    seeder.save(tmp_path, "seeder")
    proc = subprocess.Popen(
        [*PEERNODE, "seed", "--library", str(library), "--cert", str(tmp_path / "seeder.pem"),
         "--key", str(tmp_path / "seeder.key"), "--listen", "127.0.0.4:0",
         "--upload-limit", "2M", "--limit-local-peers"],
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline().decode()
    address = line.rsplit(" ", 1)[-1].strip()
    yield torrent, data, address
    proc.terminate()
    proc.wait(10)


def _client(tmp_path: Path, ca: CA) -> Path:
    from certs import generate_node_key

    client = tmp_path / "client"
    key = generate_node_key()
    save_node_key(client, key)
    now = datetime.now(UTC)
    cert = ca.issue_rental(FILM_ID, key.public_key(), not_before=now - timedelta(hours=1),
                           not_after=now + timedelta(hours=1))
    (client / "rental.pvr").write_bytes(make_rental_bundle(cert, os.urandom(32)))
    return client


def _progress(client: Path) -> float:
    try:
        lines = (client / "status.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0.0
    return float(json.loads(lines[-1])["progress"]) if lines else 0.0


def test_sigkill_at_half_then_resume_downloads_little_again(
    tmp_path: Path, ca: CA, seeding_origin: tuple[Path, bytes, str]
) -> None:
    torrent, data, origin = seeding_origin
    client = _client(tmp_path, ca)
    first = _fetch(torrent, client, "--peer", origin, "--resume-interval", "1")
    deadline = time.monotonic() + 60
    while _progress(client) < 0.5:
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.1)
    time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    at_kill = _progress(client)

    second = _fetch(torrent, client, "--peer", origin, "--json")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["complete"] is True
    assert (client / "dl" / FILM_ID).read_bytes() == data
    again = summary["bytes_downloaded_session"] - (1 - at_kill) * len(data)
    assert again <= 0.10 * len(data), f"re-downloaded {again} bytes after resuming"


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PEERNODE, *args], capture_output=True, text=True, timeout=timeout)


def _one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert needle in errors[0], errors[0]


def test_fetch_missing_torrent(tmp_path: Path, ca: CA) -> None:
    client = _client(tmp_path, ca)
    proc = _run("fetch", str(tmp_path / "nope.torrent"), "--rental", str(client / "rental.pvr"),
                "--node-key", str(client / "node.key"), "--out", str(tmp_path / "dl"))
    _one_line_error(proc, "does not exist")


def test_fetch_wrong_node_key_for_rental(tmp_path: Path, ca: CA, film: Film) -> None:
    from certs import generate_node_key

    client = _client(tmp_path, ca)
    other = tmp_path / "other"
    save_node_key(other, generate_node_key())
    proc = _run("fetch", str(film.torrent), "--rental", str(client / "rental.pvr"),
                "--node-key", str(other / "node.key"), "--out", str(tmp_path / "dl"))
    _one_line_error(proc, "another node")


def test_fetch_unreachable_tracker_retries_then_gives_up_clearly(
    tmp_path: Path, ca: CA, film: Film
) -> None:
    client = _client(tmp_path, ca)
    proc = _run("fetch", str(film.torrent), "--rental", str(client / "rental.pvr"),
                "--node-key", str(client / "node.key"), "--out", str(tmp_path / "dl"),
                "--timeout", "8", "--no-port-mapping")
    _one_line_error(proc, "run the same command to resume")
    retries = [line for line in proc.stderr.splitlines() if "tracker announce failed" in line]
    assert retries, proc.stderr
    assert "Connection refused; retrying in" in retries[0]
