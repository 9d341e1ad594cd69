"""A real origin and a real client, in one process, over the SSL port on loopback."""

from __future__ import annotations

from pathlib import Path

import trio

from certs import IssuedCert
from peernode.node import NodeConfig, open_node
from peernode.origin import OriginConfig, serve_origin

from .conftest import Film, RentalFactory


async def test_client_downloads_from_origin_and_counts_origin_bytes(
    tmp_path: Path, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    bundle, key = rent()
    async with trio.open_nursery() as nursery:
        origin = await nursery.start(
            serve_origin,
            OriginConfig(film.library, seeder.cert_pem, seeder.key_pem),
        )
        async with open_node(NodeConfig()) as node:
            download = await node.fetch(
                film.torrent, bundle, key, save_dir=tmp_path / "client", peers=[origin]
            )
            with trio.fail_after(30):
                stats = await download.complete()
        nursery.cancel_scope.cancel()
    assert (tmp_path / "client" / film.film_id).read_bytes() == film.data
    assert stats.complete
    assert stats.bytes_from_origin == len(film.data)
    assert stats.bytes_from_peers == 0
    assert (tmp_path / "client" / ".peernode" / f"{film.film_id}.resume").exists()
