"""A real swarm on loopback for fault tests: tracker, origin and clients as processes.

The operator's files and each client's rental come from the simulator's launcher
(`sim.backends.provision`), the nodes' command lines too (`sim.backends.launcher`);
the tests drive the processes synchronously. The film is packaged for real
(encrypted container + v2 SSL torrent), so every test can check the end of the
story: the downloaded container decrypts to the original.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import libtorrent as lt
import pytest

from certs import load_node_key, open_rental
from certs.authority import CA
from peernode.container.stream import decrypt_file
from sim.backends.launcher import fetch_args, seed_args, tracker_args
from sim.backends.provision import ClientFiles, OperatorFiles, provision_client, provision_operator
from support.processes import free_port, peernode_argv

PEERNODE = peernode_argv()
FILM_ID = "fault-film"
TRACKER_HOST, ORIGIN_HOST = "127.0.0.1", "127.0.0.2"


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, step_s: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


def wait_listening(
    host: str, port: int, proc: subprocess.Popen[bytes], timeout_s: float = 20
) -> None:
    def up() -> bool:
        assert proc.poll() is None, f"process exited with {proc.returncode}"
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            return False
        return True

    wait_for(up, timeout_s, f"{host}:{port} to listen")


@dataclass
class Client:
    name: str
    address: str
    dir: Path
    download: Path = Path()

    def __post_init__(self) -> None:
        if self.download == Path():
            self.download = self.dir / "dl"

    @property
    def log(self) -> Path:
        return self.dir / "client.log"

    def status(self) -> dict[str, Any]:
        """The last line of the status log ({} before the first)."""
        try:
            lines = (self.dir / "status.jsonl").read_text().splitlines()
        except FileNotFoundError:
            return {}
        for line in reversed(lines):
            try:
                record: dict[str, Any] = json.loads(line)
            except ValueError:
                continue
            return record
        return {}

    def progress(self) -> float:
        return float(self.status().get("progress", 0.0))

    def pieces(self) -> list[bool]:
        """Pieces this client has verified, from its last saved resume data."""
        path = self.download / ".peernode" / f"{FILM_ID}.resume"
        try:
            record = lt.bdecode(path.read_bytes())
        except (OSError, RuntimeError):
            return []
        raw = record.get(b"pieces") if isinstance(record, dict) else None
        if not isinstance(raw, bytes):
            return []
        # A bitfield, most significant bit first (the tail bits of the last byte pad).
        return [bool(byte >> (7 - bit) & 1) for byte in raw for bit in range(8)]

    def summary(self) -> dict[str, Any]:
        lines = (self.dir / "summary.json").read_text().strip().splitlines()
        assert lines, self.log.read_text()
        result: dict[str, Any] = json.loads(lines[-1])
        return result


def wait_exit(proc: subprocess.Popen[bytes], timeout_s: float, what: str) -> int:
    """Wait for ``proc``; if it hangs, fail with its Python stacks (py-spy, when installed)."""
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        spy = Path(sys.executable).parent / "py-spy"
        stacks = ""
        if spy.exists():
            stacks = subprocess.run([str(spy), "dump", "--pid", str(proc.pid)],
                                    capture_output=True, text=True, timeout=30).stdout
        pytest.fail(f"pid {proc.pid} still running {timeout_s} s after {what}:\n{stacks}")


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 60) -> int:
    """SIGTERM ``proc`` and return its exit code; fail (with its stacks) if it won't stop."""
    proc.send_signal(signal.SIGTERM)
    return wait_exit(proc, timeout_s, "SIGTERM")


@dataclass
class Swarm:
    """One packaged film, its operator files, and the processes a test starts."""

    operator: OperatorFiles
    plaintext: bytes
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def work(self) -> Path:
        return self.operator.workdir

    @property
    def ca(self) -> CA:
        return self.operator.ca

    @property
    def ca_dir(self) -> Path:
        return self.operator.ca_dir

    @property
    def library(self) -> Path:
        return self.operator.library

    @property
    def torrent(self) -> Path:
        return self.operator.torrent

    @property
    def tracker_port(self) -> int:
        return self.operator.tracker_port

    def _spawn(self, args: list[str], log: Path, stdout: Path | None = None,
               **kw: Any) -> subprocess.Popen[bytes]:
        out = stdout.open("ab") if stdout else subprocess.DEVNULL
        proc = subprocess.Popen([*PEERNODE, *args], stderr=log.open("ab"), stdout=out, **kw)
        self.procs.append(proc)
        return proc

    def start_tracker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn(tracker_args(self.operator, TRACKER_HOST), self.work / "tracker.log")
        wait_listening(TRACKER_HOST, self.tracker_port, proc)
        return proc

    def start_origin(self, upload_limit: str, *, library: Path | None = None,
                     host: str = ORIGIN_HOST, log: str = "origin.log"
                     ) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port(host)
        proc = self._spawn(seed_args(self.operator, host, port, upload_bps=upload_limit,
                                     library=library), self.work / log)
        wait_listening(host, port, proc)
        return proc, f"{host}:{port}"

    def new_client(self, name: str, address: str) -> Client:
        now = datetime.now(UTC)
        files = provision_client(self.operator, self.work / name,
                                 not_before=now - timedelta(minutes=5),
                                 not_after=now + timedelta(hours=2))
        return Client(name, address, files.directory)

    def fetch(self, client: Client, *extra: str, **kw: Any) -> subprocess.Popen[bytes]:
        """``peernode fetch`` for ``client`` (stdout -> summary.json, stderr -> client.log)."""
        files = ClientFiles(client.dir)
        return self._spawn(
            [*fetch_args(self.torrent, files, client.address, download=client.download),
             *extra], client.log, stdout=files.summary, **kw)

    def decrypted(self, client: Client) -> bytes:
        """Decrypt the client's downloaded container with its own rental (ContainerError if bad)."""
        rental = open_rental((client.dir / "rental.pvr").read_bytes(),
                             load_node_key(client.dir / "node.key"), self.ca.cert)
        out = client.dir / "film.plain"
        with out.open("wb") as dst:
            decrypt_file(client.download / FILM_ID, rental.content_key, FILM_ID, dst)
        return out.read_bytes()

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def build_swarm(work: Path, size: int) -> Swarm:
    plaintext = os.urandom(size)
    film = work / "film.mp4"
    work.mkdir(parents=True, exist_ok=True)
    film.write_bytes(plaintext)
    operator = provision_operator(
        work, tracker_host=TRACKER_HOST, tracker_port=free_port(TRACKER_HOST),
        now=datetime.now(UTC) - timedelta(hours=1), film=film, film_id=FILM_ID,
        ca_name="fault test CA")
    return Swarm(operator, plaintext)


@pytest.fixture
def swarm(tmp_path: Path) -> Iterator[Swarm]:
    """An 8 MB film packaged with a tracker URL; nothing started yet."""
    s = build_swarm(tmp_path, 8 * 1000 * 1000)
    try:
        yield s
    finally:
        s.stop_all()
