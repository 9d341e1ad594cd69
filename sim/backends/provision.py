"""The files a swarm needs, made fresh for each run: a throwaway CA, the tracker's and
origin's certificates, a synthetic film packaged into a library, and one node key
and rental per client. Blocking I/O: run it in a worker thread.

Every backend starts from these files (locally they are read in place; a docker
backend would put them into a shared volume).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from certs import generate_node_key, save_node_key
from certs.authority import CA, issue_rental_bundle
from peernode.operations.packaging import package_film
from sim.scenario.plan import SwarmPlan
from support.atomic_write import write_atomic
from support.hostport import format_hostport
from support.processes import file_sha256

__all__ = ["FILM_ID", "ClientFiles", "SwarmFiles", "provision_swarm"]

FILM_ID = "sim-film"
_CHUNK_BYTES = 1 << 20
RENTAL_SLACK = timedelta(days=1)
"""Rentals outlast the run's timeout by this much, so no client's rental ends mid-run."""


@dataclass(frozen=True)
class ClientFiles:
    """One client's directory and what its process reads and writes there."""

    directory: Path

    @property
    def rental(self) -> Path:
        return self.directory / "rental.pvr"

    @property
    def node_key(self) -> Path:
        return self.directory / "node.key"

    @property
    def download_dir(self) -> Path:
        return self.directory / "download"

    @property
    def status_log(self) -> Path:
        return self.directory / "status.jsonl"

    @property
    def summary(self) -> Path:
        """The client's stdout: its last line is the ``fetch --json`` summary."""
        return self.directory / "summary.json"

    @property
    def log(self) -> Path:
        return self.directory / "client.log"


@dataclass(frozen=True)
class SwarmFiles:
    """Everything provisioned for one run (absolute paths)."""

    workdir: Path
    ca_dir: Path
    library: Path
    torrent: Path
    film_id: str
    container: Path
    container_bytes: int
    container_sha256: str
    server_cert: Path
    server_key: Path
    seeder_cert: Path
    seeder_key: Path
    tracker_port: int
    clients: dict[str, ClientFiles]

    @property
    def ca_cert(self) -> Path:
        return self.ca_dir / "ca.pem"

    @property
    def crl(self) -> Path:
        return self.ca_dir / "crl.pem"


def _write_film(path: Path, size_bytes: int, rng_bytes: Callable[[int], bytes]) -> None:
    """A synthetic film of random bytes (its content does not matter, its size does)."""
    with path.open("wb") as f:
        remaining = size_bytes
        while remaining > 0:
            chunk = rng_bytes(min(remaining, _CHUNK_BYTES))
            f.write(chunk)
            remaining -= len(chunk)


def provision_swarm(
    plan: SwarmPlan,
    workdir: Path,
    *,
    tracker_port: int,
    now: datetime,
    rng_bytes: Callable[[int], bytes] = os.urandom,
) -> SwarmFiles:
    """Create the CA, certificates, packaged film and client rentals for ``plan`` in
    ``workdir`` (which must not already hold a swarm). ``now`` (timezone-aware) starts
    the certificates' validity. Raises `CertsError`/`PeernodeError` for a workdir that
    already holds a CA or film, `OSError` for I/O failures."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_dir, library = workdir / "ca", workdir / "library"
    ca = CA.create("peernode simulation CA", now=now - timedelta(minutes=1))
    ca.save(ca_dir)
    server_cert, server_key = ca.issue_server([plan.addresses.tracker_host], now=now).save(
        workdir, "server")
    seeder_cert, seeder_key = ca.issue_seeder(now=now).save(workdir, "seeder")

    film = workdir / "film.bin"
    _write_film(film, plan.scenario.film_bytes, rng_bytes)
    tracker = format_hostport(plan.addresses.tracker_host, tracker_port)
    packaged = package_film(film, film_id=FILM_ID, ca_dir=ca_dir,
                            tracker_url=f"https://{tracker}/announce", library=library,
                            rng_bytes=rng_bytes)
    film.unlink()

    not_after = now + timedelta(seconds=plan.scenario.timeout_s) + RENTAL_SLACK
    clients = {}
    for client in plan.clients:
        files = ClientFiles(workdir / "clients" / client.name)
        key = generate_node_key()
        save_node_key(files.directory, key)
        bundle, _ = issue_rental_bundle(ca, ca_dir, FILM_ID, key.public_key(),
                                        not_before=now - timedelta(minutes=1),
                                        not_after=not_after, rng_bytes=rng_bytes)
        write_atomic(files.rental, bundle)
        clients[client.name] = files
    return SwarmFiles(
        workdir=workdir, ca_dir=ca_dir, library=library, torrent=packaged.torrent_path,
        film_id=FILM_ID, container=packaged.container_path,
        container_bytes=packaged.container_path.stat().st_size,
        container_sha256=file_sha256(packaged.container_path),
        server_cert=server_cert, server_key=server_key,
        seeder_cert=seeder_cert, seeder_key=seeder_key,
        tracker_port=tracker_port, clients=clients,
    )
