"""Shared fixtures of the tracker tests: a CA, rental certificates, SSL torrents."""

from __future__ import annotations

import hashlib
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import h11
import libtorrent as lt
import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import certs
import certs.authority
import support.atomic_write
from tracker.config import ProbePolicy, TrackerConfig
from tracker.server import RunningTracker, serve_tracker
from tracker.watched_files import announced_info_hashes

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Rental:
    """A rental certificate with its node key, as PEM for libtorrent."""

    cert: x509.Certificate
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class Film:
    film_id: str
    torrent_path: Path
    info_hash: bytes
    ti: lt.torrent_info


def issue_rental(
    ca: certs.authority.CA, film_id: str, *, start: timedelta = -HOUR, length: timedelta = 2 * HOUR
) -> Rental:
    """A rental for ``film_id`` whose window starts ``start`` from now."""
    key = certs.generate_node_key()
    begin = datetime.now(UTC) + start
    cert = ca.issue_rental(film_id, key.public_key(), not_before=begin, not_after=begin + length)
    return Rental(cert, cert.public_bytes(Encoding.PEM), certs.private_key_pem(key))


@pytest.fixture
def rental_for(ca: certs.authority.CA) -> Callable[..., Rental]:
    def make(film_id: str, **kw: timedelta) -> Rental:
        return issue_rental(ca, film_id, **kw)

    return make


def make_film(
    library: Path, film_id: str, ca_pem: bytes, tracker_url: str, *, size: int = 200_000
) -> Film:
    """Write a small v2-only private SSL torrent named ``film_id`` and its payload."""
    library.mkdir(parents=True, exist_ok=True)
    (library / film_id).write_bytes(os.urandom(size))
    ct = lt.create_torrent(
        [lt.create_file_entry(film_id, size)], 16384 * 4, lt.create_torrent.v2_only
    )
    ct.set_priv(True)
    ct.set_root_cert(ca_pem.decode())
    ct.add_tracker(tracker_url)
    lt.set_piece_hashes(ct, str(library))
    path = library / f"{film_id}.torrent"
    path.write_bytes(lt.bencode(ct.generate()))
    ti = lt.torrent_info(str(path))
    (info_hash,) = announced_info_hashes(ti)
    return Film(film_id, path, info_hash, ti)


@dataclass(frozen=True)
class Pki:
    """A tracker's files on disk: CA, server certificate, CRL, a library of two films."""

    ca: certs.authority.CA
    dir: Path
    ca_path: Path
    cert_path: Path
    key_path: Path
    crl_path: Path
    library: Path
    films: dict[str, Film]

    def config(self, **over: Any) -> TrackerConfig:
        """A tracker config on 127.0.0.1:0 serving this library.

        Connect-back probes are off unless ``over`` has a ``probe`` policy: most tests
        announce made-up peers whose ports nobody listens on, which a probe would
        (rightly) class unreachable and keep out of peer lists.
        """
        fields: dict[str, Any] = {
            "probe": ProbePolicy(enabled=False),
            "ca_path": self.ca_path,
            "cert_path": self.cert_path,
            "key_path": self.key_path,
            "library_dir": self.library,
            "crl_path": self.crl_path,
        }
        return TrackerConfig.from_mapping({}, **(fields | over))

    def rental_context(self, film_id: str, **window: timedelta) -> tuple[Rental, ssl.SSLContext]:
        """A new rental for ``film_id`` and a client context presenting it."""
        rental = issue_rental(self.ca, film_id, **window)
        return rental, self.client_context(rental.cert_pem, rental.key_pem)

    def revoke(self, *serials: int) -> None:
        """Rewrite the CRL (atomically, as `peernode ca revoke` does) revoking ``serials``."""
        now = datetime.now(UTC)
        crl = self.ca.sign_crl(dict.fromkeys(serials, now), now=now)
        support.atomic_write.write_atomic(self.crl_path, certs.authority.crl_pem(crl))

    def client_context(
        self, cert_pem: bytes | None, key_pem: bytes | None, *, trust: bytes | None = None
    ) -> ssl.SSLContext:
        """A TLS client context trusting the CA and presenting ``cert_pem`` (if given)."""
        ctx = ssl.create_default_context(cadata=(trust or self.ca.cert_pem).decode())
        if cert_pem is not None and key_pem is not None:
            name = hashlib.sha256(cert_pem).hexdigest()[:16]
            cert_file, key_file = self.dir / f"{name}.pem", self.dir / f"{name}.key"
            cert_file.write_bytes(cert_pem)
            support.atomic_write.write_private(key_file, key_pem)
            ctx.load_cert_chain(cert_file, key_file)
        return ctx


@pytest.fixture
def pki(tmp_path: Path, ca: certs.authority.CA) -> Pki:
    server = ca.issue_server(["127.0.0.1", "::1"])
    server.save(tmp_path, "server")
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(ca.cert_pem)
    library = tmp_path / "library"
    films = {f: make_film(library, f, ca.cert_pem, PLACEHOLDER_URL) for f in ("film-a", "film-b")}
    p = Pki(
        ca,
        tmp_path,
        ca_path,
        tmp_path / "server.pem",
        tmp_path / "server.key",
        tmp_path / "crl.pem",
        library,
        films,
    )
    p.revoke()
    return p


PLACEHOLDER_URL = "https://127.0.0.1:1/announce"


async def start_tracker(nursery: trio.Nursery, pki: Pki, **over: Any) -> RunningTracker:
    """Run a tracker for ``pki`` (config overrides in ``over``) in ``nursery``."""
    running: RunningTracker = await nursery.start(serve_tracker, pki.config(**over))
    return running  # clients replace it with the live tracker


def announce_target(info_hash: bytes, n: int, *, left: int = 1000, **extra: str | int) -> bytes:
    """An announce target for peer number ``n`` (peer id and port derived from it)."""
    q: dict[str, Any] = {
        "info_hash": info_hash,
        "peer_id": b"-TT0001-" + n.to_bytes(12, "big"),
        "port": 20000 + n,
        "uploaded": 0,
        "downloaded": 0,
        "left": left,
    }
    return b"/announce?" + urlencode(q | extra).encode()


class HttpsClient:
    """A minimal HTTP/1.1 client (h11) over one TLS connection, for raw tracker tests."""

    def __init__(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def connect(cls, port: int, ctx: ssl.SSLContext, host: str = "127.0.0.1", *,
                      local_address: str | None = None) -> HttpsClient:
        """Connect (from ``local_address``, if given: another loopback address)."""
        tcp = await trio.open_tcp_stream(host, port, local_address=local_address)
        stream = trio.SSLStream(tcp, ctx, server_hostname=host, https_compatible=True)
        await stream.do_handshake()
        return cls(stream)

    async def get(self, target: bytes, *, close: bool = False) -> tuple[int, bytes]:
        headers = [("host", "127.0.0.1")] + ([("connection", "close")] if close else [])
        data = self.conn.send(h11.Request(method="GET", target=target, headers=headers))
        await self.stream.send_all((data or b"") + (self.conn.send(h11.EndOfMessage()) or b""))
        status, body = 0, b""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(bytes(await self.stream.receive_some(65536)))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return status, body

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


async def announce_once(
    port: int, ctx: ssl.SSLContext, target: bytes, *, host: str = "127.0.0.1",
    local_address: str | None = None,
) -> dict[bytes, Any]:
    """One announce on a fresh connection (as libtorrent does), made from
    ``local_address`` if given; the decoded body."""
    client = await HttpsClient.connect(port, ctx, host, local_address=local_address)
    try:
        status, body = await client.get(target, close=True)
    finally:
        await client.aclose()
    assert status == 200
    return bdecoded(body)


def bdecoded(body: bytes) -> dict[bytes, Any]:
    """A bencoded dictionary (every tracker response is one)."""
    decoded = lt.bdecode(body)
    assert isinstance(decoded, dict)
    return cast(dict[bytes, Any], decoded)
