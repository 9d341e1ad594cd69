"""`peernode rental-service` as a real process: shop keys from the command line,
one-line errors, graceful SIGTERM, a restart that loses nothing, and SIGKILL in the
middle of creates leaving a consistent store that retries complete."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

import certs
from rentals.database import open_store
from rentals.records import RentalState
from support.processes import free_port, peernode_argv, wait_listening
from tests.rentals.conftest import FILM, ServiceFiles, node_key_pem, shop_client


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(peernode_argv(*args), capture_output=True, text=True, timeout=60)


def test_shop_keys_from_the_command_line(sqlite_files: ServiceFiles) -> None:
    config = str(sqlite_files.config_path)
    added = _cli("rental-service", "add-shop-key", "--config", config, "--name", "web")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip()
    assert key.startswith("pnk_")
    store = open_store(sqlite_files.database, base_dir=sqlite_files.dir)
    (record,) = store.shop_keys()
    store.close()
    assert key not in repr(record)  # only the hash is stored
    assert key.split("_", 2)[2] not in (record.digest, record.salt)

    again = _cli("rental-service", "add-shop-key", "--config", config, "--name", "web")
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1
    assert "already exists" in again.stderr

    listed = _cli("rental-service", "list-shop-keys", "--config", config)
    assert "web" in listed.stdout
    assert key not in listed.stdout

    revoked = _cli("rental-service", "revoke-shop-key", "--config", config, "--name", "web")
    assert revoked.returncode == 0, revoked.stderr
    unknown = _cli("rental-service", "revoke-shop-key", "--config", config, "--name", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: ")


def test_bad_configurations_are_one_line_errors(
    sqlite_files: ServiceFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    from peernode.cli.main import main

    def run(path: Path) -> tuple[int, str]:
        status = main(["rental-service", "--config", str(path)])
        return status, capsys.readouterr().err

    for values, words in (
        ({"colour": "blue"}, "unknown key 'colour'"),
        ({"cert_lifetime_s": "long"}, "cert_lifetime_s must be a number"),
        ({"database": "mysql://x"}, "sqlite:///PATH or postgresql://"),
        ({"listen": "nowhere"}, "listen"),
        ({"tls_key": "missing.key"}, "missing.key does not exist"),
    ):
        sqlite_files.write_config(**values)
        status, err = run(sqlite_files.config_path)
        assert status == 1, values
        assert err.startswith("error: ")
        assert err.count("\n") == 1, err
        assert words in err
    (sqlite_files.dir / "broken.toml").write_text("listen = [")
    status, err = run(sqlite_files.dir / "broken.toml")
    assert (status, err.count("\n")) == (1, 1)


@asynccontextmanager
async def _process(files: ServiceFiles) -> AsyncIterator[tuple[trio.Process, str]]:
    port = free_port("127.0.0.1")
    files.write_config(listen=f"127.0.0.1:{port}", shutdown_grace_s=2)
    proc = await trio.lowlevel.open_process(
        peernode_argv("rental-service", "--config", files.config_path),
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_listening("127.0.0.1", port, proc, "rental-service")
        yield proc, f"https://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def _request(pub: str) -> dict[str, Any]:
    return {"film_id": FILM, "node_public_key": pub, "hours": 3}


async def test_sigterm_is_graceful_and_a_restart_loses_nothing(files: ServiceFiles) -> None:
    key = files.add_key()
    node_key, pub = node_key_pem()
    async with _process(files) as (proc, url):
        async with shop_client(files, url, key) as shop:
            made = [(await shop.post("/v1/rentals", json=_request(pub))).json() for _ in range(3)]
            await shop.post(f"/v1/rentals/{made[0]['rental_id']}/revoke", json={"reason": "x"})
        proc.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await proc.wait() == 0
    async with _process(files) as (_, url), shop_client(files, url, key) as shop:
        for i, created in enumerate(made):
            read = (await shop.get(f"/v1/rentals/{created['rental_id']}")).json()
            assert read["revoked"] == (i == 0)
            assert read["not_after"] == created["not_after"]
        listed = (await shop.get("/v1/rentals")).json()["rentals"]
        assert sorted(r["rental_id"] for r in listed) == sorted(m["rental_id"] for m in made)
        # the bundle the shop got still opens, and the idempotent replay returns it
    rental = certs.open_rental(base64.b64decode(made[1]["bundle"]), node_key, files.ca.cert)
    assert rental.serial == int(made[1]["rental_id"])


async def test_sigkill_during_creates_leaves_a_consistent_store(files: ServiceFiles) -> None:
    key = files.add_key()
    _, pub = node_key_pem()
    answered: dict[str, str] = {}  # idempotency key -> rental id the shop was told
    tried: set[str] = set()

    async def create(shop: httpx.AsyncClient, worker: int) -> None:
        for n in range(10_000):
            idem = f"w{worker}-{n}"
            tried.add(idem)
            try:
                r = await shop.post("/v1/rentals", json=_request(pub),
                                    headers={"Idempotency-Key": idem})
            except httpx.HTTPError:
                return  # the service died under us
            if r.status_code == 201:
                answered[idem] = r.json()["rental_id"]

    async with (
        _process(files) as (proc, url),
        shop_client(files, url, key) as shop,
        trio.open_nursery() as nursery,
    ):
        for worker in range(6):
            nursery.start_soon(create, shop, worker)
        while len(answered) < 20:
            await trio.sleep(0.01)
        proc.kill()  # SIGKILL, with creates in flight
    assert len(answered) >= 20

    store = open_store(files.database, base_dir=files.dir)
    try:
        rows = store.rentals(shop_key_id=None, limit=1000, after=None)
        by_key = {r.idempotency_key: r for r in rows}
        assert len(by_key) == len(rows)  # one rental per idempotency key, never two
        for idem, rental_id in answered.items():  # every answer the shop got is stored
            record = by_key[idem]
            assert str(record.rental_id) == rental_id
            assert record.state is RentalState.ISSUED
        for record in rows:  # issued rows hold their bundle; pending rows hold no certificate
            assert (record.bundle is not None) == (record.state is RentalState.ISSUED)
        pending = [r for r in rows if r.state is RentalState.PENDING]
    finally:
        store.close()
    if files.database.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(files.dir / "rentals.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # a retry of every request (same idempotency key) completes it, creating no duplicate
    async with _process(files) as (_, url), shop_client(files, url, key) as shop:
        for idem in sorted(tried):
            r = await shop.post("/v1/rentals", json=_request(pub),
                                headers={"Idempotency-Key": idem})
            assert r.status_code == 201
            if idem in by_key:
                assert r.json()["rental_id"] == str(by_key[idem].rental_id)
        total = len((await shop.get("/v1/rentals", params={"limit": 1000})).json()["rentals"])
    assert total == len(tried)
    sys.stderr.write(f"sigkill: {len(answered)} answered, {len(pending)} pending at the kill\n")
