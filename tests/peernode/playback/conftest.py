"""Fixtures for playback tests: a real MP4 made with ffmpeg, packaged once, a rate-limited
origin, clients that play while they download."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ec

from certs import generate_node_key
from certs.authority import CA, IssuedCert, load_content_key, make_rental_bundle
from peernode.operations.origin import OriginConfig, serve_origin
from peernode.operations.packaging import package_film
from peernode.playback.server import PLAYBACK_SESSION_SETTINGS, serve_playback
from peernode.runtime.download import Download
from peernode.runtime.node import Node, NodeConfig, open_node

FILM_ID = "test-movie"
FILM_SECONDS = 60
TRACKER = "https://127.0.0.1:9/announce"  # never reached: peers are given directly


@dataclass(frozen=True)
class Film:
    film_id: str
    mp4: Path
    plaintext: bytes
    library: Path
    torrent: Path
    content_key: bytes
    num_pieces: int
    piece_bytes: int


def make_test_mp4(path: Path, seconds: int = FILM_SECONDS) -> None:
    """``seconds`` of test pattern and a sine tone, H.264 + AAC, moov first (~2.7 MB)."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is required for playback tests (Debian package ffmpeg)")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=320x240:rate=15",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "300k", "-g", "30",
         "-c:a", "aac", "-b:a", "48k", "-movflags", "+faststart", "-shortest", str(path)],
        check=True,
    )


@pytest.fixture(scope="session")
def seeder(ca: CA) -> IssuedCert:
    return ca.issue_seeder(now=datetime.now(UTC) - timedelta(hours=1))


@pytest.fixture(scope="session")
def film(tmp_path_factory: pytest.TempPathFactory, ca: CA) -> Film:
    root = tmp_path_factory.mktemp("playback-film")
    mp4 = root / "movie.mp4"
    make_test_mp4(mp4)
    ca_dir = root / "ca"
    ca.save(ca_dir)
    packaged = package_film(
        mp4, film_id=FILM_ID, ca_dir=ca_dir, tracker_url=TRACKER, library=root / "library"
    )
    import libtorrent as lt

    ti = lt.torrent_info(str(packaged.torrent_path))
    return Film(
        film_id=FILM_ID,
        mp4=mp4,
        plaintext=mp4.read_bytes(),
        library=root / "library",
        torrent=packaged.torrent_path,
        content_key=load_content_key(ca_dir, FILM_ID),
        num_pieces=ti.num_pieces(),
        piece_bytes=ti.piece_length(),
    )


RentalFactory = Callable[..., tuple[bytes, ec.EllipticCurvePrivateKey]]


@pytest.fixture
def rent(ca: CA, film: Film) -> RentalFactory:
    def make(*, hours: float = 48) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        key = generate_node_key()
        now = datetime.now(UTC)
        cert = ca.issue_rental(
            film.film_id, key.public_key(),
            not_before=now - timedelta(hours=1), not_after=now + timedelta(hours=hours),
        )
        return make_rental_bundle(cert, film.content_key), key

    return make


@asynccontextmanager
async def running_origin(
    film: Film, seeder: IssuedCert, *, upload_rate_bps: int = 0
) -> AsyncIterator[tuple[str, int]]:
    """An origin seeding the film library, rate limited on loopback too."""
    async with trio.open_nursery() as nursery:
        address = await nursery.start(serve_origin, OriginConfig(
            film.library, seeder.cert_pem, seeder.key_pem,
            upload_rate_bps=upload_rate_bps, limit_local_peers=upload_rate_bps > 0,
        ))
        yield address
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def client_download(
    film: Film,
    rent: RentalFactory,
    save_dir: Path,
    *,
    peers: list[tuple[str, int]] | None = None,
) -> AsyncIterator[tuple[Node, Download]]:
    """A client node set up as `peernode play` does, fetching the film from ``peers``
    (files already in ``save_dir`` count)."""
    bundle, key = rent()
    config = NodeConfig(port_mapping=False, extra_settings=dict(PLAYBACK_SESSION_SETTINGS))
    async with open_node(config) as node:
        download = await node.fetch(film.torrent, bundle, key, save_dir=save_dir,
                                    peers=peers or [])
        yield node, download


@asynccontextmanager
async def complete_download(
    film: Film, rent: RentalFactory, save_dir: Path
) -> AsyncIterator[Download]:
    """A client whose save directory already holds the container (libtorrent checks it)."""
    save_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(film.library / film.film_id, save_dir / film.film_id)
    async with client_download(film, rent, save_dir) as (_node, download):
        with trio.fail_after(30):
            await download.complete()
        yield download


@asynccontextmanager
async def playback(download: Download, **kwargs: Any) -> AsyncIterator[str]:
    """Serve ``download`` over HTTP for the block; yields the playback URL."""
    async with trio.open_nursery() as nursery:
        url = await nursery.start(_serve, download, kwargs)
        yield url
        nursery.cancel_scope.cancel()


async def _serve(
    download: Download, kwargs: dict[str, Any], *, task_status: trio.TaskStatus[str]
) -> None:
    await serve_playback(download, task_status=task_status, **kwargs)


async def ffprobe(url: str) -> dict[str, Any]:
    """ffprobe's JSON description of the format and streams at ``url``."""
    import json

    result = await trio.run_process(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type",
         "-of", "json", url],
        capture_stdout=True, capture_stderr=True,
    )
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@dataclass(frozen=True)
class Fetched:
    """A response read to its end; ``complete`` is False if the server cut the body short."""

    status: int
    headers: httpx.Headers
    body: bytes
    complete: bool


async def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
    on_head: Callable[[int], None] | None = None,
) -> Fetched:
    """One request with httpx (on ``client``'s kept-alive connections, or a fresh client).

    ``on_head(status)`` is called once the status line and headers are in.
    """
    if client is None:
        async with httpx.AsyncClient(timeout=60) as fresh:
            return await fetch(url, method=method, headers=headers, client=fresh,
                               on_head=on_head)
    async with client.stream(method, url, headers=headers) as response:
        if on_head is not None:
            on_head(response.status_code)
        body = bytearray()
        try:
            async for chunk in response.aiter_raw():
                body += chunk
        except httpx.RemoteProtocolError:  # closed before the promised Content-Length
            return Fetched(response.status_code, response.headers, bytes(body), False)
    return Fetched(response.status_code, response.headers, bytes(body), True)
