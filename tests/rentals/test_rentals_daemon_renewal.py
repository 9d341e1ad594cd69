"""The daemon's start-up renewal goes on by itself while the rental service is down.

Real rental service (SQLite, TLS), the daemon's controller over a real node and a real
state directory: a rental whose certificate expired while the daemon was off (a day
later, the window still open) cannot be renewed at start, the service being down (its
port refuses); the daemon lists it as expired, tries again with the running renewal's
backoff, and once the service is back on the same address renews it and starts the
download, without a restart. A refusal (revoked) ends the attempts with the reason.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio

import certs
from certs.authority import save_content_key
from peernode.daemon.api import ApiError, Route
from peernode.daemon.controller import Daemon
from peernode.daemon.state_dir import StateStore
from peernode.runtime.node import NodeConfig, open_node
from rentals.config import RentalServiceConfig
from rentals.server import RunningRentalService, serve_rental_service
from tests.rentals.conftest import ServiceFiles, node_key_pem, shop_client
from tests.tracker.conftest import PLACEHOLDER_URL, Film, make_film

FILM_ID = "film-d"


@dataclass
class _World:
    """A film of the service's library, a node key, and a wall clock moved by ``offset``."""

    film: Film
    key_path: Path
    pub: str
    offset: list[timedelta]

    @classmethod
    def make(cls, files: ServiceFiles, tmp_path: Path) -> _World:
        film = make_film(files.library, FILM_ID, files.ca.cert_pem, PLACEHOLDER_URL)
        save_content_key(files.ca_dir, FILM_ID, os.urandom(32))
        key, pub = node_key_pem()
        key_path, _ = certs.save_node_key(tmp_path / "node", key)
        return cls(film, key_path, pub, [timedelta(0)])

    def clock(self) -> datetime:
        return datetime.now(UTC) + self.offset[0]


def _node(clock: Callable[[], datetime]) -> Any:
    return open_node(NodeConfig(listen_host="127.0.0.1", port_mapping=False,
                                wall_clock=clock))


async def _next_event(events: trio.MemoryReceiveChannel[bytes], kind: str) -> dict[str, Any]:
    async for message in events:
        lines = message.decode().split("\n")
        if f"event: {kind}" in lines:
            data = next(line for line in lines if line.startswith("data: "))
            value: dict[str, Any] = json.loads(data.removeprefix("data: "))
            return value
    raise AssertionError("the event stream ended")


async def _listed(daemon: Daemon) -> dict[str, Any]:
    _, listed = await daemon.call(Route("list_downloads"), b"")
    [view] = listed["downloads"]
    assert isinstance(view, dict)
    return view


async def test_the_daemon_renews_at_start_once_the_service_is_back_without_a_restart(
    sqlite_files: ServiceFiles, tmp_path: Path,
) -> None:
    files = sqlite_files
    world = _World.make(files, tmp_path)
    film, key_path, pub, offset, clock = (world.film, world.key_path, world.pub,
                                          world.offset, world.clock)
    store = StateStore(tmp_path / "state")
    shop_key = files.add_key()

    async def start_service(nursery: trio.Nursery, config: RentalServiceConfig
                            ) -> RunningRentalService:
        running: RunningRentalService = await nursery.start(
            functools.partial(serve_rental_service, config, clock=clock))
        return running

    # the first run: the shop rents for two days, the daemon adds the rental
    async with trio.open_nursery() as nursery:
        running = await start_service(nursery, files.config(cert_lifetime_s=60))
        port = int(running.url.rsplit(":", 1)[1])
        async with shop_client(files, running.url, shop_key) as shop:
            r = await shop.post("/v1/rentals", json={"film_id": FILM_ID,
                                                     "node_public_key": pub, "hours": 48})
            assert r.status_code == 201, r.text
            created = r.json()
        async with _node(clock) as node, trio.open_nursery() as daemon_nursery:
            daemon = Daemon(node, store, daemon_nursery, wall_clock=clock)
            status, _ = await daemon.call(Route("add_rental"), json.dumps({
                "torrent": base64.b64encode(film.torrent_path.read_bytes()).decode(),
                "rental": created["bundle"], "node_key_path": str(key_path),
            }).encode())
            assert status == 201
            daemon_nursery.cancel_scope.cancel()
        running.shutdown()

    # a day later the daemon starts while the service is down: its port refuses
    offset[0] = timedelta(days=1)
    async with _node(clock) as node, trio.open_nursery() as nursery:
        daemon = Daemon(node, store, nursery, wall_clock=clock)
        with daemon.hub.subscribe() as events:
            await daemon.restore()
            view = await _listed(daemon)
            assert view["state"] == "expired"
            assert "renewing it failed" in view["error"]
            with trio.fail_after(20):  # it keeps trying, with backoff
                while "next attempt at" not in (view := await _listed(daemon))["error"]:
                    await trio.sleep(0.1)
            await trio.sleep(2)  # a few attempts fail
            assert (await _listed(daemon))["state"] == "expired"

            # the service comes back on the same address: no daemon restart needed
            running = await start_service(nursery, files.config(cert_lifetime_s=60,
                                                                listen_port=port))
            with trio.fail_after(30):
                renewed = await _next_event(events, "rental-renewed")
        assert renewed["state"] != "expired"
        with trio.fail_after(10):  # the running renewal takes over
            while (view := await _listed(daemon))["renewal"] is None:
                await trio.sleep(0.05)
        assert view["state"] != "expired"
        assert view["renewal"]["state"] == "scheduled"
        assert datetime.fromisoformat(view["renewal"]["certificate_not_after"]) > clock()
        download = daemon.node.downloads[FILM_ID]
        assert download.rental.serial == int(created["rental_id"])

        # revoked: the next start-up renewal is refused, once, with the reason
        async with shop_client(files, running.url, shop_key) as shop:
            r = await shop.post(f"/v1/rentals/{created['rental_id']}/revoke",
                                json={"reason": "chargeback"})
            assert r.status_code == 200, r.text
        nursery.cancel_scope.cancel()

    offset[0] = timedelta(days=1, hours=1)  # the renewed certificate expired too
    async with trio.open_nursery() as nursery:
        running = await start_service(nursery, files.config(cert_lifetime_s=60,
                                                            listen_port=port))
        async with _node(clock) as node, trio.open_nursery() as daemon_nursery:
            daemon = Daemon(node, store, daemon_nursery, wall_clock=clock)
            await daemon.restore()
            view = await _listed(daemon)
            assert view["state"] == "expired"
            assert "refused" in view["error"]
            assert "revoked" in view["error"]
            await trio.sleep(1)  # no attempt follows a refusal
            assert (await _listed(daemon))["error"] == view["error"]
            daemon_nursery.cancel_scope.cancel()
        running.shutdown()


async def test_a_rental_added_while_the_service_is_down_gets_503_and_nothing_is_kept(
    sqlite_files: ServiceFiles, tmp_path: Path,
) -> None:
    """Its certificate expired, the window is open, the service cannot renew it: the
    add is refused as worth retrying (503), not as a bad rental, and leaves no trace."""
    files = sqlite_files
    world = _World.make(files, tmp_path)
    film, key_path, pub, offset, clock = (world.film, world.key_path, world.pub,
                                          world.offset, world.clock)
    shop_key = files.add_key()
    async with trio.open_nursery() as nursery:
        running: RunningRentalService = await nursery.start(functools.partial(
            serve_rental_service, files.config(cert_lifetime_s=60), clock=clock))
        async with shop_client(files, running.url, shop_key) as shop:
            r = await shop.post("/v1/rentals", json={"film_id": FILM_ID,
                                                     "node_public_key": pub, "hours": 48})
            assert r.status_code == 201, r.text
            bundle = r.json()["bundle"]
        running.shutdown()

    offset[0] = timedelta(days=1)  # the certificate expired; the service is down
    store = StateStore(tmp_path / "state")
    async with _node(clock) as node, trio.open_nursery() as nursery:
        daemon = Daemon(node, store, nursery, wall_clock=clock)
        with pytest.raises(ApiError) as refused:
            await daemon.call(Route("add_rental"), json.dumps({
                "torrent": base64.b64encode(film.torrent_path.read_bytes()).decode(),
                "rental": bundle, "node_key_path": str(key_path),
            }).encode())
        assert (refused.value.status, refused.value.code) == (503, "unavailable")
        assert "renewing it failed" in refused.value.message
        _, listed = await daemon.call(Route("list_downloads"), b"")
        assert listed["downloads"] == []
        assert FILM_ID not in node.downloads
        nursery.cancel_scope.cancel()
    assert store.rentals() == []
