"""`peernode play` as a real subprocess: URL on the first line, resume from a download
directory, a clean stop on SIGINT, one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from certs import generate_node_key, save_node_key
from certs.authority import CA, IssuedCert, make_rental_bundle

from .conftest import Film, fetch, running_origin

PEERNODE = [sys.executable, "-m", "peernode"]


@pytest.fixture
def customer(tmp_path: Path, ca: CA, film: Film) -> tuple[Path, Path]:
    """A node key file and a rental bundle file for the film."""
    key = generate_node_key()
    key_path, _pub = save_node_key(tmp_path / "node", key)
    now = datetime.now(UTC)
    cert = ca.issue_rental(film.film_id, key.public_key(), not_before=now - timedelta(hours=1),
                           not_after=now + timedelta(hours=2))
    rental = tmp_path / "film.pvr"
    rental.write_bytes(make_rental_bundle(cert, film.content_key))
    return key_path, rental


async def play_until_url(args: list[str], nursery: trio.Nursery) -> tuple[trio.Process, str]:
    process = await trio.lowlevel.open_process(
        [*PEERNODE, "play", "--no-port-mapping", *args], stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    nursery.start_soon(process.wait)
    assert process.stdout is not None
    line = b""
    with trio.fail_after(30):
        while not line.endswith(b"\n"):
            chunk = await process.stdout.receive_some(1)
            assert chunk, "peernode play exited without printing a URL"
            line += chunk
    return process, line.decode().strip()


async def stop(process: trio.Process) -> int:
    process.send_signal(signal.SIGINT)
    with trio.fail_after(30):
        return await process.wait()


async def test_play_prints_the_url_serves_the_film_and_resumes_from_its_directory(
    tmp_path: Path, film: Film, seeder: IssuedCert, customer: tuple[Path, Path]
) -> None:
    key_path, rental = customer
    torrent = tmp_path / f"{film.film_id}.torrent"
    torrent.write_bytes(film.torrent.read_bytes())
    download_dir = tmp_path / film.film_id  # the default: next to the torrent
    async with running_origin(film, seeder) as origin, trio.open_nursery() as nursery:
        process, url = await play_until_url(
            [str(torrent), "--rental", str(rental), "--node-key", str(key_path),
             "--peer", f"{origin[0]}:{origin[1]}"], nursery)
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith(f"/{film.film_id}")
        part = await fetch(url, headers={"Range": "bytes=1000-1999"})
        assert part.body == film.plaintext[1000:2000]
        assert await stop(process) == 0

        # Again from the download directory alone: its saved state names the torrent.
        process, again = await play_until_url(
            [str(download_dir), "--rental", str(rental), "--node-key", str(key_path),
             "--peer", f"{origin[0]}:{origin[1]}"], nursery)
        assert again != url  # a fresh token every run
        tail = await fetch(again, headers={"Range": "bytes=-5000"})
        assert tail.body == film.plaintext[-5000:]
        assert await stop(process) == 0
    assert (download_dir / film.film_id).exists()


def run_play(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PEERNODE, "play", "--no-port-mapping", *args], capture_output=True,
                          text=True,
                          timeout=60, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_play_refuses_bad_input_with_one_line(
    tmp_path: Path, film: Film, customer: tuple[Path, Path]
) -> None:
    key_path, rental = customer
    common = ["--rental", str(rental), "--node-key", str(key_path)]
    cases = {
        "missing": run_play(str(tmp_path / "nothing.torrent"), *common),
        # The library's torrent: the film's name next to it is the container file.
        "library": run_play(str(film.torrent), *common),
        "empty dir": run_play(str(tmp_path), *common),
        "no rental": run_play(str(film.torrent), "--rental", str(tmp_path / "x.pvr"),
                              "--node-key", str(key_path)),
    }
    for name, result in cases.items():
        assert result.returncode != 0, name
        assert result.stdout == "", name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (name, result.stderr)
        assert lines[0].startswith("error: "), name
    assert "--out" in cases["library"].stderr
