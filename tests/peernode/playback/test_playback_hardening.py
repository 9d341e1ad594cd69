"""The playback server cannot be turned into a web page of 127.0.0.1, nor leak its token
to a log: a film packaged as ``text/html`` goes out as ``application/octet-stream``,
every response (refusals included) says ``nosniff`` and ``sandbox``, and no log line
of a whole session of requests shows the token."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import libtorrent as lt
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ec

from certs import generate_node_key
from certs.authority import CA, load_content_key, make_rental_bundle
from peernode.operations.packaging import package_film
from peernode.playback.headers import (
    FALLBACK_MIME_TYPE,
    SECURITY_HEADERS,
    redact_target,
    served_mime_type,
)

from .conftest import TRACKER, Film, RentalFactory, complete_download, fetch, playback


@pytest.fixture(scope="module")
def html_film(tmp_path_factory: pytest.TempPathFactory, ca: CA) -> Film:
    """A "film" whose packager recorded ``text/html``: a page with a script."""
    root = tmp_path_factory.mktemp("html-film")
    page = root / "page.html"
    page.write_bytes(b"<html><script>fetch('/')</script></html>" + os.urandom(200_000))
    ca_dir = root / "ca"
    ca.save(ca_dir)
    packaged = package_film(page, film_id="html-film", ca_dir=ca_dir, tracker_url=TRACKER,
                            library=root / "library", mime_type="text/html")
    ti = lt.torrent_info(str(packaged.torrent_path))
    return Film("html-film", page, page.read_bytes(), root / "library", packaged.torrent_path,
                load_content_key(ca_dir, "html-film"), ti.num_pieces(), ti.piece_length())


@pytest.mark.parametrize(
    ("recorded", "served"),
    [
        ("video/mp4", "video/mp4"),
        ("audio/mpeg", "audio/mpeg"),
        ("Video/MP4; codecs=avc1", "video/mp4"),
        ("application/octet-stream", FALLBACK_MIME_TYPE),
        ("text/html", FALLBACK_MIME_TYPE),
        ("image/svg+xml", FALLBACK_MIME_TYPE),
        ("application/xhtml+xml", FALLBACK_MIME_TYPE),
        ("text/html;video/mp4", FALLBACK_MIME_TYPE),
        ("video/", FALLBACK_MIME_TYPE),
    ],
)
def test_only_media_types_are_served_as_recorded(recorded: str, served: str) -> None:
    assert served_mime_type(recorded) == served


def test_the_token_is_redacted_from_targets() -> None:
    assert redact_target("/s3cret/film-a?x=s3cret") == "/<token>/film-a"
    assert redact_target("/s3cret") == "/<token>/"
    assert "s3cret" not in redact_target("s3cret")


def _has_security_headers(headers: httpx.Headers) -> bool:
    return all(headers.get(name) == value for name, value in SECURITY_HEADERS)


async def test_a_film_packaged_as_html_is_served_as_bytes_never_as_a_page(
    tmp_path: Path, html_film: Film, ca: CA, caplog: pytest.LogCaptureFixture,
) -> None:
    def rent_html() -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        key = generate_node_key()
        now = datetime.now(UTC)
        cert = ca.issue_rental(html_film.film_id, key.public_key(),
                               not_before=now - timedelta(hours=1),
                               not_after=now + timedelta(hours=2))
        return make_rental_bundle(cert, html_film.content_key), key

    caplog.set_level(logging.DEBUG)
    async with complete_download(html_film, rent_html, tmp_path / "c") as download, \
            playback(download) as url:
        token = url.rsplit("/", 2)[1]
        whole = await fetch(url)
        assert whole.status == 200
        assert whole.body == html_film.plaintext
        assert whole.headers["content-type"] == FALLBACK_MIME_TYPE
        assert _has_security_headers(whole.headers)
        base = url.rsplit("/", 2)[0]
        refusals = {
            404: await fetch(f"{base}/{token}x/{html_film.film_id}"),
            405: await fetch(url, method="POST"),
            416: await fetch(url, headers={"Range": f"bytes={len(html_film.plaintext)}-"}),
        }
        for status, response in refusals.items():
            assert response.status == status
            assert _has_security_headers(response.headers), status
        # the core's own refusal (broken HTTP): raw bytes, the token in the target
        host, port = base.removeprefix("http://").rsplit(":", 1)
        stream = await trio.open_tcp_stream(host, int(port))
        await stream.send_all(f"GET /{token}/x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n".encode())
        raw = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                raw += chunk
        await stream.aclose()
        assert raw.startswith(b"HTTP/1.1 400")
        assert b"x-content-type-options: nosniff" in raw.lower()
        assert b"content-security-policy: sandbox" in raw.lower()
    # a whole session of requests, logged at DEBUG by every logger: never the token
    # (the test's own client, httpx, logs the URLs it asks for: not the server's lines)
    served = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any("/<token>/" in r.getMessage() for r in served)
    for record in served:
        assert token not in record.getMessage(), record
        assert token not in str(record.exc_text), record


async def test_a_video_keeps_its_type_and_gets_the_headers(
    tmp_path: Path, film: Film, rent: RentalFactory
) -> None:
    async with complete_download(film, rent, tmp_path / "c") as download, \
            playback(download, max_connections=1) as url:
        head = await fetch(url, method="HEAD")
        assert head.headers["content-type"] == "video/mp4"
        assert _has_security_headers(head.headers)


async def test_busy_answers_carry_the_headers_too(
    tmp_path: Path, film: Film, rent: RentalFactory
) -> None:
    async with complete_download(film, rent, tmp_path / "c") as download, \
            playback(download, max_connections=1) as url:
        host, port = url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)
        holder = await trio.open_tcp_stream(host, int(port))  # takes the only slot
        await trio.sleep(0.2)
        busy = await fetch(url)
        await holder.aclose()
    assert busy.status == 503
    assert _has_security_headers(busy.headers)


