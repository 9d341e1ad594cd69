"""Short-lived hosting credentials from the real rental service (10 s certificates) keep
a host seeding across renewals: the daemon (a placement with its ``service_url``,
renewed credentials saved, one that expired while the daemon was off renewed at its
restart) and ``peernode host --service URL`` (a process). A renter that connects only
after the first certificate has expired still gets the whole film from the host."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import trio
import trio.lowlevel

from certs import generate_node_key, save_node_key
from certs.authority import make_rental_bundle, save_content_key
from certs.hosting import load_hosting_certificate
from peernode.daemon.server import DaemonConfig, serve_daemon
from peernode.runtime.node import NodeConfig, open_node
from support.processes import peernode_argv
from tests.rentals.conftest import ServiceFiles, node_key_pem, serve, shop_client
from tests.tracker.conftest import PLACEHOLDER_URL, Film, make_film

FILM_H = "film-h"
LIFETIME_S = 10
CONTENT_KEY = os.urandom(32)


async def _hosting(files: ServiceFiles, url: str, pub: str) -> dict[str, Any]:
    async with shop_client(files, url, files.add_key()) as shop:
        r = await shop.post("/v1/hostings", json={"film_id": FILM_H, "node_public_key": pub,
                                                  "days": 2})
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created


async def _renter_gets_the_film_from(files: ServiceFiles, film: Film, tmp: Path,
                                     host: tuple[str, int]) -> None:
    key = generate_node_key()
    now = datetime.now(UTC)
    cert = files.ca.issue_rental(FILM_H, key.public_key(), not_before=now - timedelta(hours=1),
                                 not_after=now + timedelta(hours=2))
    async with open_node(NodeConfig(port_mapping=False, listen_host="127.0.0.1")) as renter:
        download = await renter.fetch(film.torrent_path, make_rental_bundle(cert, CONTENT_KEY),
                                      key, save_dir=tmp, peers=[host])
        with trio.fail_after(90):
            got = await download.complete()
    assert got.bytes_from_peers >= got.total_bytes  # every byte from the host


def _film(files: ServiceFiles) -> Film:
    film = make_film(files.library, FILM_H, files.ca.cert_pem, PLACEHOLDER_URL)
    save_content_key(files.ca_dir, FILM_H, CONTENT_KEY)
    return film


def _daemon_holding_the_film(files: ServiceFiles) -> tuple[str, Path, DaemonConfig]:
    """A host key (its public PEM), and a daemon state dir already holding the container
    (placed before: nothing to fetch), with the daemon's config."""
    key, pub = node_key_pem()
    save_node_key(files.dir / "host", key)
    state = files.dir / "state"
    (state / "hosted" / FILM_H).mkdir(parents=True)
    shutil.copy(files.library / FILM_H, state / "hosted" / FILM_H / FILM_H)
    return pub, state, DaemonConfig(state_dir=state, listen_host="127.0.0.1",
                                    poll_interval_s=0.2)


async def _place(api: httpx.AsyncClient, files: ServiceFiles, film: Film, credential: bytes,
                 service_url: str) -> httpx.Response:
    """Turn hosting on at the daemon, then place the film with ``credential``."""
    r = await api.put("/v1/settings", json={"hosting": {"enabled": True,
                                                        "disk_quota_bytes": 1 << 30}})
    assert r.status_code == 200
    return await api.put(f"/v1/hostings/{FILM_H}", json={
        "torrent": base64.b64encode(film.torrent_path.read_bytes()).decode(),
        "credential": base64.b64encode(credential).decode(),
        "node_key_path": str(files.dir / "host" / "node.key"), "service_url": service_url})


async def test_the_daemon_keeps_a_service_hosting_renewed_and_renews_it_at_a_restart(
    sqlite_files: ServiceFiles,
) -> None:
    files = sqlite_files
    film = _film(files)
    pub, state, config = _daemon_holding_the_film(files)
    async with serve(files, cert_lifetime_s=LIFETIME_S) as service:
        created = await _hosting(files, service.url, pub)
        first_not_after = load_hosting_certificate(
            created["credential"].encode()).not_valid_after_utc
        async with trio.open_nursery() as nursery:
            address = await nursery.start(serve_daemon, config)
            token = address.token_path.read_text().strip()
            async with httpx.AsyncClient(base_url=address.url, timeout=30,
                                         headers={"Authorization": f"Bearer {token}"}) as api:
                r = await _place(api, files, film, created["credential"].encode(),
                                 service.url)
                assert r.status_code == 201, r.text
                assert r.json()["service_url"] == service.url
                # two renewals (at 2/3 of each 10 s held): past the first certificate's end
                with trio.fail_after(90):
                    while True:
                        view = (await api.get(f"/v1/hostings/{FILM_H}")).json()
                        until = datetime.fromisoformat(view["credential_not_after"])
                        if (until - first_not_after).total_seconds() > LIFETIME_S:
                            break
                        await trio.sleep(0.5)
                assert view["state"] == "seeding", view
                assert view["renewal_stopped"] is None
                assert datetime.now(UTC) > first_not_after  # the first one has expired
                await _renter_gets_the_film_from(files, film, files.dir / "renter",
                                                 ("127.0.0.1", address.ssl_port))
                # each renewed credential is saved (at the daemon's next poll)
                saved = state / "hostings" / FILM_H / "credential.pvh"
                with trio.fail_after(10):
                    while load_hosting_certificate(
                            saved.read_bytes()).not_valid_after_utc < until:
                        await trio.sleep(0.2)
            nursery.cancel_scope.cancel()

        # the daemon is off longer than a certificate lasts: its saved one expires
        with trio.fail_after(LIFETIME_S + 10):
            while datetime.now(UTC) < load_hosting_certificate(
                    (state / "hostings" / FILM_H / "credential.pvh").read_bytes()
            ).not_valid_after_utc:
                await trio.sleep(0.5)
        async with trio.open_nursery() as nursery:
            address = await nursery.start(serve_daemon, config)
            async with httpx.AsyncClient(base_url=address.url, timeout=30,
                                         headers={"Authorization": f"Bearer {token}"}) as api:
                view = (await api.get(f"/v1/hostings/{FILM_H}")).json()
                assert view["state"] in ("checking", "seeding"), view  # renewed at start
                assert datetime.fromisoformat(view["credential_not_after"]) > datetime.now(UTC)
            nursery.cancel_scope.cancel()


async def test_a_daemon_restarted_while_the_service_is_down_hosts_again_once_it_is_back(
    sqlite_files: ServiceFiles,
) -> None:
    """The saved credential expired while the daemon was off, and the service is down at
    its start: the hosting is listed expired with its next attempt, and is hosted again,
    without a restart, once the service answers on its address."""
    files = sqlite_files
    film = _film(files)
    pub, _state, config = _daemon_holding_the_film(files)
    async with serve(files, cert_lifetime_s=LIFETIME_S) as service:
        created = await _hosting(files, service.url, pub)
        url = service.url
    credential = created["credential"].encode()
    async with trio.open_nursery() as nursery:  # placed while its credential is valid
        address = await nursery.start(serve_daemon, config)
        token = address.token_path.read_text().strip()
        async with httpx.AsyncClient(base_url=address.url, timeout=30,
                                     headers={"Authorization": f"Bearer {token}"}) as api:
            r = await _place(api, files, film, credential, url)
            assert r.status_code == 201, r.text
        nursery.cancel_scope.cancel()
    with trio.fail_after(LIFETIME_S + 10):  # off longer than the credential lasts
        while datetime.now(UTC) < load_hosting_certificate(credential).not_valid_after_utc:
            await trio.sleep(0.5)

    async with trio.open_nursery() as nursery:
        address = await nursery.start(serve_daemon, config)
        async with httpx.AsyncClient(base_url=address.url, timeout=30,
                                     headers={"Authorization": f"Bearer {token}"}) as api:
            with trio.fail_after(20):
                while "next attempt at" not in (
                        view := (await api.get(f"/v1/hostings/{FILM_H}")).json()
                ).get("error", ""):
                    await trio.sleep(0.1)
            assert view["state"] == "expired", view
            async with serve(files, cert_lifetime_s=LIFETIME_S,
                             listen_port=int(url.rsplit(":", 1)[1])):
                with trio.fail_after(60):
                    while (view := (await api.get(f"/v1/hostings/{FILM_H}")).json()
                           )["state"] not in ("checking", "seeding"):
                        await trio.sleep(0.2)
                assert datetime.fromisoformat(view["credential_not_after"]) > datetime.now(UTC)
        nursery.cancel_scope.cancel()


async def test_peernode_host_with_service_keeps_seeding_across_renewals(
    sqlite_files: ServiceFiles,
) -> None:
    files = sqlite_files
    film = _film(files)
    key, pub = node_key_pem()
    host_dir = files.dir / "host"
    save_node_key(host_dir, key)
    out = host_dir / "hosted"
    out.mkdir()
    shutil.copy(files.library / FILM_H, out / FILM_H)
    async with serve(files, cert_lifetime_s=LIFETIME_S) as service:
        created = await _hosting(files, service.url, pub)
        (host_dir / "film.pvh").write_text(created["credential"])
        first_not_after = load_hosting_certificate(
            created["credential"].encode()).not_valid_after_utc
        status, log = host_dir / "status.jsonl", host_dir / "host.log"
        with log.open("wb") as err:
            proc = await trio.lowlevel.open_process(peernode_argv(
                "host", film.torrent_path, "--hosting", host_dir / "film.pvh",
                "--node-key", host_dir / "node.key", "--out", out, "--disk-quota", "1G",
                "--service", service.url, "--listen", "127.0.0.1:0", "--no-port-mapping",
                "--status-log", status, "--json"), stderr=err, stdout=subprocess.DEVNULL)
        try:
            with trio.fail_after(90):
                while "hosting on" not in log.read_text():
                    assert proc.returncode is None, log.read_text()
                    await trio.sleep(0.2)
            banner = next(line for line in log.read_text().splitlines() if "hosting on" in line)
            port = int(banner.rsplit(":", 1)[1])
            # two renewals (at 2/3 of each 10 s held): past the first certificate's end
            with trio.fail_after(90):
                while True:
                    await trio.sleep(0.5)
                    assert proc.returncode is None, log.read_text()
                    last = _last_line(status)
                    if last is None:
                        continue
                    until = datetime.fromisoformat(last["credential_not_after"])
                    if (until - first_not_after).total_seconds() > LIFETIME_S:
                        break
            assert last["complete"]
            assert datetime.now(UTC) > first_not_after  # the first one has expired
            await _renter_gets_the_film_from(files, film, files.dir / "renter",
                                             ("127.0.0.1", port))
        finally:
            proc.terminate()
            with trio.move_on_after(20):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, log.read_text()
        renewals = [line for line in service.metrics.render().decode().splitlines()
                    if line.startswith("peernode_hosting_renewals_total ")]
        assert float(renewals[0].split()[1]) >= 2


def _last_line(path: Path) -> dict[str, Any] | None:
    try:
        lines = path.read_text().strip().splitlines()
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            value: dict[str, Any] = json.loads(line)
            return value
        except ValueError:
            continue
    return None


def test_peernode_host_refuses_a_service_that_is_not_https_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(peernode_argv(
        "host", tmp_path / "t.torrent", "--hosting", tmp_path / "h.pvh", "--node-key",
        tmp_path / "node.key", "--out", tmp_path / "out", "--disk-quota", "1G",
        "--service", "http://rentals.example"), capture_output=True, text=True, timeout=60,
        check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "give the rental service's https:// URL" in proc.stderr.strip().splitlines()[-1]
