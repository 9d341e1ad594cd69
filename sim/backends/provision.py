"""The files a swarm needs, made fresh for each run: a throwaway CA, the tracker's and
origin's certificates, a film (synthetic or given) packaged into a library, and one
node key and rental per client. Blocking I/O: run it in a worker thread.

Every backend starts from these files (locally they are read in place; the docker
backend bind-mounts them), and so do the demo and the fault and security tests
(`provision_operator`, `provision_client`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from certs import generate_node_key, save_node_key
from certs.authority import CA, issue_rental_bundle
from peernode.operations.packaging import PackagedFilm, package_film
from sim.scenario.plan import SwarmPlan
from support.atomic_write import write_atomic
from support.hostport import format_hostport
from support.processes import file_sha256

__all__ = ["FILM_ID", "ClientFiles", "OperatorFiles", "SwarmFiles", "provision_client",
           "provision_operator", "provision_swarm", "write_synthetic_film"]

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
    """Everything provisioned for one run: the operator's files and each client's."""

    operator: OperatorFiles
    container_sha256: str
    """SHA-256 of the encrypted container, to check a client's download against."""
    clients: dict[str, ClientFiles]

    @property
    def workdir(self) -> Path:
        return self.operator.workdir

    @property
    def torrent(self) -> Path:
        return self.operator.packaged.torrent_path

    @property
    def film_id(self) -> str:
        return self.operator.film_id

    @property
    def container_bytes(self) -> int:
        return self.operator.packaged.container_path.stat().st_size

    @property
    def tracker_port(self) -> int:
        return self.operator.tracker_port


def write_synthetic_film(path: Path, size_bytes: int,
                         rng_bytes: Callable[[int], bytes] = os.urandom) -> None:
    """A synthetic film of random bytes (its content does not matter, its size does)."""
    with path.open("wb") as f:
        remaining = size_bytes
        while remaining > 0:
            chunk = rng_bytes(min(remaining, _CHUNK_BYTES))
            f.write(chunk)
            remaining -= len(chunk)


@dataclass(frozen=True)
class OperatorFiles:
    """The operator's side of a swarm: its CA (object and directory), the tracker's and
    origin's certificates, and one packaged film (absolute paths)."""

    workdir: Path
    ca: CA
    ca_dir: Path
    library: Path
    packaged: PackagedFilm
    film_sha256: str
    """SHA-256 of the plaintext film, to check a client's decrypted copy against."""
    film_bytes: int
    server_cert: Path
    server_key: Path
    seeder_cert: Path
    seeder_key: Path
    tracker_host: str
    tracker_port: int

    @property
    def film_id(self) -> str:
        return self.packaged.film_id

    @property
    def torrent(self) -> Path:
        return self.packaged.torrent_path

    @property
    def ca_cert(self) -> Path:
        return self.ca_dir / "ca.pem"

    @property
    def crl(self) -> Path:
        return self.ca_dir / "crl.pem"

    @property
    def announce_url(self) -> str:
        return f"https://{format_hostport(self.tracker_host, self.tracker_port)}/announce"


def provision_operator(
    workdir: Path,
    *,
    tracker_host: str,
    tracker_port: int,
    now: datetime,
    film: Path | None = None,
    film_bytes: int = 0,
    film_id: str = FILM_ID,
    ca_name: str = "peernode simulation CA",
    rng_bytes: Callable[[int], bytes] = os.urandom,
) -> OperatorFiles:
    """Create a CA, the tracker's (for ``tracker_host``) and seeder's certificates and
    package ``film`` (or a synthetic one of ``film_bytes`` random bytes, removed after
    packaging) for ``tracker_host:tracker_port`` into ``workdir/library``. Certificates
    are valid from a minute before ``now`` (timezone-aware). Raises `CertsError` or
    `PeernodeError` for a workdir that already holds a CA or film, `OSError` for I/O."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca_dir, library = workdir / "ca", workdir / "library"
    issued_at = now - timedelta(minutes=1)
    ca = CA.create(ca_name, now=issued_at)
    ca.save(ca_dir)
    server_cert, server_key = ca.issue_server([tracker_host], now=issued_at).save(
        workdir, "server")
    seeder_cert, seeder_key = ca.issue_seeder(now=issued_at).save(workdir, "seeder")
    source = film
    if source is None:
        source = workdir / "film.bin"
        write_synthetic_film(source, film_bytes, rng_bytes)
    tracker = format_hostport(tracker_host, tracker_port)
    packaged = package_film(source, film_id=film_id, ca_dir=ca_dir,
                            tracker_url=f"https://{tracker}/announce", library=library,
                            rng_bytes=rng_bytes)
    plain_sha256, plain_bytes = file_sha256(source), source.stat().st_size
    if film is None:
        source.unlink()
    return OperatorFiles(
        workdir=workdir, ca=ca, ca_dir=ca_dir, library=library, packaged=packaged,
        film_sha256=plain_sha256, film_bytes=plain_bytes, server_cert=server_cert,
        server_key=server_key, seeder_cert=seeder_cert, seeder_key=seeder_key,
        tracker_host=tracker_host, tracker_port=tracker_port,
    )


def provision_client(
    operator: OperatorFiles,
    directory: Path,
    *,
    not_before: datetime,
    not_after: datetime,
    rng_bytes: Callable[[int], bytes] = os.urandom,
) -> ClientFiles:
    """A fresh node key and a rental of the operator's film in ``directory``."""
    files = ClientFiles(directory)
    key = generate_node_key()
    save_node_key(files.directory, key)
    bundle, _ = issue_rental_bundle(operator.ca, operator.ca_dir, operator.film_id,
                                    key.public_key(), not_before=not_before,
                                    not_after=not_after, rng_bytes=rng_bytes)
    write_atomic(files.rental, bundle)
    return files


def provision_swarm(
    plan: SwarmPlan,
    workdir: Path,
    *,
    tracker_port: int,
    now: datetime,
    film: Path | None = None,
    film_id: str = FILM_ID,
    rng_bytes: Callable[[int], bytes] = os.urandom,
) -> SwarmFiles:
    """Create the CA, certificates, packaged film (``film``, or a synthetic one of the
    scenario's size) and client rentals for ``plan`` in ``workdir`` (which must not
    already hold a swarm). ``now`` (timezone-aware) starts the certificates' validity.
    Raises `CertsError`/`PeernodeError` for a workdir that already holds a CA or film,
    `OSError` for I/O failures."""
    operator = provision_operator(
        workdir, tracker_host=plan.addresses.tracker_host, tracker_port=tracker_port, now=now,
        film=film, film_bytes=plan.scenario.film_bytes, film_id=film_id, rng_bytes=rng_bytes)
    not_after = now + timedelta(seconds=plan.scenario.timeout_s) + RENTAL_SLACK
    clients = {
        client.name: provision_client(operator, workdir / "clients" / client.name,
                                      not_before=now - timedelta(minutes=1),
                                      not_after=not_after, rng_bytes=rng_bytes)
        for client in plan.clients
    }
    return SwarmFiles(operator=operator,
                      container_sha256=file_sha256(operator.packaged.container_path),
                      clients=clients)
