"""Watch while downloading: real ffprobe and ffmpeg against the playback URL of a download
that a rate-limited origin is still sending."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio

from certs.authority import IssuedCert
from peernode.container.header import CONTAINER_SEGMENT_BYTES, parse_header
from peernode.playback.ranges import FilmLayout

from .conftest import (
    FILM_SECONDS,
    Fetched,
    Film,
    RentalFactory,
    client_download,
    fetch,
    ffprobe,
    playback,
    running_origin,
)

# About 14 s for the whole film: far longer than the checks below take.
ORIGIN_RATE_BPS = 200_000


async def test_a_player_probes_and_seeks_to_the_end_before_the_download_ends(
    tmp_path: Path, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    middle = range(film.num_pieces // 3, 2 * film.num_pieces // 3)
    frame = tmp_path / "frame.png"
    async with running_origin(film, seeder, upload_rate_bps=ORIGIN_RATE_BPS) as origin, \
            client_download(film, rent, tmp_path / "c", peers=[origin]) as (_node, download), \
            playback(download) as url:
        with trio.fail_after(30):
            probed = await ffprobe(url)
        probed_while_incomplete = not download.stats().complete
        with trio.fail_after(30):
            decoded = await trio.run_process(
                ["ffmpeg", "-v", "error", "-y", "-ss", str(FILM_SECONDS - 2), "-i", url,
                 "-frames:v", "1", str(frame)],
                capture_stderr=True, check=False,
            )
        missing_in_the_middle = [p for p in middle if not download.handle.have_piece(p)]
        decoded_while_incomplete = not download.stats().complete
        progress = download.stats().progress
    assert float(probed["format"]["duration"]) == FILM_SECONDS
    assert sorted(s["codec_type"] for s in probed["streams"]) == ["audio", "video"]
    assert probed_while_incomplete, "the download ended before ffprobe did"
    assert decoded.returncode == 0, decoded.stderr
    assert frame.read_bytes().startswith(b"\x89PNG")
    assert decoded_while_incomplete, "the download ended before ffmpeg did"
    assert missing_in_the_middle, f"the middle came early (progress {progress:.2f})"


async def test_a_response_in_progress_stops_when_the_rental_ends(
    tmp_path: Path, film: Film, seeder: IssuedCert, rent: RentalFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [datetime.now(UTC)]
    async with running_origin(film, seeder, upload_rate_bps=ORIGIN_RATE_BPS) as origin, \
            client_download(film, rent, tmp_path / "c", peers=[origin]) as (_node, download), \
            playback(download, wall_clock=lambda: now[0]) as url, \
            trio.open_nursery() as nursery:
        responses: list[Fetched] = []
        begun = trio.Event()

        async def watch() -> None:
            responses.append(await fetch(url, on_head=lambda _status: begun.set()))

        nursery.start_soon(watch)
        with trio.fail_after(30):
            await begun.wait()
            while not download.handle.have_piece(1):  # bytes are flowing
                await trio.sleep(0.05)
        now[0] = download.rental.not_after
        with trio.fail_after(30):
            while not responses:
                await trio.sleep(0.05)
        stopped_while_incomplete = not download.stats().complete
    (response,) = responses
    assert stopped_while_incomplete
    assert response.status == 200
    assert not response.complete
    assert response.body == film.plaintext[: len(response.body)]
    assert any("ended at" in r.getMessage() for r in caplog.records)


async def test_a_reader_that_leaves_withdraws_what_it_asked_for_at_once(
    tmp_path: Path, film: Film, seeder: IssuedCert, rent: RentalFactory
) -> None:
    header = parse_header((film.library / film.film_id).read_bytes()[:CONTAINER_SEGMENT_BYTES])
    layout = FilmLayout(header, film.piece_bytes)
    far = len(film.plaintext) * 8 // 10
    wanted = layout.pieces_for(far, len(film.plaintext))

    async with running_origin(film, seeder, upload_rate_bps=ORIGIN_RATE_BPS) as origin, \
            client_download(film, rent, tmp_path / "c", peers=[origin]) as (_node, download), \
            playback(download) as url:
        handle = download.handle

        def priorities() -> set[int]:
            return {handle.piece_priority(p) for p in wanted if not handle.have_piece(p)}

        async with trio.open_nursery() as nursery:
            reader = trio.CancelScope()

            async def seek_far() -> None:
                with reader:
                    await fetch(url, headers={"Range": f"bytes={far}-"})

            nursery.start_soon(seek_far)
            with trio.fail_after(30):  # the reader is waiting for its pieces
                while not priorities() & {6, 7}:
                    await trio.sleep(0.02)
            asked = priorities()
            reader.cancel()  # the player goes away (closes the connection)
        with trio.fail_after(5):
            while priorities() - {4}:
                await trio.sleep(0.02)
        missing = [p for p in wanted if not handle.have_piece(p)]
    assert asked <= {6, 7}  # deadlines (7) then the boosted read-ahead (6)
    assert missing  # withdrawn while still missing, back to the normal priority
