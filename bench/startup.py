"""Benchmark: how soon a player gets bytes after pressing play on a film not yet downloaded.

Swarm on loopback: one origin seeder capped at 2 MB/s (rate limits applied to
loopback peers) and two other customers' clients that hold the whole film and
share it (capped at ``--seeder-rate``, default 2 MB/s each). For each of
``--runs`` repetitions, a *cold* client (empty download directory, fresh node)
starts the download and the playback server, then:

(a) ``first_byte_s``: from starting the download (``Node.fetch``) to the first
    body byte of ``GET Range: bytes=0-``;
(c) ``seek_90_first_byte_s``: right after (a), from sending ``Range: bytes=N-``
    at 90 % of the film to its first body byte (the player seeks);
(b) ``ffprobe_s``: with another cold client, from starting the download to
    ``ffprobe URL`` exiting successfully with the duration and both streams.

Medians of the runs; one JSON line. The film is an MP4 made with ffmpeg
(``--seconds`` of test pattern + tone at ``--video-kbps``), packaged as in
production. Issue 5's goals on loopback: (a) <= 0.3 s, (b) <= 1 s, (c) <= 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import trio

from certs import generate_node_key
from certs.authority import CA, IssuedCert, load_content_key, make_rental_bundle
from peernode.operations.origin import OriginConfig, serve_origin
from peernode.operations.packaging import package_film
from peernode.playback.plan import ReadAheadPolicy
from peernode.playback.server import PLAYBACK_SESSION_SETTINGS, serve_playback
from peernode.runtime.download import Download
from peernode.runtime.node import NodeConfig, open_node

FILM_ID = "bench-startup"
STEP_S = 60  # a measurement that takes this long is a failure, not a figure
MB = 1_000_000


@dataclass(frozen=True)
class Swarm:
    ca: CA
    seeder: IssuedCert
    library: Path
    torrent: Path
    content_key: bytes
    plaintext_bytes: int
    peers: list[tuple[str, int]]
    client_settings: dict[str, object]
    seeder_settings: dict[str, object]
    policy: ReadAheadPolicy


def make_film(path: Path, seconds: int, video_kbps: int) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=640x360:rate=25",
         "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", f"{video_kbps}k", "-g", "50",
         "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", "-shortest", str(path)],
        check=True,
    )


def rental(swarm: Swarm) -> tuple[bytes, Any]:
    key = generate_node_key()
    now = datetime.now(UTC)
    cert = swarm.ca.issue_rental(FILM_ID, key.public_key(), not_before=now - timedelta(hours=1),
                                 not_after=now + timedelta(hours=4))
    return make_rental_bundle(cert, swarm.content_key), key


async def seeding_client(
    swarm: Swarm, save_dir: Path, rate_bps: int, *, task_status: trio.TaskStatus[tuple[str, int]]
) -> None:
    """Another customer who has the whole film and shares it (capped at ``rate_bps``)."""
    save_dir.mkdir(parents=True)
    shutil.copyfile(swarm.library / FILM_ID, save_dir / FILM_ID)
    bundle, key = rental(swarm)
    config = NodeConfig(listen_host="127.0.0.1", port_mapping=False, upload_rate_bps=rate_bps,
                        limit_local_peers=True,
                        extra_settings=swarm.seeder_settings)
    async with open_node(config) as node:
        download = await node.fetch(swarm.torrent, bundle, key, save_dir=save_dir)
        await download.complete()
        task_status.started(("127.0.0.1", node.ssl_port))
        await trio.sleep_forever()


@asynccontextmanager
async def cold_client(swarm: Swarm, save_dir: Path) -> AsyncIterator[tuple[Download, str, float]]:
    """A fresh node that starts downloading and serving; yields (download, url, t0)."""
    bundle, key = rental(swarm)
    config = NodeConfig(listen_host="127.0.0.1", port_mapping=False,
                        extra_settings=swarm.client_settings)
    async with open_node(config) as node, trio.open_nursery() as nursery:
        t0 = trio.current_time()
        download = await node.fetch(swarm.torrent, bundle, key, save_dir=save_dir,
                                    peers=swarm.peers)
        url = await nursery.start(_serve, download, swarm.policy)
        yield download, url, t0
        nursery.cancel_scope.cancel()


async def _serve(
    download: Download, policy: ReadAheadPolicy, *, task_status: trio.TaskStatus[str]
) -> None:
    await serve_playback(download, policy=policy, task_status=task_status)


async def first_byte_at(client: httpx.AsyncClient, url: str, first: int) -> float:
    """The trio time the first body byte of ``Range: bytes=first-`` arrives; the
    response is then abandoned (the connection closed), as a player that seeks does."""
    headers = {"Range": f"bytes={first}-"}
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 206
        async for chunk in response.aiter_raw():
            if chunk:
                return trio.current_time()
    raise AssertionError(f"no body for {headers}")


async def first_bytes(swarm: Swarm, save_dir: Path) -> dict[str, float]:
    async with cold_client(swarm, save_dir) as (download, url, t0), \
            httpx.AsyncClient(timeout=STEP_S) as client:
        with trio.fail_after(STEP_S):
            first_at = await first_byte_at(client, url, 0)
            seek_at = trio.current_time()
            seek_first_at = await first_byte_at(client, url, swarm.plaintext_bytes * 9 // 10)
        return {
            "first_byte_s": first_at - t0,
            "seek_90_first_byte_s": seek_first_at - seek_at,
            "progress_at_seek": download.stats().progress,
        }


async def ffprobe_time(swarm: Swarm, save_dir: Path) -> dict[str, float]:
    async with cold_client(swarm, save_dir) as (download, url, t0):
        with trio.fail_after(STEP_S):
            result = await trio.run_process(
                ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type",
                 "-of", "json", url], capture_stdout=True,
            )
        done = trio.current_time()
        probed = json.loads(result.stdout)
        kinds = sorted(s["codec_type"] for s in probed["streams"])
        assert kinds == ["audio", "video"]
        assert float(probed["format"]["duration"]) > 0
        return {"ffprobe_s": done - t0, "progress_at_ffprobe": download.stats().progress}


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    ca = CA.create("bench CA", now=datetime.now(UTC) - timedelta(days=1))
    ca_dir = work / "ca"
    ca.save(ca_dir)
    mp4 = work / "film.mp4"
    make_film(mp4, args.seconds, args.video_kbps)
    packaged = package_film(mp4, film_id=FILM_ID, ca_dir=ca_dir,
                            tracker_url="https://127.0.0.1:9/announce", library=work / "library")
    seeder = ca.issue_seeder(now=datetime.now(UTC) - timedelta(hours=1))
    runs: list[dict[str, float]] = []
    async with trio.open_nursery() as nursery:
        origin = await nursery.start(serve_origin, OriginConfig(
            work / "library", seeder.cert_pem, seeder.key_pem,
            upload_rate_bps=args.origin_rate, limit_local_peers=True,
            tick_ms=args.origin_tick_ms,
        ))
        swarm = Swarm(ca, seeder, work / "library", packaged.torrent_path,
                      load_content_key(ca_dir, FILM_ID), mp4.stat().st_size, [origin],
                      json.loads(args.client_settings), json.loads(args.seeder_settings),
                      ReadAheadPolicy(**json.loads(args.policy)))
        for i in range(2):
            peer = await nursery.start(seeding_client, swarm, work / f"seeder{i}",
                                       args.seeder_rate)
            swarm.peers.append(peer)
        for i in range(args.warmup + args.runs):
            run_i = await first_bytes(swarm, work / f"cold-a{i}")
            run_i.update(await ffprobe_time(swarm, work / f"cold-b{i}"))
            runs.append(run_i)
        nursery.cancel_scope.cancel()
    warmup, runs = runs[: args.warmup], runs[args.warmup :]

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in runs), 3)

    return {
        "bench": "startup",
        "film_MB": round(mp4.stat().st_size / MB, 2),
        "pieces": packaged.piece_bytes,
        "origin_rate_MBps": args.origin_rate / MB,
        "seeder_rate_MBps": args.seeder_rate / MB,
        "origin_tick_ms": args.origin_tick_ms or "adaptive",
        "first_byte_s": median("first_byte_s"),
        "ffprobe_s": median("ffprobe_s"),
        "seek_90_first_byte_s": median("seek_90_first_byte_s"),
        "progress_at_seek": median("progress_at_seek"),
        "progress_at_ffprobe": median("progress_at_ffprobe"),
        "goals_s": {"first_byte": 0.3, "ffprobe": 1.0, "seek_90_first_byte": 0.5},
        "client_settings": json.loads(args.client_settings),
        "seeder_settings": json.loads(args.seeder_settings),
        "policy": json.loads(args.policy),
        "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
        "warmup_runs_not_counted": [{k: round(v, 3) for k, v in r.items()} for r in warmup],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold starts per figure (median)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="cold starts first, reported apart: the swarm's first downloader "
                        "meets idle seeders (default 1)")
    parser.add_argument("--seconds", type=int, default=120, help="film length (default 120)")
    parser.add_argument("--video-kbps", type=int, default=2000, help="video bitrate (2000)")
    parser.add_argument("--origin-rate", type=int, default=2 * MB, help="bytes/s (2 MB/s)")
    parser.add_argument("--origin-tick-ms", type=int, default=None, metavar="MS",
                        help="the origin's fixed libtorrent tick (default: its adaptive one, "
                        "peernode.operations.origin_tick)")
    parser.add_argument("--seeder-rate", type=int, default=2 * MB,
                        help="upload cap of each of the two seeding clients, bytes/s (2 MB/s)")
    parser.add_argument("--client-settings", default=json.dumps(dict(PLAYBACK_SESSION_SETTINGS)),
                        metavar="JSON", help="libtorrent settings of the cold clients "
                        "(default: those of peernode play)")
    parser.add_argument("--seeder-settings", default="{}", metavar="JSON",
                        help="libtorrent settings of the seeding clients (default: none, "
                        "as peernode fetch)")
    parser.add_argument("--policy", default="{}", metavar="JSON",
                        help="ReadAheadPolicy fields of the playback servers, to compare tunings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        print(json.dumps(trio.run(run, args, Path(tmp))))


if __name__ == "__main__":
    main()
