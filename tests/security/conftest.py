"""An operator's files and a tracker process for the security tests.

The files come from the simulator's launcher (`sim.backends.provision`), the
tracker's command line too (`sim.backends.launcher`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certs import generate_node_key, private_key_pem
from certs.authority import CA
from peernode.operations.packaging import PackagedFilm
from sim.backends.launcher import tracker_args
from sim.backends.provision import OperatorFiles, provision_operator
from support.atomic_write import write_private
from support.processes import free_port, peernode_argv

PEERNODE = peernode_argv()
FILM_ID = "secure-film"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Operator:
    """A CA directory, tracker and seeder certificates, and one packaged film."""

    files: OperatorFiles

    @property
    def work(self) -> Path:
        return self.files.workdir

    @property
    def ca(self) -> CA:
        return self.files.ca

    @property
    def ca_dir(self) -> Path:
        return self.files.ca_dir

    @property
    def library(self) -> Path:
        return self.files.library

    @property
    def film(self) -> PackagedFilm:
        return self.files.packaged

    @property
    def tracker_port(self) -> int:
        return self.files.tracker_port

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
        args = tracker_args(self.files, HOST)
        if key is not None:
            args[args.index("--key") + 1] = str(key)
        return args


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    film = tmp_path / "film.mp4"
    film.write_bytes(os.urandom(300_000))
    return Operator(provision_operator(
        tmp_path, tracker_host=HOST, tracker_port=free_port(HOST),
        now=datetime.now(UTC) - timedelta(hours=1), film=film, film_id=FILM_ID,
        ca_name="security test CA"))


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
