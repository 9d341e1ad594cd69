"""A real origin and a real client, in one process, over the SSL port on loopback."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import trio

from certs.authority import CA, IssuedCert, load_content_key
from peernode.operations.origin import OriginConfig, serve_origin
from peernode.operations.packaging import package_film
from peernode.playback import start_playback
from peernode.runtime.node import NodeConfig, open_node

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
        async with open_node(NodeConfig(port_mapping=False)) as node:
            download = await node.fetch(
                film.torrent, bundle, key, save_dir=tmp_path / "client", peers=[origin]
            )
            with trio.fail_after(30):
                stats = await download.complete()
        nursery.cancel_scope.cancel()
    assert (tmp_path / "client" / film.film_id).read_bytes() == film.data
    assert stats.complete
    # Every payload byte came from the origin (a block re-requested on a loaded
    # machine is counted twice, as the origin sent it twice).
    assert stats.bytes_from_origin == stats.bytes_downloaded_session >= len(film.data)
    assert stats.bytes_from_peers == 0
    assert (tmp_path / "client" / ".peernode" / f"{film.film_id}.resume").exists()


async def test_fetch_with_playback_serves_the_decrypted_film(
    tmp_path: Path, seeder: IssuedCert, rent: RentalFactory, ca: CA
) -> None:
    """`start_playback(node, download)` gives `download.playback_url`, served over HTTP."""
    ca_dir = tmp_path / "ca"
    ca.save(ca_dir)
    film = tmp_path / "film.mp4"
    film.write_bytes(os.urandom(300_000))
    library = tmp_path / "lib"
    packaged = package_film(film, film_id="play-film", ca_dir=ca_dir, library=library,
                            tracker_url="https://127.0.0.1:1/announce")
    bundle, key = rent(film_id="play-film", content_key=load_content_key(ca_dir, "play-film"))
    async with trio.open_nursery() as nursery:
        origin = await nursery.start(
            serve_origin, OriginConfig(library, seeder.cert_pem, seeder.key_pem)
        )
        async with open_node(NodeConfig(port_mapping=False)) as node:
            download = await node.fetch(packaged.torrent_path, bundle, key,
                                        save_dir=tmp_path / "c", peers=[origin])
            url = await start_playback(node, download)
            assert download.playback_url == url
            assert download.playback_url.startswith("http://127.0.0.1:")
            with trio.fail_after(30):
                await download.complete()
            async with httpx.AsyncClient() as client:
                reply = await client.get(download.playback_url,
                                         headers={"Range": "bytes=100-199"})
            assert reply.status_code == 206
            assert reply.content == film.read_bytes()[100:200]
        nursery.cancel_scope.cancel()


async def test_wait_piece_wakes_on_the_verified_piece_event(
    tmp_path: Path, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    """No peer yet: the wait times out. With the origin (capped, so the last piece comes
    later): it returns as the piece is verified, and at once for a piece already here."""
    bundle, key = rent()
    last = (len(film.data) - 1) // (64 * 1024)
    async with trio.open_nursery() as nursery:
        async with open_node(NodeConfig(port_mapping=False)) as node:
            download = await node.fetch(film.torrent, bundle, key, save_dir=tmp_path / "c")
            assert not await download.wait_piece(last, timeout_s=0.2)
            origin = await nursery.start(serve_origin, OriginConfig(
                film.library, seeder.cert_pem, seeder.key_pem, upload_rate_bps=2_000_000,
                limit_local_peers=True))
            download.handle.connect_peer(origin)
            with trio.fail_after(30):
                assert await download.wait_piece(last)
            assert download.have_piece(last)
            # A piece already here answers at once (piece 0 need not be here yet: pieces
            # do not arrive in order, as a CI run showed).
            with trio.fail_after(0.1):
                assert await download.wait_piece(last)
        nursery.cancel_scope.cancel()
