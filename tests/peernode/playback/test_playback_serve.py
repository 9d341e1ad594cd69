"""The playback server over a real, complete download: HTTP semantics against the original
file's bytes, the URL token, the rental window and tampered segments."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trio

from peernode.container.header import CONTAINER_SEGMENT_BYTES, SEGMENT_TAG_BYTES
from peernode.errors import PeernodeError
from peernode.playback.server import serve_playback

from .conftest import Film, RentalFactory, complete_download, fetch, playback


async def test_range_requests_answer_the_original_bytes(
    tmp_path: Path, film: Film, rent: RentalFactory
) -> None:
    data = film.plaintext
    total = len(data)
    async with complete_download(film, rent, tmp_path / "c") as download, \
            playback(download) as url:
        whole = await fetch(url)
        assert whole.status == 200
        assert whole.body == data
        assert whole.headers["content-type"] == "video/mp4"
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.headers["content-length"] == str(total)
        cases = {
            "bytes=0-0": (0, 0),  # first byte
            f"bytes={total - 1}-{total - 1}": (total - 1, total - 1),  # last byte
            "bytes=-1000": (total - 1000, total - 1),  # suffix
            f"bytes={total - 70_000}-": (total - 70_000, total - 1),  # open-ended
            "bytes=65000-200000": (65_000, 200_000),  # across segment boundaries
            f"bytes=100-{total + 5000}": (100, total - 1),  # past the end: clamped
        }
        for header, (first, last) in cases.items():
            part = await fetch(url, headers={"Range": header})
            assert part.status == 206, header
            assert part.body == data[first : last + 1], header
            assert part.headers["content-range"] == f"bytes {first}-{last}/{total}"
        for header in (f"bytes={total}-", f"bytes={total + 10}-{total + 20}", "bytes=-0"):
            refused = await fetch(url, headers={"Range": header})
            assert refused.status == 416, header
            assert refused.headers["content-range"] == f"bytes */{total}"
        head = await fetch(url, method="HEAD", headers={"Range": "bytes=10-19"})
        assert (head.status, head.body) == (206, b"")
        assert head.headers["content-length"] == "10"
        stale = await fetch(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
        assert stale.status == 200  # a validator we did not issue: the whole film
        fresh = await fetch(url, headers={"Range": "bytes=0-9", "If-Range": whole.headers["etag"]})
        assert (fresh.status, fresh.body) == (206, data[:10])


async def test_keep_alive_and_concurrent_readers_at_different_offsets(
    tmp_path: Path, film: Film, rent: RentalFactory
) -> None:
    data = film.plaintext
    async with complete_download(film, rent, tmp_path / "c") as download, \
            playback(download) as url:
        async with httpx.AsyncClient(timeout=60) as client:
            for first in (0, 500_000, 5):  # one connection, several requests
                wanted = {"Range": f"bytes={first}-{first + 99}"}
                part = await fetch(url, headers=wanted, client=client)
                assert part.body == data[first : first + 100]

        results: dict[int, bytes] = {}

        async def read_from(offset: int) -> None:
            response = await fetch(url, headers={"Range": f"bytes={offset}-"})
            results[offset] = response.body

        async with trio.open_nursery() as nursery:
            for offset in (0, len(data) // 2, len(data) - 300_000):
                nursery.start_soon(read_from, offset)
    assert results == {offset: data[offset:] for offset in results}


async def test_a_wrong_token_or_method_gets_nothing(
    tmp_path: Path, film: Film, rent: RentalFactory
) -> None:
    async with complete_download(film, rent, tmp_path / "c") as download, \
            playback(download) as url:
        base, token, film_id = url.rsplit("/", 2)
        for wrong in (f"{base}/{token[:-1]}x/{film_id}", f"{base}/{film_id}",
                      f"{base}/{token}/other-film", f"{base}/"):
            response = await fetch(wrong)
            assert response.status == 404, wrong
            assert film.plaintext[:100] not in response.body
        assert (await fetch(url, method="DELETE")).status == 405
        assert (await fetch(url + "?t=1", headers={"Range": "bytes=0-3"})).status == 206


async def test_after_the_rental_ends_playback_is_refused(
    tmp_path: Path, film: Film, rent: RentalFactory
) -> None:
    now = [datetime.now(UTC)]
    async with complete_download(film, rent, tmp_path / "c") as download, \
            playback(download, wall_clock=lambda: now[0]) as url:
        assert (await fetch(url, headers={"Range": "bytes=0-9"})).status == 206
        now[0] = download.rental.not_after
        refused = await fetch(url, headers={"Range": "bytes=0-9"})
        head = await fetch(url, method="HEAD")
    assert refused.status == 403
    assert b"ended" in refused.body
    assert film.plaintext[:10] not in refused.body
    assert head.status == 403


async def test_a_tampered_segment_ends_the_response_without_a_wrong_byte(
    tmp_path: Path, film: Film, rent: RentalFactory, caplog: pytest.LogCaptureFixture
) -> None:
    bad_segment = 20
    container = tmp_path / "c" / film.film_id
    async with complete_download(film, rent, tmp_path / "c") as download:
        with container.open("r+b") as f:  # flip one ciphertext bit of segment 20
            f.seek((bad_segment + 1) * CONTAINER_SEGMENT_BYTES + 1000)
            byte = f.read(1)[0]
            f.seek(-1, 1)
            f.write(bytes([byte ^ 0x01]))
        with caplog.at_level(logging.ERROR, logger="peernode.playback.server"):
            async with playback(download) as url:
                whole = await fetch(url)
                tail = await fetch(url, headers={"Range": "bytes=2000000-"})
                before = await fetch(url, headers={"Range": "bytes=0-99999"})
    bad_start = bad_segment * (CONTAINER_SEGMENT_BYTES - SEGMENT_TAG_BYTES)
    assert not whole.complete
    assert len(whole.body) <= bad_start
    assert whole.body == film.plaintext[: len(whole.body)]
    assert tail.complete  # segments past the bad one are fine
    assert tail.body == film.plaintext[2_000_000:]
    assert before.body == film.plaintext[:100_000]
    assert any("does not authenticate" in r.getMessage() for r in caplog.records)


async def test_a_tampered_header_serves_nothing(
    tmp_path: Path, film: Film, rent: RentalFactory, caplog: pytest.LogCaptureFixture
) -> None:
    container = tmp_path / "c" / film.film_id
    async with complete_download(film, rent, tmp_path / "c") as download:
        with container.open("r+b") as f:  # the MIME type, inside the authenticated header
            header = f.read(200)
            at = header.index(b"video/mp4")
            f.seek(at)
            f.write(b"video/mp5")
        with caplog.at_level(logging.ERROR, logger="peernode.playback.server"):
            async with playback(download) as url:
                response = await fetch(url, headers={"Range": "bytes=0-99"})
    assert response.status == 500
    assert film.plaintext[:100] not in response.body
    assert any("does not authenticate" in r.getMessage() for r in caplog.records)


async def test_playback_listens_on_loopback_only(
    tmp_path: Path, film: Film, rent: RentalFactory
) -> None:
    async with complete_download(film, rent, tmp_path / "c") as download:
        for host in ("0.0.0.0", "192.0.2.1", "localhost"):
            with pytest.raises(PeernodeError, match="loopback"):
                await serve_playback(download, host=host)
