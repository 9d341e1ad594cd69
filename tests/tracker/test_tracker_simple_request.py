"""The one-read path: only libtorrent's plain ``GET ... Connection: close`` takes it;
everything else goes to the full HTTP core with the same bytes."""

from __future__ import annotations

import pytest
import trio

from tracker.simple_request import simple_request_target, simple_response

from .conftest import Pki, announce_target, bdecoded, issue_rental, start_tracker

LIMITS = {"max_head_bytes": 8192, "max_header_count": 32}
LIBTORRENT = (
    b"GET /announce?info_hash=%01%02&port=1 HTTP/1.1\r\nHost: 127.0.0.1:7000\r\n"
    b"User-Agent: libtorrent/2.1.1.0\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
)


def test_libtorrents_request_is_simple() -> None:
    assert simple_request_target(LIBTORRENT, **LIMITS) == b"/announce?info_hash=%01%02&port=1"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(LIBTORRENT[:-2], id="head not complete"),
        pytest.param(LIBTORRENT.replace(b"Connection: close", b"Connection: keep-alive"),
                     id="keep-alive"),
        pytest.param(LIBTORRENT.replace(b"Connection: close\r\n", b""), id="no connection header"),
        pytest.param(LIBTORRENT.replace(b"GET ", b"POST "), id="POST"),
        pytest.param(LIBTORRENT.replace(b"HTTP/1.1", b"HTTP/1.0"), id="HTTP/1.0"),
        pytest.param(LIBTORRENT.replace(b"Host: 127.0.0.1:7000\r\n", b""), id="no host"),
        pytest.param(LIBTORRENT.replace(b"Host:", b"Host: a\r\nHost:"), id="two hosts"),
        pytest.param(LIBTORRENT.replace(b"Accept", b"Content-Length: 3\r\nAccept"), id="body"),
        pytest.param(LIBTORRENT.replace(b"Accept", b"Transfer-Encoding: chunked\r\nAccept"),
                     id="chunked"),
        pytest.param(LIBTORRENT + b"GET / HTTP/1.1\r\n\r\n", id="a second request"),
        pytest.param(LIBTORRENT.replace(b"Accept", b" folded\r\nAccept"), id="obs-fold"),
        pytest.param(LIBTORRENT.replace(b"User-Agent", b"User Agent"), id="bad header name"),
        pytest.param(LIBTORRENT.replace(b"gzip", b"gz\x00ip"), id="NUL in a value"),
        pytest.param(LIBTORRENT.replace(b"/announce", b"/ann ounce"), id="space in target"),
        pytest.param(LIBTORRENT.replace(b"Accept", b"X: 1\r\n" * 32 + b"Accept"),
                     id="too many headers"),
        pytest.param(LIBTORRENT.replace(b"port=1", b"port=1" + b"x" * 8192), id="too long"),
    ],
)
def test_anything_else_is_left_to_the_http_core(data: bytes) -> None:
    assert simple_request_target(data, **LIMITS) is None


def test_simple_response_carries_length_and_close() -> None:
    assert simple_response(200, b"d2:xx1:ye") == (
        b"HTTP/1.1 200 \r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
        b"Connection: close\r\n\r\nd2:xx1:ye"
    )


async def _exchange(port: int, ctx: object, chunks: list[bytes]) -> bytes:
    import ssl

    assert isinstance(ctx, ssl.SSLContext)
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1", https_compatible=True)
    await stream.do_handshake()
    for chunk in chunks:
        await stream.send_all(chunk)
        await trio.sleep(0.05)
    out = b""
    with trio.fail_after(10):
        while data := await stream.receive_some(65536):
            out += data
    await stream.aclose()
    return out


async def test_one_read_answer_and_a_head_split_over_two_records_alike(pki: Pki) -> None:
    film = pki.films["film-a"]
    rental = issue_rental(pki.ca, "film-a")
    ctx = pki.client_context(rental.cert_pem, rental.key_pem)
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki)
        answers = []
        for n, split in ((1, False), (2, True)):
            head = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % (
                announce_target(film.info_hash, n)
            )
            chunks = [head[:20], head[20:]] if split else [head]
            raw = await _exchange(tracker.port, ctx, chunks)
            status, _, body = raw.partition(b"\r\n\r\n")
            assert status.startswith(b"HTTP/1.1 200 ")
            answers.append(bdecoded(body))
        assert answers[1][b"incomplete"] == 2
        assert answers[1][b"peers"] == bytes([127, 0, 0, 1]) + (20001).to_bytes(2, "big")
        tracker.shutdown()
