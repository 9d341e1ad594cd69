"""A daemon process a local attacker cannot stall, fool with a short token, or point at
another folder: slow-trickling connections meet a deadline on the whole request head
while an authenticated call answers, connections past the cap get 503 at once, token
files under 32 characters are refused, and a crafted record.json never names a path."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import trio

from peernode.daemon.routes import API_LIMITS, MAX_CONNECTIONS

from .conftest import FILM_ID, PEERNODE, DaemonProcess, Validator, World

TRICKLERS = 64


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def _trickle(host: str, port: int, closed_after: list[float]) -> None:
    """One byte of a request head every 2 s, until the daemon closes the connection."""
    stream = await trio.open_tcp_stream(host, port)
    started = trio.current_time()
    head = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    reply = b""
    async with stream:
        for byte in head:
            try:
                await stream.send_all(bytes([byte]))
            except trio.BrokenResourceError:
                break
            with trio.move_on_after(2):
                chunk = await stream.receive_some(65536)
                reply += chunk
                if not chunk:
                    break
        closed_after.append(trio.current_time() - started)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:60]  # told why, then closed


async def test_slow_trickling_connections_meet_the_head_deadline_and_health_answers(
    daemon: DaemonProcess,
) -> None:
    assert daemon.api is not None
    host, port = _address(daemon.api.url)
    closed_after: list[float] = []
    headers = {"Authorization": f"Bearer {daemon.api.token}"}
    async with trio.open_nursery() as nursery:
        for _ in range(TRICKLERS):
            nursery.start_soon(_trickle, host, port, closed_after)
        await trio.sleep(3)  # every trickler has sent a byte or two
        async with httpx.AsyncClient(base_url=daemon.api.url, headers=headers) as client:
            started = time.monotonic()
            health = await client.get("/v1/health", timeout=5)
            answered_s = time.monotonic() - started
    assert health.status_code == 200
    assert answered_s < 2, answered_s
    # the evidence of the deadline: each trickler was closed within it (plus slack)
    assert len(closed_after) == TRICKLERS
    assert min(closed_after) > API_LIMITS.request_timeout_s - 1, min(closed_after)
    assert max(closed_after) < API_LIMITS.request_timeout_s + 3, max(closed_after)


async def test_past_the_connection_cap_a_request_gets_503_at_once(daemon: DaemonProcess) -> None:
    assert daemon.api is not None
    host, port = _address(daemon.api.url)
    holders = [await trio.open_tcp_stream(host, port) for _ in range(MAX_CONNECTIONS)]
    try:
        await trio.sleep(0.5)  # every holder is accepted and holds a slot, silently
        headers = {"Authorization": f"Bearer {daemon.api.token}"}
        async with httpx.AsyncClient(base_url=daemon.api.url, headers=headers) as client:
            started = time.monotonic()
            busy = await client.get("/v1/health", timeout=5)
            answered_s = time.monotonic() - started
    finally:
        for holder in holders:
            await holder.aclose()
    assert busy.status_code == 503
    assert busy.json()["code"] == "unavailable"
    assert answered_s < 2, answered_s  # answered, not queued behind the holders
    daemon.validator.check_response("GET", "/v1/health", busy)
    with trio.fail_after(10):  # the slots come back once the holders leave
        while daemon.api.get("/v1/health").status_code != 200:
            await trio.sleep(0.1)


def _daemon_cli(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PEERNODE, "daemon", "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("token", ["", "short", "x" * 31, " " * 40])
def test_a_token_file_under_32_characters_is_refused_at_start(tmp_path: Path, token: str) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "token").write_text(token)
    (state / "token").chmod(0o600)
    proc = _daemon_cli(state)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert "32" in errors[0]
    assert not (state / "api.json").exists()  # never served


def _crafted_rental(state: Path, world: World, folder: str, download_id: str) -> None:
    rental_dir = state / "rentals" / folder
    rental_dir.mkdir(parents=True)
    shutil.copyfile(world.torrent, rental_dir / "film.torrent")
    shutil.copyfile(world.rental, rental_dir / "rental.pvr")
    (rental_dir / "rental.pvr").chmod(0o600)
    (rental_dir / "record.json").write_text(json.dumps({
        "download_id": download_id, "node_key_path": str(world.node_key), "peers": [],
        "user_paused": False, "added_at": None}))


def test_a_crafted_record_cannot_point_outside_its_folder(
    tmp_path: Path, world: World, validator: Validator
) -> None:
    state = tmp_path / "state"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("not the daemon's")
    _crafted_rental(state, world, "evil", "../../victim")  # a path, not an id
    _crafted_rental(state, world, "other", FILM_ID)  # an id, not its folder's
    process = DaemonProcess(state, validator)
    api = process.start()
    try:
        assert api.get("/v1/downloads").json() == {"downloads": []}
        for folder in ("evil", FILM_ID, "..%2F..%2Fvictim"):
            response = api.request("DELETE", f"/v1/downloads/{folder}?delete_files=true")
            assert response.status_code == 404
        log = (state.parent / "daemon.log").read_text()
        assert "skipping damaged rental evil: " in log
        assert "invalid download id '../../victim'" in log
        assert f"skipping damaged rental other: its record names download '{FILM_ID}'" in log
    finally:
        process.stop()
    assert (victim / "keep").read_text() == "not the daemon's"
    assert sorted(p.name for p in victim.iterdir()) == ["keep"]
    assert not (state / "downloads").exists() or not any((state / "downloads").iterdir())


def test_a_short_bearer_never_matches(daemon: DaemonProcess) -> None:
    """Per request too: a presented token under 32 characters is refused whatever the file."""
    assert daemon.api is not None
    host, port = _address(daemon.api.url)
    for given in ("", "x", daemon.api.token[:31]):
        with socket.create_connection((host, port), timeout=10) as s:
            s.sendall(f"GET /v1/health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {given}\r\n"
                      "Connection: close\r\n\r\n".encode())
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 401"), reply[:60]
