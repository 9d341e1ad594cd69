"""Fixtures of the rental service tests: an operator CA on disk with a film, the
service's TOML configuration, a real SQLite file or a real PostgreSQL database,
the service running in-process with real TLS, httpx clients (shop, node), and a real
tracker reading the CRL the service publishes."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import trio
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import certs
from certs.authority import CA, save_content_key
from rentals.config import RentalServiceConfig
from rentals.database import open_store
from rentals.openapi import openapi_document
from rentals.server import RunningRentalService, serve_rental_service
from rentals.shop_keys import new_shop_key
from support.atomic_write import write_private
from tests.rentals.postgres import PostgresServer, find_postgres_bin
from tests.tracker.conftest import PLACEHOLDER_URL, Film, announce_once, make_film
from tracker.config import ProbePolicy, TrackerConfig
from tracker.server import RunningTracker, serve_tracker

FILM = "film-a"


@dataclass
class ServiceFiles:
    """Everything a rental service reads, under one directory."""

    dir: Path
    ca: CA
    ca_dir: Path
    library: Path
    config_path: Path
    database: str

    def config(self, **over: Any) -> RentalServiceConfig:
        return RentalServiceConfig.load(self.config_path).replace(**over)

    def write_config(self, **values: Any) -> Path:
        base = {
            "listen": "127.0.0.1:0",
            "ca_dir": "ca",
            "library": "library",
            "tls_cert": "tls/server.pem",
            "tls_key": "tls/server.key",
            "database": self.database,
        }
        lines = [f"{k} = {json.dumps(v)}" for k, v in (base | values).items()]
        self.config_path.write_text("\n".join(lines) + "\n")
        return self.config_path

    def add_key(self, name: str = "shop") -> str:
        store = open_store(self.database, base_dir=self.dir)
        try:
            new = new_shop_key(name, now=datetime.now(UTC).replace(microsecond=0))
            store.add_shop_key(new.record)
        finally:
            store.close()
        return new.key

    def ca_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca.cert_pem.decode())

    def node_context(self, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        """A client context presenting a (rental) certificate, as a renewing node does."""
        ctx = self.ca_context()
        name = os.urandom(6).hex()
        cert_file, key_file = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        cert_file.write_bytes(cert_pem)
        write_private(key_file, key_pem)
        ctx.load_cert_chain(cert_file, key_file)
        return ctx


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    try:
        server = PostgresServer(bin_dir)
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    """A fresh database URL of each kind (relative SQLite files live in the test dir)."""
    if request.param == "sqlite":
        return "sqlite:///rentals.sqlite3"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


def make_service_files(directory: Path, ca: CA, database: str) -> ServiceFiles:
    ca_dir = directory / "ca"
    ca.save(ca_dir)
    ca.issue_server(["127.0.0.1", "::1"]).save(_mkdir(directory / "tls"), "server")
    library = _mkdir(directory / "library")
    (library / f"{FILM}.torrent").write_bytes(b"a torrent")  # the service only checks it exists
    save_content_key(ca_dir, FILM, os.urandom(32))
    files = ServiceFiles(directory, ca, ca_dir, library, directory / "rentals.toml", database)
    files.write_config()
    return files


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def files(tmp_path: Path, ca: CA, database: str) -> ServiceFiles:
    return make_service_files(tmp_path, ca, database)


@pytest.fixture
def sqlite_files(tmp_path: Path, ca: CA) -> ServiceFiles:
    return make_service_files(tmp_path, ca, "sqlite:///rentals.sqlite3")


class Validator:
    """Checks JSON answers against the service's own OpenAPI schemas."""

    def __init__(self) -> None:
        document = openapi_document()
        self.registry: Registry[Any] = Registry().with_resource(
            "urn:rentals", Resource.from_contents(document, default_specification=DRAFT202012)
        )

    def check(self, response: httpx.Response, schema: str) -> dict[str, Any]:
        value = response.json()
        jsonschema.Draft202012Validator(
            {"$ref": f"urn:rentals#/components/schemas/{schema}"}, registry=self.registry
        ).validate(value)
        assert isinstance(value, dict)
        return value


@pytest.fixture(scope="session")
def validator() -> Validator:
    return Validator()


def node_key_pem() -> tuple[Any, str]:
    key = certs.generate_node_key()
    return key, certs.public_key_pem(key.public_key()).decode()


@contextlib.asynccontextmanager
async def serve(files: ServiceFiles, **over: Any) -> AsyncIterator[RunningRentalService]:
    """The service of ``files`` (config overrides in ``over``), shut down gracefully after."""
    async with trio.open_nursery() as nursery:
        service: RunningRentalService = await nursery.start(
            serve_rental_service, files.config(**over)
        )
        try:
            yield service
        finally:
            service.shutdown()


@pytest.fixture
async def running(files: ServiceFiles) -> AsyncIterator[RunningRentalService]:
    async with serve(files) as service:
        yield service


def shop_client(files: ServiceFiles, url: str, key: str | None) -> httpx.AsyncClient:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    return httpx.AsyncClient(base_url=url, verify=files.ca_context(), headers=headers)


def tracked_film(files: ServiceFiles, film_id: str, *, content_key: bool = True) -> Film:
    """A real torrent in the service's library (instead of the placeholder ``film-a``),
    with its content key unless ``content_key`` is False (a film the service cannot rent)."""
    (files.library / f"{FILM}.torrent").unlink(missing_ok=True)  # the placeholder is no torrent
    film = make_film(files.library, film_id, files.ca.cert_pem, PLACEHOLDER_URL)
    if content_key:
        save_content_key(files.ca_dir, film_id, os.urandom(32))
    return film


@contextlib.asynccontextmanager
async def service_and_tracker(files: ServiceFiles
                              ) -> AsyncIterator[tuple[RunningRentalService, RunningTracker]]:
    """The service of ``files`` and a tracker reading the CRL where the service writes it."""
    config = TrackerConfig.from_mapping(
        {},
        ca_path=files.ca_dir / "ca.pem",
        cert_path=files.dir / "tls" / "server.pem",
        key_path=files.dir / "tls" / "server.key",
        library_dir=files.library,
        crl_path=files.ca_dir / "crl.pem",  # where the service publishes it
        reload_poll_s=0.1,
        probe=ProbePolicy(enabled=False),
    )
    async with serve(files) as service, trio.open_nursery() as nursery:
        tracker: RunningTracker = await nursery.start(serve_tracker, config)
        yield service, tracker
        nursery.cancel_scope.cancel()


async def refused_at_next_announce(tracker: RunningTracker, ctx: ssl.SSLContext,
                                   target: bytes) -> bytes:
    """Announce until the tracker refuses (within 5 s, CRL reloads included): the reason."""
    started = trio.current_time()
    with trio.fail_after(10):
        while True:
            answer = await announce_once(tracker.port, ctx, target)
            if b"failure reason" in answer:
                break
            await trio.sleep(0.05)
    assert trio.current_time() - started < 5
    reason: bytes = answer[b"failure reason"]
    return reason
