"""A connection's TLS state is freed the moment the connection ends, on both libraries.

Reference cycles (a bound method kept on the HTTP connection, exceptions whose
tracebacks held the frames that held them) kept every connection's OpenSSL state alive
until the cyclic garbage collector ran: under a flood of hostile connections ~1,000 at
once, +94 MiB of RSS (bench/tracker_flood.py). Here the collector is off, and after
each kind of connection the flood sends no TLS engine may remain.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest
import trio

from certs.authority import CA
from tracker.server import RunningTracker
from tracker.tls_bundled import _BundledEngine
from tracker.tls_engine import _SystemEngine

from .conftest import Pki, announce_once, announce_target, issue_rental, start_tracker
from .test_tracker_server import wait_until

LIBRARIES = pytest.mark.parametrize("library", ["bundled", "system"])


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _engines() -> int:
    return sum(isinstance(o, _BundledEngine | _SystemEngine) for o in gc.get_objects())


async def _until_closed(stream: trio.abc.Stream) -> None:
    with trio.fail_after(5):
        try:
            while await stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass
    await trio.aclose_forcefully(stream)


async def _tls(tracker: RunningTracker, pki: Pki, cert: bytes, key: bytes,
               request: bytes, *, leave: bool = False) -> None:
    tcp = await trio.open_tcp_stream("127.0.0.1", tracker.port)
    stream = trio.SSLStream(tcp, pki.client_context(cert, key), server_hostname="127.0.0.1",
                            https_compatible=True)
    try:
        await stream.send_all(request)
    except trio.BrokenResourceError:  # refused in the handshake
        await trio.aclose_forcefully(stream)
        return
    if leave:  # the client goes away mid-request
        await trio.aclose_forcefully(stream)
        return
    await _until_closed(stream)


@LIBRARIES
async def test_no_tls_engine_outlives_its_connection(
    no_cyclic_gc: None, pki: Pki, other_ca: CA, library: str
) -> None:
    film = pki.films["film-a"]
    good = issue_rental(pki.ca, "film-a")
    stranger = issue_rental(other_ca, "film-a")
    async with trio.open_nursery() as nursery:
        tracker = await start_tracker(nursery, pki, tls_library=library)
        ctx = pki.client_context(good.cert_pem, good.key_pem)
        await announce_once(tracker.port, ctx, announce_target(film.info_hash, 1))
        get = b"GET /announce HTTP/1.1\r\nHost: t\r\n"
        for cert, key, request in [
            (stranger.cert_pem, stranger.key_pem, get + b"\r\n"),  # other CA: handshake
            (good.cert_pem, good.key_pem, b"GET /" + b"x" * 65536 + b" HTTP/1.1\r\n\r\n"),
            (good.cert_pem, good.key_pem, get + b"Content-Length: x\r\n\r\n"),  # broken
        ]:
            await _tls(tracker, pki, cert, key, request)
        await _tls(tracker, pki, good.cert_pem, good.key_pem, b"GET ", leave=True)
        garbage = await trio.open_tcp_stream("127.0.0.1", tracker.port)
        await garbage.send_all(os.urandom(4096))
        await _until_closed(garbage)
        await wait_until(lambda: tracker.metrics.connections.open == 0)
        await trio.sleep(0.05)  # the connection tasks finish after releasing their slots
        assert _engines() == 0
        tracker.shutdown()
