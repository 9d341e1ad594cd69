"""An operator's files and a tracker process for the security tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certs import generate_node_key, private_key_pem
from certs.authority import CA
from peernode.operations.packaging import PackagedFilm, package_film
from support.atomic_write import write_private

PEERNODE = [sys.executable, "-m", "peernode"]
FILM_ID = "secure-film"
HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Operator:
    """A CA directory, tracker and seeder certificates, and one packaged film."""

    work: Path
    ca: CA
    ca_dir: Path
    library: Path
    film: PackagedFilm
    tracker_port: int

    def rental_files(self, name: str, *, ca: CA | None = None) -> tuple[Path, Path]:
        """A rental certificate (PEM) and its key (0600) for the film, from ``ca``."""
        key = generate_node_key()
        now = datetime.now(UTC)
        cert = (ca or self.ca).issue_rental(
            FILM_ID, key.public_key(), not_before=now - timedelta(hours=1),
            not_after=now + timedelta(hours=1),
        )
        cert_path, key_path = self.work / f"{name}.pem", self.work / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
        write_private(key_path, private_key_pem(key))
        return cert_path, key_path

    def tracker_args(self, key: Path | None = None) -> list[str]:
        return ["tracker", "--ca", str(self.ca_dir / "ca.pem"), "--cert",
                str(self.work / "server.pem"), "--key", str(key or self.work / "server.key"),
                "--library", str(self.library), "--crl", str(self.ca_dir / "crl.pem"),
                "--listen", f"{HOST}:{self.tracker_port}"]


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    now = datetime.now(UTC)
    ca = CA.create("security test CA", now=now - timedelta(days=1))
    ca_dir = tmp_path / "ca"
    ca.save(ca_dir)
    ca.issue_server([HOST], now=now - timedelta(hours=1)).save(tmp_path, "server")
    ca.issue_seeder(now=now - timedelta(hours=1)).save(tmp_path, "seeder")
    film = tmp_path / "film.mp4"
    film.write_bytes(os.urandom(300_000))
    port = free_port()
    packaged = package_film(film, film_id=FILM_ID, ca_dir=ca_dir,
                            tracker_url=f"https://{HOST}:{port}/announce",
                            library=tmp_path / "library")
    return Operator(tmp_path, ca, ca_dir, tmp_path / "library", packaged, port)


@pytest.fixture
def tracker(operator: Operator) -> Iterator[subprocess.Popen[bytes]]:
    """``peernode tracker`` for the operator's library, listening on its port."""
    log = (operator.work / "tracker.log").open("ab")
    proc = subprocess.Popen([*PEERNODE, *operator.tracker_args()], stderr=log)
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, (operator.work / "tracker.log").read_text()
        try:
            socket.create_connection((HOST, operator.tracker_port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "tracker did not listen"
            time.sleep(0.1)
    yield proc
    proc.terminate()
    proc.wait(15)
