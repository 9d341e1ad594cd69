"""Rental expiry through the daemon's service layer, with trio's autojump clock.

An hour of rental passes in virtual time: subscribers get ``rental-expired``,
the download cannot be resumed or played, and after a restart the expired
rental is listed as expired (not silently dropped) until it is deleted.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
import trio.testing

from peernode.daemon.api import ApiError, Route
from peernode.daemon.controller import Daemon
from peernode.daemon.state_dir import StateStore
from peernode.runtime.node import NodeConfig, open_node

from .conftest import FILM_ID, World


def _add_body(world: World, key: Path, rental: Path) -> bytes:
    return json.dumps({
        "torrent": base64.b64encode(world.torrent.read_bytes()).decode(),
        "rental": base64.b64encode(rental.read_bytes()).decode(),
        "node_key_path": str(key),
    }).encode()


async def test_rental_expired_event_then_refusals_then_listed_after_restart(
    tmp_path: Path, world: World, autojump_clock: trio.testing.MockClock
) -> None:
    key, rental = world.rent("expiring", hours="1")
    start = datetime.now(UTC)
    store = StateStore(tmp_path / "state")

    async with open_node(NodeConfig(port_mapping=False, wall_clock=lambda: start)) as node, \
            trio.open_nursery() as nursery:
        daemon = Daemon(node, store, nursery, wall_clock=lambda: start)
        status, view = await daemon.call(Route("add_rental"), _add_body(world, key, rental))
        assert status == 201
        assert view["state"] != "expired"
        nursery.start_soon(daemon.watch)
        kinds: list[str] = []

        async def read(events: trio.MemoryReceiveChannel[bytes]) -> None:
            async for message in events:
                kinds.append(message.split(b"\n")[1].removeprefix(b"event: ").decode())

        with daemon.hub.subscribe() as events:
            async with trio.open_nursery() as reading:
                reading.start_soon(read, events)
                await trio.sleep(3590)
                assert "progress" in kinds
                assert "rental-expired" not in kinds
                await trio.sleep(20)
                assert kinds.count("rental-expired") == 1
                reading.cancel_scope.cancel()
        _, current = await daemon.call(Route("get_download", FILM_ID), b"")
        assert current["state"] == "expired"
        for operation in ("resume", "playback"):
            with pytest.raises(ApiError) as refused:
                await daemon.call(Route(operation, FILM_ID), b"")
            assert refused.value.code == "conflict"
        nursery.cancel_scope.cancel()

    later = start + timedelta(hours=2)
    async with open_node(NodeConfig(port_mapping=False, wall_clock=lambda: later)) as node, \
            trio.open_nursery() as nursery:
        daemon = Daemon(node, store, nursery, wall_clock=lambda: later)
        await daemon.restore()
        _, listed = await daemon.call(Route("list_downloads"), b"")
        [view] = listed["downloads"]
        assert view["state"] == "expired"
        assert "ended" in view["error"]
        await daemon.call(Route("delete_download", FILM_ID), b"")
        assert (await daemon.call(Route("list_downloads"), b""))[1] == {"downloads": []}
        nursery.cancel_scope.cancel()
